"""Dataset versions: naming a shard set by its content, and recording it in the manifest and catalog.

    version = dataset_version(preset, cfg, pairs)
    folder = dataset_folder("data", version)
    finish_dataset("data", version, preset, cfg, pairs, shard_results, code_version(), shard_prefix=prefix)

A dataset version is a hash of its tracks (ids, splits, encode keys), the preset, the segmentation
and alignment config and the shard stage version: the same inputs and config name the same folder.
Finishing a version writes, in this order, its track listing, `wids` shard indexes and card, then
the manifest (the commit marker), then its catalog rows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from storage import catalog, fs
from storage.atomic import write_json_atomic
from storage.card import read_tracks, track_listing, version_changes, write_card, write_tracks
from storage.config import STAGE_VERSIONS, CorpusConfig, EncodePreset, stable_hash
from storage.manifest import (
    MANIFEST_NAME,
    SPLITS,
    DatasetManifest,
    SplitSummary,
    created_key,
    list_datasets,
    read_manifest,
    write_manifest,
)
from storage.pool import POOL_GLOB
from storage.shards import PairInputs, ShardResult


@dataclass(frozen=True)
class DatasetRecord:
    version: str
    preset: str
    strategy: str
    segment_seconds: float
    hop_seconds: float
    sample_rate: int
    lossy_sample_rate: int
    n_tracks: int
    n_segments: int
    path: str
    config: dict
    created_at: str = ""
    changes: dict = dataclasses.field(default_factory=dict)  # the manifest's `changes` block


@dataclass(frozen=True)
class ShardRecord:
    dataset_version: str
    split: str
    name: str
    n_samples: int
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class SegmentCount:
    dataset_version: str
    track_id: str
    split: str
    n_segments: int


def dataset_version(preset: EncodePreset, cfg: CorpusConfig, pairs: list[PairInputs]) -> str:
    tracks = sorted((p.track.track_id, p.track.split, p.encoded.encode_key) for p in pairs)
    return stable_hash(
        [
            "dataset",
            STAGE_VERSIONS["shard"],
            dataclasses.asdict(preset),
            dataclasses.asdict(cfg.segment),
            dataclasses.asdict(cfg.align),
            cfg.shard_target_mb,
            tracks,
        ]
    )


# Every shard of every dataset version, relative to the data folder: the files a local mirror of an
# s3:// data folder leaves in the bucket (training and evaluation read them from there).
SHARD_GLOB = "datasets/*/*.tar"  # versions built before the pool
SHARD_GLOBS = (SHARD_GLOB, POOL_GLOB)
WIDS_KIND = "wids-shard-index-v1"


def dataset_folder(data_dir: str | Path, version: str) -> Path:
    return Path(data_dir) / "datasets" / version


def existing_manifest(data_dir: str | Path, version: str) -> DatasetManifest | None:
    """The manifest of a version an earlier run finished (written last, so its shards are complete)."""
    folder = dataset_folder(data_dir, version)
    return read_manifest(folder) if (folder / MANIFEST_NAME).is_file() else None


def previous_version(data_dir: str | Path, preset: str, version: str) -> DatasetManifest | None:
    """The preset's newest version other than `version`: what a new version's changes are counted against."""
    others = [m for m in list_datasets(data_dir) if m.preset == preset and m.version != version]
    return max(others, key=created_key, default=None)


def write_shard_index(folder: str | Path, version: str, split: str, names: list[str], results: list) -> Path:
    """webdataset's `wids` index of one split: each shard's URL (relative to this file), samples, size, SHA-256."""
    by_name = {r.name: r for r in results}
    shardlist = []
    for name in names:
        r = by_name[name.rsplit("/", 1)[-1]]
        shardlist.append({"url": name, "nsamples": r.n_samples, "filesize": r.size_bytes, "sha256": r.sha256})
    path = Path(folder) / f"{split}.wids.json"
    write_json_atomic(
        path, {"__kind__": WIDS_KIND, "wids_version": 1, "name": f"{version}/{split}", "shardlist": shardlist}
    )
    return path


def finish_dataset(
    data_dir: str | Path,
    version: str,
    preset: EncodePreset,
    cfg: CorpusConfig,
    pairs: list[PairInputs],
    results: list[ShardResult],
    code_version: str,
    location: str | None = None,
    shard_prefix: str = "",
    quarantined: list | None = None,
    sources: list[str] | None = None,
) -> DatasetManifest:
    """Write the version's listing, indexes and card, then the manifest (its commit marker), then catalog rows.

    `location` is where `data_dir` is published (a URL when it mirrors object storage): the path recorded.
    `shard_prefix` is where the results' shards lie relative to the version's folder (the pool's
    `../../shards/{preset}/`; empty for shards inside the folder). `quarantined` and `sources` go on the card.
    """
    seg = cfg.segment
    per_track: dict[str, int] = {}
    for r in results:
        for track_id, n in r.segments_per_track.items():
            per_track[track_id] = per_track.get(track_id, 0) + n
    splits = {}
    for split in SPLITS:
        split_tracks = [p.track.track_id for p in pairs if p.track.split == split]
        split_results = sorted((r for r in results if r.split == split), key=lambda r: r.name)
        splits[split] = SplitSummary(
            tracks=len(split_tracks),
            segments=sum(r.n_samples for r in split_results),
            shards=[shard_prefix + r.name for r in split_results],
            silent_skipped=sum(r.n_silent for r in split_results),
        )
    folder = dataset_folder(data_dir, version)
    tracks = track_listing(pairs)
    previous = previous_version(data_dir, preset.name, version)
    changes = version_changes(previous, read_tracks(previous), tracks)
    lossy_rate = preset.sample_rate  # the codec's rate, whatever rate the lossy arrays are stored at
    manifest = DatasetManifest(
        version=version,
        preset=preset.name,
        strategy=seg.strategy,
        segment_seconds=seg.segment_seconds,
        hop_seconds=seg.hop_seconds or seg.segment_seconds,
        sample_rate=seg.sample_rate,
        lossy_sample_rate=lossy_rate,
        splits=splits,
        config={**cfg.to_dict(), "presets": [preset.name], "preset": dataclasses.asdict(preset)},
        code_version=code_version,
        created_at=datetime.now(timezone.utc).isoformat(),
        changes=changes,
    )
    write_tracks(folder, tracks)
    for split, summary in splits.items():
        write_shard_index(folder, version, split, summary.shards, results)
    write_card(folder, manifest, tracks, quarantined or [], sources or [])
    write_manifest(folder, manifest)
    catalog.upsert_records(
        data_dir,
        "datasets",
        [
            DatasetRecord(
                version,
                preset.name,
                seg.strategy,
                seg.segment_seconds,
                manifest.hop_seconds,
                seg.sample_rate,
                lossy_rate,
                len(pairs),
                sum(s.segments for s in splits.values()),
                fs.join(location or data_dir, "datasets", version),
                manifest.config,
                manifest.created_at,
                manifest.changes,
            )
        ],
        DatasetRecord,
        key=("version",),
    )
    catalog.upsert_records(
        data_dir,
        "shards",
        [ShardRecord(version, r.split, shard_prefix + r.name, r.n_samples, r.size_bytes, r.sha256) for r in results],
        ShardRecord,
        key=("dataset_version", "name"),
    )
    catalog.upsert_records(
        data_dir,
        "segments",
        [SegmentCount(version, p.track.track_id, p.track.split, per_track.get(p.track.track_id, 0)) for p in pairs],
        SegmentCount,
        key=("dataset_version", "track_id"),
    )
    return read_manifest(folder)
