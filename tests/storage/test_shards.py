import dataclasses
import hashlib

import numpy as np
import pytest
import webdataset as wds

from storage.align import align_pair
from storage.config import PRESETS, AlignConfig, SegmentConfig
from storage.encode import encode_track
from storage.segment import track_windows
from storage.shards import PairInputs, plan_from_record, plan_record, plan_shards, segment_bytes, write_shard
from tests.conftest import tone_pcm


def _pairs(tmp_path, tracks, preset="vorbis-160"):
    out = {}
    for t in tracks:
        encoded = encode_track(t, PRESETS[preset], tmp_path / "data")
        out[t.track_id] = PairInputs(t, encoded, align_pair(t, encoded, AlignConfig(), tmp_path / "data"))
    return out


def test_plan_covers_every_window_once_and_respects_size(make_tracks):
    tracks = [dataclasses.replace(t, split="train") for t in make_tracks([1.0, 2.5, 0.7, 3.0])]
    cfg = SegmentConfig(segment_seconds=0.25)
    plans = plan_shards(tracks, cfg, target_bytes=3 * segment_bytes(cfg))
    assert [p.name for p in plans] == [f"train-{i:06d}.tar" for i in range(len(plans))]
    covered = {}
    for plan in plans:
        assert sum(i.end_window - i.first_window for i in plan.items) <= 3
        for item in plan.items:
            covered.setdefault(item.track_id, []).extend(range(item.first_window, item.end_window))
    assert covered == {t.track_id: list(range(track_windows(t, cfg))) for t in tracks}
    assert plans == plan_shards(list(reversed(tracks)), cfg, target_bytes=3 * segment_bytes(cfg))
    assert [plan_from_record(plan_record(p)) for p in plans] == plans  # the sidecar's plan reads back as written


def test_shards_are_byte_identical_and_read_by_stock_webdataset(tmp_path, make_tracks):
    tracks = [dataclasses.replace(t, split="train") for t in make_tracks([1.2, 0.8])]
    pairs = _pairs(tmp_path, tracks)
    cfg = SegmentConfig(segment_seconds=0.2)
    (plan,) = plan_shards(tracks, cfg, target_bytes=1 << 30)
    first = write_shard(plan, pairs, cfg, "vorbis-160", tmp_path / "a", "v1")
    second = write_shard(plan, pairs, cfg, "vorbis-160", tmp_path / "b", "v1")
    bytes_a = (tmp_path / "a" / plan.name).read_bytes()
    assert bytes_a == (tmp_path / "b" / plan.name).read_bytes()
    assert first.sha256 == hashlib.sha256(bytes_a).hexdigest() == second.sha256
    assert first.n_samples == 6 + 4 and first.n_silent == 0
    assert write_shard(plan, pairs, cfg, "vorbis-160", tmp_path / "a", "v1").reused

    samples = list(wds.WebDataset(str(tmp_path / "a" / plan.name), shardshuffle=False).decode())
    assert len(samples) == 10
    for s in samples:
        assert "." not in s["__key__"]
        x, y = s["lossless.npy"], s["lossy.npy"]
        assert x.shape == y.shape == (2, 8820) and x.dtype == y.dtype == np.int16  # 16-bit sources
        assert np.corrcoef(x.ravel(), y.ravel())[0, 1] > 0.95
        assert s["json"]["preset"] == "vorbis-160" and s["json"]["offset_samples"] == int(s["__key__"].split("_")[1])


def test_a_shard_is_cut_from_what_its_decode_hook_returns(tmp_path, make_tracks):
    # bench/gpu_kit.py rebuilds shards on a machine without FFmpeg by decoding with libsndfile through this hook.
    from storage.sample_format import decode_sample, iter_tar_samples
    from storage.segment import decode_sources

    tracks = [dataclasses.replace(t, split="train") for t in make_tracks([0.6])]
    pairs = _pairs(tmp_path, tracks)
    cfg = SegmentConfig(segment_seconds=0.2)
    (plan,) = plan_shards(tracks, cfg, target_bytes=1 << 30)
    calls = []

    def halved(track, encoded):
        calls.append(track.track_id)
        lossless, lossy = decode_sources(track, encoded)
        return lossless, lossy * 0.5

    write_shard(plan, pairs, cfg, "vorbis-160", tmp_path / "plain", "v1")
    write_shard(plan, pairs, cfg, "vorbis-160", tmp_path / "hooked", "v1", decode=halved)
    assert calls == [tracks[0].track_id]  # once per track
    plain = [decode_sample(r) for r in iter_tar_samples(open(tmp_path / "plain" / plan.name, "rb"))]
    hooked = [decode_sample(r) for r in iter_tar_samples(open(tmp_path / "hooked" / plan.name, "rb"))]
    assert len(plain) == len(hooked) == 3
    for (key_a, lossless_a, lossy_a, _), (key_b, lossless_b, lossy_b, _) in zip(plain, hooked):
        assert key_a == key_b and np.array_equal(lossless_a, lossless_b)
        assert np.abs(lossy_b - 0.5 * lossy_a).max() <= 1 / 32768  # halved, then rounded to the 16-bit grid again


