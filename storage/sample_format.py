"""The shard sample format: the one writer and the one reader of a (lossless, lossy, meta) sample.

    sink.write(encode_sample(key, lossless, lossy, meta))          # sink: a webdataset TarWriter
    key, lossless, lossy, meta = decode_sample(raw_sample)         # raw: bytes per member, as tars hold them

A sample's key is `{track_id}_{offset_samples:09d}` (`sample_key`; no dots, because WebDataset cuts
member names at the first dot) and it has three members:

    {key}.lossless.npy   float32 (2, L), the lossless segment in [-1, 1]
    {key}.lossy.npy      float32 (2, L), the aligned lossy segment laid out by its strategy
    {key}.json           SegmentMeta as a dict (storage/manifest.py)

The arrays are NumPy's .npy format (no pickles), so stock webdataset reads them with its default
decoder (`wds.WebDataset(url).decode()`). The shard writer, the training loader, the test fixtures
and the benchmarks all go through this module, so the bytes they write and read cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np

LOSSLESS_MEMBER = "lossless.npy"
LOSSY_MEMBER = "lossy.npy"
META_MEMBER = "json"
MEMBERS = (LOSSLESS_MEMBER, LOSSY_MEMBER, META_MEMBER)


class SampleFormatError(ValueError):
    """A shard sample that does not hold two (2, L) arrays of one shape."""


def sample_key(track_id: str, offset_samples: int) -> str:
    return f"{track_id}_{offset_samples:09d}"


def npy_bytes(array: np.ndarray) -> bytes:
    """The .npy bytes of `array`, without pickles (what webdataset's own npy encoder writes)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(array), allow_pickle=False)
    return buf.getvalue()


def encode_sample(key: str, lossless: np.ndarray, lossy: np.ndarray, meta: object) -> dict[str, object]:
    """What `wds.TarWriter.write` gets for one sample: the key and every member as bytes.

    `lossless` and `lossy` are (2, L) float32 arrays; `meta` is a SegmentMeta (or its dict).
    """
    if "." in key:
        raise SampleFormatError(f"sample key {key!r} has a dot: WebDataset would cut the member names there")
    _check_pair(key, lossless, lossy)
    record = dataclasses.asdict(meta) if dataclasses.is_dataclass(meta) else dict(meta)
    return {
        "__key__": key,
        LOSSLESS_MEMBER: npy_bytes(np.ascontiguousarray(lossless, np.float32)),
        LOSSY_MEMBER: npy_bytes(np.ascontiguousarray(lossy, np.float32)),
        META_MEMBER: json.dumps(record).encode("utf-8"),
    }


def decode_sample(sample: dict, with_meta: bool = True) -> tuple[str, np.ndarray, np.ndarray, dict | None]:
    """(key, lossless, lossy, meta) from a raw shard sample; arrays (2, L) float32, meta None when absent."""
    key = sample["__key__"]
    lossless = np.load(io.BytesIO(sample[LOSSLESS_MEMBER]), allow_pickle=False)
    lossy = np.load(io.BytesIO(sample[LOSSY_MEMBER]), allow_pickle=False)
    _check_pair(key, lossless, lossy)
    raw_meta = sample.get(META_MEMBER) if with_meta else None
    meta = json.loads(raw_meta) if raw_meta is not None else None
    return key, lossless.astype(np.float32, copy=False), lossy.astype(np.float32, copy=False), meta


def _check_pair(key: str, lossless: np.ndarray, lossy: np.ndarray) -> None:
    if lossless.ndim != 2 or lossless.shape[0] != 2 or lossless.shape != lossy.shape:
        raise SampleFormatError(
            f"sample {key}: expected two (2, L) arrays of one shape, got {lossless.shape} and {lossy.shape}"
        )
