"""Shard loading: shapes and crops, every segment once per epoch, seeded order, resumable skips, rank splits."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import webdataset as wds

from ladle_model.data.loader import crop_offset, iterate_epoch, make_loader, seconds_to_samples
from storage.manifest import find_dataset
from tests.conftest import TINY_SAMPLE_RATE, TINY_SEGMENT_SECONDS

L = round(TINY_SAMPLE_RATE * TINY_SEGMENT_SECONDS)  # 2000 samples per stored segment
CROP = 800


def read_raw(paths) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """key -> (lossless, lossy) straight from the tar files, in file order."""
    out = {}
    for sample in wds.DataPipeline(wds.SimpleShardList([str(p) for p in paths]), wds.tarfile_to_samples()):
        out[sample["__key__"]] = (np.load(io.BytesIO(sample["lossless.npy"])), np.load(io.BytesIO(sample["lossy.npy"])))
    return out


def examples(batches) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(a.numpy(), b.numpy()) for lossless, lossy in batches for a, b in zip(lossless, lossy)]


@pytest.fixture(scope="module")
def manifest(tiny_data_dir):
    return find_dataset(tiny_data_dir, version="tiny-v1")


def test_train_batches_have_shape_and_crop(manifest):
    batches = list(
        make_loader(manifest.shard_paths("train"), batch_size=4, train=True, seed=0, epoch=0, crop_samples=CROP)
    )
    assert [tuple(b[0].shape) for b in batches] == [(4, 2, CROP)] * 3  # 12 segments, batch 4
    assert all(b[0].dtype == torch.float32 and b[1].shape == b[0].shape for b in batches)


def test_each_crop_is_a_window_of_one_segment_in_both_signals(manifest):
    raw = read_raw(manifest.shard_paths("train"))
    got = examples(
        make_loader(manifest.shard_paths("train"), batch_size=4, train=True, seed=3, epoch=1, crop_samples=CROP)
    )
    assert len(got) == len(raw) == 12
    matched = set()
    for lossless, lossy in got:
        for key, (full_lossless, full_lossy) in raw.items():
            start = crop_offset(key, L, CROP, seed=3, epoch=1)
            if np.array_equal(full_lossless[:, start : start + CROP], lossless):
                np.testing.assert_array_equal(full_lossy[:, start : start + CROP], lossy)  # same window of the pair
                matched.add(key)
    assert matched == set(raw)  # every segment exactly once per epoch, at its drawn offset
    assert len({crop_offset(k, L, CROP, 3, 1) for k in raw}) > 3  # offsets really vary


def test_whole_segments_without_crop(manifest):
    raw = read_raw(manifest.shard_paths("train"))
    got = examples(make_loader(manifest.shard_paths("train"), batch_size=5, train=True, seed=0, epoch=0))
    assert [x[0].shape for x in got] == [(2, L)] * 12
    assert sorted(float(x[0].sum()) for x in got) == pytest.approx(sorted(float(v[0].sum()) for v in raw.values()))


def test_same_seed_and_epoch_same_batches_other_epoch_other_order(manifest):
    def run(seed, epoch):
        return examples(make_loader(manifest.shard_paths("train"), 4, True, seed=seed, epoch=epoch, crop_samples=CROP))

    first, again, next_epoch = run(0, 0), run(0, 0), run(0, 1)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, again))
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, next_epoch))


def test_skipping_batches_resumes_the_same_epoch(manifest):
    kw = dict(batch_size=4, seed=1, epoch=2, crop_samples=CROP)
    full = examples(iterate_epoch(manifest.shard_paths("train"), **kw))
    rest = examples(iterate_epoch(manifest.shard_paths("train"), skip_batches=2, **kw))
    assert len(rest) == 4 and all(np.array_equal(a[0], b[0]) for a, b in zip(full[8:], rest))


def test_fixed_batch_count_reads_the_shards_again(manifest):
    batches = list(iterate_epoch(manifest.shard_paths("train"), 4, seed=0, epoch=0, crop_samples=CROP, n_batches=7))
    assert len(batches) == 7  # 3 per pass over 12 segments: a second and third pass fill up to 7


def test_val_loader_is_file_order_and_tiles_every_segment(manifest):
    raw = list(read_raw(manifest.shard_paths("val")).values())
    got = examples(make_loader(manifest.shard_paths("val"), batch_size=3, train=False, crop_samples=CROP))
    assert len(got) == len(raw) * (L // CROP)  # 2 non-overlapping crops of 800 in each 2000-sample segment
    expected = [(x[:, s : s + CROP], y[:, s : s + CROP]) for x, y in raw for s in (0, CROP)]
    for (a, b), (x, y) in zip(got, expected):
        np.testing.assert_array_equal(a, x)
        np.testing.assert_array_equal(b, y)


def test_ranks_read_disjoint_shards(manifest, monkeypatch):
    keys_by_rank = []
    for rank in range(2):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        got = examples(make_loader(manifest.shard_paths("train"), 4, True, seed=0, epoch=0))
        keys_by_rank.append({float(x[0].sum()) for x in got})
    assert len(keys_by_rank[0]) == len(keys_by_rank[1]) == 6  # one 6-segment shard each
    assert not keys_by_rank[0] & keys_by_rank[1]


def test_two_workers_read_every_segment_once(manifest):
    got = examples(make_loader(manifest.shard_paths("train"), 4, True, seed=0, epoch=0, num_workers=2))
    raw = read_raw(manifest.shard_paths("train"))
    assert sorted(float(x[0].sum()) for x in got) == pytest.approx(sorted(float(v[0].sum()) for v in raw.values()))
    again = examples(make_loader(manifest.shard_paths("train"), 4, True, seed=0, epoch=0, num_workers=2))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(got, again))  # the worker interleave is deterministic too


def test_seconds_to_samples():
    assert seconds_to_samples(None, 8000, L) is None
    assert seconds_to_samples(0.1, 8000, L) == 800
    assert seconds_to_samples(0.25, 8000, L) is None  # the whole segment: no crop
    with pytest.raises(ValueError, match="longer than"):
        seconds_to_samples(0.5, 8000, L)


def test_crop_offsets_are_uniform_over_valid_starts():
    offsets = [crop_offset(f"t_{i:09d}", L, CROP, seed=0, epoch=0) for i in range(2000)]
    assert min(offsets) >= 0 and max(offsets) <= L - CROP
    assert abs(np.mean(offsets) - (L - CROP) / 2) < 30
    assert crop_offset("t_000000000", L, CROP, seed=1, epoch=0) != crop_offset(
        "t_000000000", L, CROP, seed=0, epoch=0
    ) or crop_offset("t_000000000", L, CROP, seed=0, epoch=1) != crop_offset("t_000000000", L, CROP, seed=0, epoch=0)
