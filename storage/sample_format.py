"""The shard sample format: the one writer and the one reader of a (lossless, lossy, meta) sample.

    with TarSink(open("train-000000.tar", "wb")) as sink:
        sink.write(encode_sample(key, lossless, lossy, meta, bits=16))
    for raw in iter_tar_samples(open("train-000000.tar", "rb")):
        key, lossless, lossy, meta = decode_sample(raw)             # float32 (2, L) each, meta a dict

A sample's key is `{track_id}_{offset_samples:09d}` (`sample_key`; no dots, because WebDataset cuts
member names at the first dot) and it has three members:

    {key}.lossless.npy   (2, L) the lossless segment
    {key}.lossy.npy      (2, L) the aligned lossy segment laid out by its strategy, same dtype
    {key}.json           SegmentMeta as a dict (storage/manifest.py)

The arrays are stored at the source's precision (`bits`): int16 for 16-bit sources, int32 holding
24-bit samples left-justified (sample << 8) for 24-bit sources, or float32 (`bits=None`, what shards
built before held, and what test fixtures write). The value of a sample is always the integer over
2^15 (int16) or 2^31 (int32), so `to_float32` reads any of them; with stock webdataset:

    for s in wds.WebDataset(url).decode():       # the npy members come back as arrays (no pickles)
        x = to_float32(s["lossless.npy"])        # or: a / 32768 for int16, a / 2**31 for int32

A 16-bit source at the dataset's rate round-trips bit for bit (int16 -> float32 -> int16); resampled
audio and decoded lossy audio are rounded to the grid (an error below 2^-16, far under any codec's).
The tar container is this module's too: `TarSink` writes it as webdataset's TarWriter would, and
`iter_tar_samples` reads it back, both without importing webdataset (which imports torch).
"""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
from collections.abc import Iterator

import numpy as np

LOSSLESS_MEMBER = "lossless.npy"
LOSSY_MEMBER = "lossy.npy"
META_MEMBER = "json"
STORAGE_DTYPES = {16: np.dtype("<i2"), 24: np.dtype("<i4"), None: np.dtype("<f4")}
_SCALES = {np.dtype("<i2"): 2.0**15, np.dtype("<i4"): 2.0**31, np.dtype("<f4"): 1.0}


class SampleFormatError(ValueError):
    """A shard sample that does not hold two (2, L) arrays of one shape and one known dtype."""


def storage_bytes(bits: int | None) -> int:
    """Bytes per stored sample value for sources of `bits` (16 -> int16, 24 -> int32, None -> float32)."""
    return STORAGE_DTYPES[bits].itemsize


def sample_key(track_id: str, offset_samples: int) -> str:
    return f"{track_id}_{offset_samples:09d}"


