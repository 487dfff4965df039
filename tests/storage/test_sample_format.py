"""The shard sample format: what encode_sample writes, decode_sample and stock webdataset read back."""

import io
import json

import numpy as np
import pytest
import webdataset as wds

from storage.manifest import SegmentMeta
from storage.sample_format import (
    LOSSLESS_MEMBER,
    LOSSY_MEMBER,
    META_MEMBER,
    SampleFormatError,
    TarSink,
    decode_sample,
    encode_sample,
    npy_bytes,
    npy_view,
    quantize,
    sample_key,
    to_float32,
)


def _meta(offset=4410):
    return SegmentMeta("abc123", offset, 1, "vorbis-160", "resample", 44100, 44100, 0.1, "train", 2, "v1")


def _arrays(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (2, n)).astype(np.float32), rng.uniform(-1, 1, (2, n)).astype(np.float32)


def test_round_trip_in_memory_is_exact():
    lossless, lossy = _arrays()
    key = sample_key("abc123", 4410)
    assert key == "abc123_000004410"
    sample = encode_sample(key, lossless, lossy, _meta())
    assert set(sample) == {"__key__", LOSSLESS_MEMBER, LOSSY_MEMBER, META_MEMBER}
    assert all(isinstance(sample[m], bytes) for m in (LOSSLESS_MEMBER, LOSSY_MEMBER, META_MEMBER))
    got_key, got_lossless, got_lossy, meta = decode_sample(sample)
    assert got_key == key and meta == json.loads(json.dumps(_meta().__dict__))
    np.testing.assert_array_equal(got_lossless, lossless)
    np.testing.assert_array_equal(got_lossy, lossy)
    assert decode_sample({k: v for k, v in sample.items() if k != META_MEMBER})[3] is None


def test_members_are_plain_npy_and_json_that_stock_webdataset_decodes(tmp_path):
    lossless, lossy = _arrays(seed=1)
    with wds.TarWriter(str(tmp_path / "s.tar")) as sink:
        sink.write(encode_sample(sample_key("abc123", 0), lossless, lossy, _meta(0)))
    (raw,) = list(wds.WebDataset(str(tmp_path / "s.tar"), shardshuffle=False))
    np.testing.assert_array_equal(np.load(io.BytesIO(raw[LOSSLESS_MEMBER]), allow_pickle=False), lossless)
    (decoded,) = list(wds.WebDataset(str(tmp_path / "s.tar"), shardshuffle=False).decode())
    np.testing.assert_array_equal(decoded[LOSSY_MEMBER], lossy)
    assert decoded[META_MEMBER]["track_id"] == "abc123" and decoded[META_MEMBER]["offset_samples"] == 0
    key, a, b, meta = decode_sample(raw)
    assert key == "abc123_000000000" and meta["preset"] == "vorbis-160"
    np.testing.assert_array_equal(a, lossless)


def test_mismatched_shapes_and_dotted_keys_are_refused():
    lossless, lossy = _arrays()
    with pytest.raises(SampleFormatError, match=r"\(2, 64\) and \(2, 63\)"):
        encode_sample("k_0", lossless, lossy[:, :63], _meta())
    with pytest.raises(SampleFormatError, match="dot"):
        encode_sample("k.0", lossless, lossy, _meta())
    sample = encode_sample("k_0", lossless, lossy, _meta())
    sample[LOSSY_MEMBER] = npy_bytes(lossy[:1])  # (1, 64): a mono lossy side is not the format
    with pytest.raises(SampleFormatError, match=r"\(2, 64\) and \(1, 64\)"):
        decode_sample(sample)


@pytest.mark.parametrize("bits,dtype", [(16, np.int16), (24, np.int32)])
def test_integer_sources_round_trip_bit_for_bit(bits, dtype):
    rng = np.random.default_rng(bits)
    full_scale = 2 ** (bits - 1)
    pcm = rng.integers(-full_scale, full_scale, (2, 500))
    pcm[0, :2] = -full_scale, full_scale - 1  # both extremes
    audio = (pcm / full_scale).astype(np.float32)  # what decoding a source gives
    sample = encode_sample("k_0", audio, audio[::-1], _meta(), bits=bits)
    stored = npy_view(sample[LOSSLESS_MEMBER])
    assert stored.dtype == dtype and stored.shape == (2, 500)
    np.testing.assert_array_equal(stored >> (0 if bits == 16 else 8), pcm)
    _, lossless, lossy, _ = decode_sample(sample)
    np.testing.assert_array_equal(lossless, audio)
    np.testing.assert_array_equal(lossy, audio[::-1])
    assert len(sample[LOSSLESS_MEMBER]) == 128 + 2 * 500 * np.dtype(dtype).itemsize  # npy header + data


def test_off_grid_audio_is_rounded_and_clipped():
    audio = np.array([[0.5 + 0.3 / 32768, 1.2, -1.5], [0.0, -0.2 / 32768, 1.0]], np.float32)
    stored = quantize(audio, 16)
    np.testing.assert_array_equal(stored, [[16384, 32767, -32768], [0, 0, 32767]])
    np.testing.assert_allclose(to_float32(stored), [[0.5, 32767 / 32768, -1], [0, 0, 32767 / 32768]])


def test_tar_sink_writes_what_webdataset_tarwriter_writes(tmp_path):
    samples = [encode_sample(sample_key("abc", i), *_arrays(seed=i), _meta(i), bits=16) for i in range(3)]
    with wds.TarWriter(str(tmp_path / "wds.tar"), user="ladle", group="ladle", mtime=0) as sink:
        for s in samples:
            sink.write(dict(s))
    with open(tmp_path / "own.tar", "wb") as f, TarSink(f) as sink:
        for s in samples:
            sink.write(s)
    assert (tmp_path / "own.tar").read_bytes() == (tmp_path / "wds.tar").read_bytes()
    decoded = list(wds.WebDataset(str(tmp_path / "own.tar"), shardshuffle=False).decode())
    assert [d["__key__"] for d in decoded] == ["abc_000000000", "abc_000000001", "abc_000000002"]
    assert decoded[0][LOSSLESS_MEMBER].dtype == np.int16  # stock webdataset's npy decoder, no pickles
