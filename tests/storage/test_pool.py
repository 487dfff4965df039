"""Pooled shards: versions that share the files of what did not change, read by stock webdataset."""

import json
import os

import webdataset as wds

from storage.config import PRESETS, CorpusConfig
from storage.corpus import dataset_version, finish_dataset
from storage.manifest import find_dataset, read_manifest
from storage.pool import manifest_name, plan_pool_shards, pool_folder
from storage.shards import write_shard

PRESET = PRESETS["vorbis-160"]
# 0.25-s segments of 0.5-s tracks: an album of two tracks is ~353 KB; a shard holds at most one album.
CFG = CorpusConfig.from_dict({"segment": {"segment_seconds": 0.25}, "shard_target_mb": 0.35})


def build(data, pairs):
    """One version as build-corpus makes it: pooled shards, then the manifest."""
    plans = plan_pool_shards(pairs, PRESET, CFG)
    by_id = {p.track.track_id: p for p in pairs}
    results = [
        write_shard(plan, by_id, CFG.segment, PRESET.name, pool_folder(data, PRESET.name), plan.key) for plan in plans
    ]
    prefix = manifest_name(PRESET.name, plans[0]).rsplit("/", 1)[0] + "/"
    version = dataset_version(PRESET, CFG, pairs)
    return finish_dataset(data, version, PRESET, CFG, pairs, results, "test", shard_prefix=prefix), results


def _stats(paths):
    return {str(p): (os.stat(p).st_ino, os.stat(p).st_mtime_ns, p.read_bytes()) for p in paths}


def test_adding_an_album_writes_only_its_shard_and_leaves_the_others_untouched(tmp_path, albums):
    data = tmp_path / "data"
    first, _ = build(data, [p for a in ("album 0", "album 1", "album 2", "album 4") for p in albums[a]])
    before = _stats(first.all_shard_paths())
    assert len(before) == 4  # one shard per album: train 3, val 1

    second, results = build(data, [p for a in albums for p in albums[a]])
    assert second.version != first.version and second.changes["n_added"] == 2
    after = _stats(second.all_shard_paths())
    assert set(before) < set(after) and len(after) == 5
    assert all(after[path] == before[path] for path in before)  # same inode, same mtime, same bytes
    assert [r.reused for r in results].count(False) == 1
    (new,) = set(after) - set(before)
    members = {json.loads(s["json"])["track_id"] for s in wds.WebDataset(new, shardshuffle=False)}
    assert members == {p.track.track_id for p in albums["album 3"]}

    # Both versions still read, each through its own manifest, from the one pool.
    assert read_manifest(first.folder).all_shard_paths() == first.all_shard_paths()
    assert all(p.parent == pool_folder(data, PRESET.name).resolve() or p.is_file() for p in second.all_shard_paths())


def test_stock_webdataset_reads_a_version_through_its_manifest_and_wids_index(tmp_path, albums):
    data = tmp_path / "data"
    manifest, _ = build(data, [p for a in albums for p in albums[a]])
    for split in ("train", "val"):
        urls = [str(p) for p in manifest.shard_paths(split)]
        samples = list(wds.WebDataset(urls, shardshuffle=False).decode())
        assert len(samples) == manifest.splits[split].segments > 0
        assert {s["json"]["split"] for s in samples} == {split}
        index = json.loads((manifest.folder / f"{split}.wids.json").read_text())
        assert [e["nsamples"] for e in index["shardlist"]] == [
            sum(1 for _ in wds.WebDataset(u, shardshuffle=False)) for u in urls
        ]
        assert [os.path.normpath(manifest.folder / e["url"]) for e in index["shardlist"]] == urls
    assert find_dataset(data, preset=PRESET.name).version == manifest.version


def test_removing_an_album_drops_its_shard_and_rewrites_nothing(tmp_path, albums):
    data = tmp_path / "data"
    full, _ = build(data, [p for a in albums for p in albums[a]])
    before = _stats(full.all_shard_paths())
    smaller, results = build(data, [p for a in albums if a != "album 1" for p in albums[a]])
    assert not any(not r.reused for r in results)
    after = _stats(smaller.all_shard_paths())
    assert len(after) == 4 and all(before[path] == stat for path, stat in after.items())
    assert smaller.changes["n_removed"] == 2 and smaller.changes["removed"] == sorted(
        p.track.track_id for p in albums["album 1"]
    )