def test_paper_32k_strategies_keep_lossy_rate(tmp_path, make_tracks):
    tracks = [dataclasses.replace(t, split="train") for t in make_tracks([1.0])]
    pairs = _pairs(tmp_path, tracks, "paper-32k")
    for strategy in ("pad-edges", "spread-zeros"):
        cfg = SegmentConfig(strategy=strategy, segment_seconds=0.1)
        (plan,) = plan_shards(tracks, cfg, target_bytes=1 << 30)
        write_shard(plan, pairs, cfg, "paper-32k", tmp_path / strategy, "v")
        sample = next(iter(wds.WebDataset(str(tmp_path / strategy / plan.name), shardshuffle=False).decode()))
        lossy = sample["lossy.npy"]
        n_nonzero = np.count_nonzero(lossy[0])
        assert lossy.shape == (2, 4410) and abs(n_nonzero - 3200) <= 2
        assert sample["json"]["lossy_sample_rate"] == 32000
        if strategy == "pad-edges":
            assert not lossy[:, :600].any() and lossy[:, 606:3800].all()


@pytest.mark.parametrize("bits,shift", [(16, 0), (24, 8)])
def test_sources_are_stored_bit_for_bit_at_their_own_precision(tmp_path, make_tracks, bits, shift):
    """int16 shards for 16-bit sources, 24-bit in int32 for 24-bit ones: the source's samples exactly."""
    (track,) = [dataclasses.replace(t, split="train") for t in make_tracks([0.6], bits=bits)]
    pairs = _pairs(tmp_path, [track])
    cfg = SegmentConfig(segment_seconds=0.25)
    (plan,) = plan_shards([track], cfg, target_bytes=1 << 30)
    write_shard(plan, pairs, cfg, "vorbis-160", tmp_path / "ds", "v")
    pcm = tone_pcm(0.6, bits=bits, seed=0).T  # what make_tracks wrote, (2, T) at its own width
    samples = list(wds.WebDataset(str(tmp_path / "ds" / plan.name), shardshuffle=False).decode())
    assert len(samples) == 2
    for s in samples:
        stored, offset = s["lossless.npy"], s["json"]["offset_samples"]
        assert stored.dtype == (np.int16 if bits == 16 else np.int32) and s["lossy.npy"].dtype == stored.dtype
        np.testing.assert_array_equal(stored.astype(np.int64) >> shift, pcm[:, offset : offset + stored.shape[-1]])


def test_pairs_failing_the_quality_gate_while_sharding_write_no_segments(tmp_path, make_tracks):
    tracks = [dataclasses.replace(t, split="train") for t in make_tracks([0.6, 0.6])]
    unaligned = {k: dataclasses.replace(p, alignment=None) for k, p in _pairs(tmp_path, tracks).items()}
    cfg, strict = SegmentConfig(segment_seconds=0.25), AlignConfig(min_snr_db=200.0)  # no codec passes this
    (plan,) = plan_shards(tracks, cfg, target_bytes=1 << 30)
    result = write_shard(plan, unaligned, cfg, "vorbis-160", tmp_path / "ds", "v", strict, tmp_path / "data")
    assert result.n_samples == 0 and result.segments_per_track == {} and result.n_silent == 0
    for pair in unaligned.values():  # the measurement is kept for the caller to quarantine the pair
        alignment = align_pair(pair.track, pair.encoded, strict, tmp_path / "data")
        assert not alignment.passed and "SNR" in alignment.reason
