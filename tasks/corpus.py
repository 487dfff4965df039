"""Prefect tasks of `build-corpus`: retries, caching and logging around the functions in `storage/`.

Tasks work on groups of tracks (see `storage.partition`) so a large library makes a bounded number
of task runs. Each cache key is made of the content keys of the group's artifacts (never a path or
an mtime alone) and is offered only while every one of those artifacts is complete on disk: a
deleted bitstream or shard is rebuilt, not served from a stale cache record. Inside a group the
library functions skip what already exists, so a group that changed redoes only its new members.
Bad audio comes back as `Quarantined`; only I/O errors raise, and those are retried with backoff.
"""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.tasks import exponential_backoff

from storage.align import Alignment, align_key, align_pair, alignment_path
from storage.config import STAGE_VERSIONS, AlignConfig, EncodePreset, SegmentConfig, stable_hash
from storage.encode import Encoded, encode_key, encode_track, find_encoded
from storage.filekey import file_key
from storage.ingest import Quarantined, Track, ingest_file, ingest_file_cached
from storage.shards import PairInputs, ShardPlan, ShardResult, find_shard, plan_record, write_shard
from storage.versions import PruneReport, prune

RETRIES = dict(retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=2), retry_jitter_factor=0.5)


def _where(data_dir: str | Path) -> str:
    return str(Path(data_dir).resolve())


def _cache_dir(data_dir: str | None) -> Path | None:
    return Path(data_dir) / "cache" if data_dir else None


def _ingest_key(context, parameters) -> str | None:
    # The bytes' hash, known from the file's stat while it is unchanged (storage/filekey.py); paths are
    # in the key because records name them.
    paths = [Path(p) for p in parameters["paths"]]
    if not all(p.is_file() for p in paths):
        return None
    cache = _cache_dir(parameters.get("data_dir"))
    keys = [(str(p), _content_key(p, cache / "file-keys" if cache else None)) for p in paths]
    return stable_hash(["ingest", STAGE_VERSIONS["ingest"], keys])


def _content_key(path: Path, cache: Path | None) -> str:
    """`file_key`, or for a file that cannot be read its stat: the task then quarantines it quietly,
    its group keeps its cache, and making the file readable changes the key."""
    try:
        return file_key(path, cache)
    except PermissionError as e:
        stat = path.stat()
        return f"unreadable:{e.errno}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_mode}"


def _encode_key(context, parameters) -> str | None:
    tracks, preset, data_dir = parameters["tracks"], parameters["preset"], parameters["data_dir"]
    if any(find_encoded(t, preset, data_dir) is None for t in tracks):
        return None
    return stable_hash([[encode_key(t, preset) for t in tracks], _where(data_dir)])


def _align_key(context, parameters) -> str | None:
    pairs, cfg, data_dir = parameters["pairs"], parameters["cfg"], parameters["data_dir"]
    if not all(alignment_path(data_dir, e).is_file() for _, e in pairs):
        return None
    return stable_hash([[align_key(e, cfg) for _, e in pairs], _where(data_dir)])


def _shard_key(context, parameters) -> str | None:
    plan, folder = parameters["plan"], parameters["folder"]
    if find_shard(plan, folder, parameters.get("stored_size")) is None:
        return None
    return stable_hash(["shard", plan_record(plan), parameters["version"], _where(folder)])


@task(name="ingest-files", cache_key_fn=_ingest_key, **RETRIES)
def ingest_files_task(paths: list[str], data_dir: str | None = None) -> list[Track | Quarantined]:
    """Probe, decode and identify a group of lossless files (each file's bytes decoded once, ever, per data folder)."""
    cache = _cache_dir(data_dir)
    return [ingest_file_cached(p, cache) if cache else ingest_file(p) for p in paths]


@task(name="encode-tracks", cache_key_fn=_encode_key, **RETRIES)
def encode_tracks_task(tracks: list[Track], preset: EncodePreset, data_dir: str) -> list[Encoded | Quarantined]:
    """Encode a group of tracks with one preset, skipping encodes that exist."""
    return [encode_track(t, preset, data_dir) for t in tracks]


@task(name="align-pairs", cache_key_fn=_align_key, **RETRIES)
def align_pairs_task(
    pairs: list[tuple[Track, Encoded]], cfg: AlignConfig, data_dir: str
) -> list[Alignment | Quarantined]:
    """Measure lag, correlation and SNR of a group of lossless/lossy pairs."""
    return [align_pair(track, encoded, cfg, data_dir) for track, encoded in pairs]


@task(name="write-shard", cache_key_fn=_shard_key, **RETRIES)
def write_shard_task(
    plan: ShardPlan,
    inputs: dict[str, PairInputs],
    cfg: SegmentConfig,
    preset: str,
    folder: str,
    version: str,
    align_cfg: AlignConfig | None = None,
    data_dir: str | None = None,
    stored_size: int | None = None,
) -> ShardResult:
    """Decode the plan's pairs once, align those not yet aligned, and write one WebDataset shard (unless stored)."""
    return write_shard(plan, inputs, cfg, preset, folder, version, align_cfg, data_dir, stored_size=stored_size)


@task(name="prune-versions")
def prune_versions_task(
    data_dir: str,
    keep: int,
    protect_runs: list[str],
    protect_versions: list[str],
    wait_for_lock_seconds: float = 0.0,
    grace_minutes: float | None = None,
) -> PruneReport:
    """Keep each preset's newest versions, the protected ones and the champion's; delete the rest and their unlisted shards."""
    # reading checkpoints imports torch: only when pruning, so building a corpus stays light
    from ladle_model.runs.champion import champion_versions
    from ladle_model.runs.resume import run_dataset_versions

    protected = set(protect_versions) | run_dataset_versions(protect_runs) | champion_versions(data_dir)
    return prune(data_dir, keep, protected, wait_for_lock_seconds, grace_minutes)
