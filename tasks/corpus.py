"""Prefect tasks of `build-corpus`: retries, caching and logging around the functions in `storage/`.

Each cache key is the content key of the stage's artifact (never a path or an mtime alone), and is
only offered while that artifact is complete on disk: a deleted bitstream or shard is rebuilt, not
served from a stale cache record. Bad audio comes back as `Quarantined`; only I/O errors raise, and
those are retried with backoff.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from prefect import task
from prefect.tasks import exponential_backoff

from storage.align import Alignment, align_key, align_pair, alignment_path
from storage.config import STAGE_VERSIONS, AlignConfig, EncodePreset, SegmentConfig, stable_hash
from storage.encode import Encoded, encode_key, encode_track, find_encoded
from storage.ingest import Quarantined, Track, ingest_file
from storage.shards import PairInputs, ShardPlan, ShardResult, plan_record, find_shard, write_shard

RETRIES = dict(retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=2), retry_jitter_factor=0.5)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _ingest_key(context, parameters) -> str | None:
    # Hashing bytes is several times cheaper than decoding; the path is in the key because the record names it.
    path = Path(parameters["path"])
    if not path.is_file():
        return None
    return stable_hash(["ingest", STAGE_VERSIONS["ingest"], str(path), _file_sha256(path)])


def _encode_key(context, parameters) -> str | None:
    track, preset, data_dir = parameters["track"], parameters["preset"], parameters["data_dir"]
    if find_encoded(track, preset, data_dir) is None:
        return None
    return stable_hash([encode_key(track, preset), str(Path(data_dir).resolve())])


def _align_key(context, parameters) -> str | None:
    encoded, cfg, data_dir = parameters["encoded"], parameters["cfg"], parameters["data_dir"]
    if not alignment_path(data_dir, encoded).is_file():
        return None
    return stable_hash([align_key(encoded, cfg), str(Path(data_dir).resolve())])


def _shard_key(context, parameters) -> str | None:
    plan, folder = parameters["plan"], parameters["folder"]
    if find_shard(plan, folder) is None:
        return None
    return stable_hash(["shard", plan_record(plan), parameters["version"], str(Path(folder).resolve())])


@task(name="ingest-file", cache_key_fn=_ingest_key, **RETRIES)
def ingest_file_task(path: str) -> Track | Quarantined:
    """Probe, decode and identify one lossless file."""
    return ingest_file(path)


@task(name="encode-track", cache_key_fn=_encode_key, **RETRIES)
def encode_track_task(track: Track, preset: EncodePreset, data_dir: str) -> Encoded | Quarantined:
    """Encode one track with one preset, unless that exact encode exists."""
    return encode_track(track, preset, data_dir)


@task(name="align-pair", cache_key_fn=_align_key, **RETRIES)
def align_pair_task(track: Track, encoded: Encoded, cfg: AlignConfig, data_dir: str) -> Alignment:
    """Measure lag, correlation and SNR of one lossless/lossy pair."""
    return align_pair(track, encoded, cfg, data_dir)


@task(name="write-shard", cache_key_fn=_shard_key, **RETRIES)
def write_shard_task(
    plan: ShardPlan, inputs: dict[str, PairInputs], cfg: SegmentConfig, preset: str, folder: str, version: str
) -> ShardResult:
    """Segment the plan's tracks and write one WebDataset shard."""
    return write_shard(plan, inputs, cfg, preset, folder, version)
