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
from storage.fs import file_sha256
from storage.encode import Encoded, encode_key, encode_track, find_encoded
from storage.ingest import Quarantined, Track, ingest_file
from storage.shards import PairInputs, ShardPlan, ShardResult, find_shard, plan_record, write_shard

RETRIES = dict(retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=2), retry_jitter_factor=0.5)


def _where(data_dir: str | Path) -> str:
    return str(Path(data_dir).resolve())


def _ingest_key(context, parameters) -> str | None:
    # Hashing bytes is several times cheaper than decoding; paths are in the key because records name them.
    paths = [Path(p) for p in parameters["paths"]]
    if not all(p.is_file() for p in paths):
        return None
    return stable_hash(["ingest", STAGE_VERSIONS["ingest"], [(str(p), file_sha256(p)) for p in paths]])


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
    if find_shard(plan, folder) is None:
        return None
    return stable_hash(["shard", plan_record(plan), parameters["version"], _where(folder)])


@task(name="ingest-files", cache_key_fn=_ingest_key, **RETRIES)
def ingest_files_task(paths: list[str]) -> list[Track | Quarantined]:
    """Probe, decode and identify a group of lossless files."""
    return [ingest_file(p) for p in paths]


@task(name="encode-tracks", cache_key_fn=_encode_key, **RETRIES)
def encode_tracks_task(tracks: list[Track], preset: EncodePreset, data_dir: str) -> list[Encoded | Quarantined]:
    """Encode a group of tracks with one preset, skipping encodes that exist."""
    return [encode_track(t, preset, data_dir) for t in tracks]


@task(name="align-pairs", cache_key_fn=_align_key, **RETRIES)
def align_pairs_task(pairs: list[tuple[Track, Encoded]], cfg: AlignConfig, data_dir: str) -> list[Alignment | Quarantined]:
    """Measure lag, correlation and SNR of a group of lossless/lossy pairs."""
    return [align_pair(track, encoded, cfg, data_dir) for track, encoded in pairs]


@task(name="write-shard", cache_key_fn=_shard_key, **RETRIES)
def write_shard_task(
    plan: ShardPlan, inputs: dict[str, PairInputs], cfg: SegmentConfig, preset: str, folder: str, version: str
) -> ShardResult:
    """Segment the plan's tracks and write one WebDataset shard."""
    return write_shard(plan, inputs, cfg, preset, folder, version)