def npy_bytes(array: np.ndarray) -> bytes:
    """The .npy bytes of `array`, without pickles (what webdataset's own npy encoder writes)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(array), allow_pickle=False)
    return buf.getvalue()


def quantize(audio: np.ndarray, bits: int | None) -> np.ndarray:
    """float audio in [-1, 1] -> the storage dtype for `bits` (16, 24 or None for float32), rounded and clipped."""
    if bits is None:
        return np.ascontiguousarray(audio, np.float32)
    if bits == 16:
        return np.clip(np.rint(audio * 2.0**15), -(2**15), 2**15 - 1).astype("<i2")
    if bits == 24:  # 24-bit grid, left-justified in int32 so that every int32 sample is value / 2^31
        return np.clip(np.rint(audio * 2.0**23), -(2**23), 2**23 - 1).astype("<i4") << 8
    raise SampleFormatError(f"bits must be 16, 24 or None (float32), got {bits!r}")


def to_float32(stored: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """A stored array (int16, int32 or float32) as float32 in [-1, 1]; into `out` when given (no temporary)."""
    scale = _SCALES.get(stored.dtype)
    if scale is None:
        raise SampleFormatError(f"unknown sample dtype {stored.dtype}; expected one of {sorted(map(str, _SCALES))}")
    if out is None:
        out = np.empty(stored.shape, np.float32)
    np.multiply(stored, np.float32(1.0 / scale), out=out, casting="unsafe")
    return out


def encode_sample(
    key: str, lossless: np.ndarray, lossy: np.ndarray, meta: object, bits: int | None = None
) -> dict[str, object]:
    """What `wds.TarWriter.write` gets for one sample: the key and every member as bytes.

    `lossless` and `lossy` are (2, L) float arrays in [-1, 1], stored at `bits` (see the module
    docstring); `meta` is a SegmentMeta (or its dict).
    """
    if "." in key:
        raise SampleFormatError(f"sample key {key!r} has a dot: WebDataset would cut the member names there")
    _check_pair(key, lossless, lossy)
    record = dataclasses.asdict(meta) if dataclasses.is_dataclass(meta) else dict(meta)
    return {
        "__key__": key,
        LOSSLESS_MEMBER: npy_bytes(quantize(lossless, bits)),
        LOSSY_MEMBER: npy_bytes(quantize(lossy, bits)),
        META_MEMBER: json.dumps(record).encode("utf-8"),
    }


_NPY_HEADERS: dict[bytes, tuple[np.dtype, tuple[int, ...], bool, int]] = {}


def npy_view(data: bytes) -> np.ndarray:
    """The array in .npy bytes as a read-only view of them (no copy; never unpickles).

    A shard's headers repeat (one shape, one dtype), so each distinct header is parsed once: NumPy
    parses it with `ast`, which cost the loader more than converting the samples did.
    """
    major = data[6] if len(data) > 6 else 0
    header_end = (
        (10 + int.from_bytes(data[8:10], "little")) if major == 1 else (12 + int.from_bytes(data[8:12], "little"))
    )
    header = bytes(data[:header_end])
    parsed = _NPY_HEADERS.get(header)
    if parsed is None:
        stream = io.BytesIO(header)
        version = np.lib.format.read_magic(stream)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read(stream)
        if dtype.hasobject:
            raise SampleFormatError("object arrays (pickles) are not a shard format")
        parsed = _NPY_HEADERS[header] = (dtype, shape, fortran_order, header_end)
    dtype, shape, fortran_order, offset = parsed
    array = np.frombuffer(data, dtype=dtype, count=int(np.prod(shape)), offset=offset)
    return array.reshape(shape, order="F" if fortran_order else "C")


def read_sample(sample: dict) -> tuple[str, np.ndarray, np.ndarray]:
    """(key, lossless, lossy) as stored (int16, int32 or float32 views of the raw bytes), checked."""
    key = sample["__key__"]
    lossless, lossy = npy_view(sample[LOSSLESS_MEMBER]), npy_view(sample[LOSSY_MEMBER])
    _check_pair(key, lossless, lossy)
    if lossless.dtype != lossy.dtype or lossless.dtype not in _SCALES:
        raise SampleFormatError(
            f"sample {key}: dtypes {lossless.dtype} and {lossy.dtype}; expected one of int16, int32, float32"
        )
    return key, lossless, lossy


def decode_sample(sample: dict, with_meta: bool = True) -> tuple[str, np.ndarray, np.ndarray, dict | None]:
    """(key, lossless, lossy, meta) from a raw shard sample; arrays (2, L) float32, meta None when absent."""
    key, lossless, lossy = read_sample(sample)
    raw_meta = sample.get(META_MEMBER) if with_meta else None
    meta = json.loads(raw_meta) if raw_meta is not None else None
    return key, to_float32(lossless), to_float32(lossy), meta


def _check_pair(key: str, lossless: np.ndarray, lossy: np.ndarray) -> None:
    if lossless.ndim != 2 or lossless.shape[0] != 2 or lossless.shape != lossy.shape:
        raise SampleFormatError(
            f"sample {key}: expected two (2, L) arrays of one shape, got {lossless.shape} and {lossy.shape}"
        )


_MEMBER_WRITE_BYTES = 16 << 20  # a member up to this size goes to the file in one write


class _Tell:
    """A write-only file that counts what it passes on: tarfile's "w" mode asks where it is, once."""

    def __init__(self, sink) -> None:
        self.sink, self.position = sink, 0

    def write(self, data) -> int:
        self.position += len(data)
        return self.sink.write(data)

    def tell(self) -> int:
        return self.position


