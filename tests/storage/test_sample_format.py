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
    decode_sample,
    encode_sample,
    npy_bytes,
    sample_key,
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