class TarSink:
    """Samples into an uncompressed tar stream, byte for byte as webdataset's TarWriter writes them.

    Members in sorted order, named `{key}.{member}`, mode 0444, owner `user`/`group`, a fixed mtime,
    Python's default (PAX) tar format. Written here rather than through webdataset because importing
    webdataset imports torch (seconds per worker process), and building a corpus never needs torch.
    """

    def __init__(self, fileobj, user: str = "ladle", group: str = "ladle", mtime: int = 0, mode: int = 0o444) -> None:
        # Plain "w" mode writes each member in one call, the bytes "w|" (TarWriter's stream mode) writes:
        # the stream mode's buffer is a bytes object that every member is appended to and cut from.
        self._tar = tarfile.TarFile(fileobj=_Tell(fileobj), mode="w", copybufsize=_MEMBER_WRITE_BYTES)
        self.user, self.group, self.mtime, self.mode = user, group, mtime, mode

    def write(self, sample: dict) -> None:
        key = sample["__key__"]
        for member in sorted(k for k in sample if not k.startswith("_")):
            data = sample[member]
            info = tarfile.TarInfo(f"{key}.{member}")
            info.size, info.mtime, info.mode, info.uname, info.gname = (
                len(data),
                self.mtime,
                self.mode,
                self.user,
                self.group,
            )
            self._tar.addfile(info, io.BytesIO(data))

    def close(self) -> None:
        self._tar.close()

    def __enter__(self) -> TarSink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read_exact(stream, n: int) -> bytes:
    data = stream.read(n)
    while len(data) < n:
        more = stream.read(n - len(data))
        if not more:
            break
        data += more
    return data


def iter_tar_samples(stream, url: str = "") -> Iterator[dict]:
    """The samples of a shard read as a stream: {"__key__": key, member: bytes, ...} in file order.

    A minimal reader of the tars `TarSink` writes (ustar headers, PAX names when long), about as
    fast as reading the bytes: Python's tarfile spends more time on each 512-byte header than on
    the data. Members group into a sample by key, as webdataset groups them (key = path up to the
    first dot of the file name). A bad header checksum or a truncated member raises TarFormatError.
    """
    sample: dict | None = None
    long_name = None
    while True:
        header = _read_exact(stream, 512)
        if len(header) < 512 or header == _ZERO_BLOCK:
            break
        stored_sum = int(header[148:156].split(b"\0", 1)[0].strip() or b"0", 8)
        if stored_sum != sum(header[:148]) + 256 + sum(header[156:]):
            raise TarFormatError(f"{url}: bad tar header checksum")
        if header[124] & 0x80:
            raise TarFormatError(f"{url}: base-256 member sizes are not a shard format")
        size = int(header[124:136].split(b"\0", 1)[0].strip() or b"0", 8)
        data = _read_exact(stream, size)
        if len(data) < size:
            raise TarFormatError(f"{url}: truncated member")
        if size % 512:
            _read_exact(stream, 512 - size % 512)
        kind = header[156:157]
        if kind in (b"x", b"g"):  # PAX extended header: a long path, for the next member
            for record in data.decode("utf-8").splitlines():
                _, _, field = record.partition(" ")
                if field.startswith("path="):
                    long_name = field[5:]
            continue
        if kind not in (b"0", b"\0"):
            continue  # directories, links: not members of a sample
        name = long_name or _ustar_name(header)
        long_name = None
        folder, _, base = name.rpartition("/")
        stem, dot, member = base.partition(".")
        if not dot:
            continue
        key = f"{folder}/{stem}" if folder else stem
        if sample is None or sample["__key__"] != key:
            if sample is not None:
                yield sample
            sample = {"__key__": key, "__url__": url}
        sample[member] = data
    if sample is not None:
        yield sample


_ZERO_BLOCK = bytes(512)


class TarFormatError(ValueError):
    """A shard that is not a readable uncompressed tar."""


def _ustar_name(header: bytes) -> str:
    name = header[:100].split(b"\0", 1)[0].decode("utf-8")
    if header[257:262] == b"ustar":
        prefix = header[345:500].split(b"\0", 1)[0].decode("utf-8")
        if prefix:
            name = f"{prefix}/{name}"
    return name
