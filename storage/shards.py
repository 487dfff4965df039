"""Shard: write segments as WebDataset tar shards, byte-identical for the same inputs and config.

    plans = plan_shards(tracks, seg_cfg, target_bytes=256 << 20)
    result = write_shard(plans[0], inputs, seg_cfg, preset="vorbis-160", folder=dataset_dir, version=v)

Shards are planned before any audio is decoded, from each track's frame count and sample width: a shard holds a run
of whole tracks (sorted by id) or a window range of one long track. Plans depend only on the tracks
and the config, so any runner, in any order, on any number of workers writes the same bytes.
Each sample is written by storage/sample_format.py, which owns the members and their encoding.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from storage import ffmpeg as ff
from storage.align import Alignment, find_alignment, measure_alignment, save_alignment
from storage.atomic import atomic_path, write_json_atomic
from storage.audio import AudioError
from storage.config import AlignConfig, SegmentConfig
from storage.encode import Encoded
from storage.ingest import Track
from storage.manifest import SegmentMeta
from storage.resample import resample
from storage.sample_format import TarSink, encode_sample, sample_key, storage_bytes
from storage.segment import cut_segments, decode_sources, make_pair, track_windows

TAR_OVERHEAD_BYTES = 3 * 512 + 2 * 128 + 512  # three member headers, two npy headers, the json


@dataclass(frozen=True)
class ShardItem:
    track_id: str
    first_window: int
    end_window: int  # exclusive


@dataclass(frozen=True)
class ShardPlan:
    split: str
    index: int
    items: tuple[ShardItem, ...]
    key: str = ""  # content key of a pooled shard (storage/pool.py): its name, shared by every version listing it

    @property
    def name(self) -> str:
        return f"{self.split}-{self.key}.tar" if self.key else f"{self.split}-{self.index:06d}.tar"


@dataclass(frozen=True)
class PairInputs:
    """What a shard needs of one track."""

    track: Track
    encoded: Encoded
    alignment: Alignment | None = None  # None: measured by the shard writer during its own decode


@dataclass(frozen=True)
class ShardResult:
    split: str
    name: str
    n_samples: int
    n_silent: int
    size_bytes: int
    sha256: str
    segments_per_track: dict  # track_id -> samples written
    reused: bool = False


class _HashingWriter(io.RawIOBase):
    """A write-only file that hashes what passes through, so a shard is never read back to hash it."""

    def __init__(self, sink):
        self.sink = sink
        self.sha256 = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha256.update(data)
        return self.sink.write(data)

    def close(self) -> None:  # the caller closes the real file
        self.sink.flush()
        super().close()


def segment_bytes(cfg: SegmentConfig, bits: int | None = 16) -> int:
    """Bytes of one sample in a shard: two (2, L) arrays at the source's precision, plus tar headers."""
    return 2 * (2 * cfg.segment_samples * storage_bytes(bits)) + TAR_OVERHEAD_BYTES


def cut_windows(tracks: list[Track], cfg: SegmentConfig, target_bytes: int) -> list[tuple[ShardItem, ...]]:
    """The windows of `tracks`, in track-id order, cut into runs of at most ~`target_bytes` (one per shard)."""
    runs: list[tuple[ShardItem, ...]] = []
    items: list[ShardItem] = []
    filled = 0  # bytes
    for track in sorted(tracks, key=lambda t: t.track_id):
        size = segment_bytes(cfg, track.bits_per_sample)
        n_windows = track_windows(track, cfg)
        first = 0
        while first < n_windows:
            take = min(n_windows - first, max((target_bytes - filled) // size, 1))
            items.append(ShardItem(track.track_id, first, first + take))
            first += take
            filled += take * size
            if filled + size > target_bytes:  # the next segment would not fit
                runs.append(tuple(items))
                items, filled = [], 0
    if items:
        runs.append(tuple(items))
    return runs


def plan_shards(tracks: list[Track], cfg: SegmentConfig, target_bytes: int) -> list[ShardPlan]:
    """Cut each split's windows, in track-id order, into shards of at most ~`target_bytes`."""
    plans = []
    for split in ("train", "val", "test"):
        runs = cut_windows([t for t in tracks if t.split == split], cfg, target_bytes)
        plans += [ShardPlan(split, i, items) for i, items in enumerate(runs)]
    return plans


def plan_record(plan: ShardPlan) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(plan)))  # tuples as lists, as the sidecar holds them


def plan_from_record(record: dict) -> ShardPlan:
    """The ShardPlan a sidecar's "plan" (`plan_record`) describes."""
    items = tuple(ShardItem(**item) for item in record["items"])
    return ShardPlan(record["split"], record["index"], items, record.get("key", ""))


def stats_path(shard: Path) -> Path:
    """The shard's stats sidecar (written last: its plan, sample counts, size and SHA-256)."""
    return shard.with_suffix(".json")


def find_shard(plan: ShardPlan, folder: str | Path, stored_size: int | None = None) -> ShardResult | None:
    """The shard an earlier run finished (its stats sidecar, written last, must match the plan).

    `stored_size`: the size of the shard in object storage, where a mirrored data folder keeps its
    shards (the sidecar is mirrored, the tar is not); used when the tar is not here.
    """
    shard = Path(folder) / plan.name
    try:
        stats = json.loads(stats_path(shard).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if stats.pop("plan", None) != plan_record(plan):
        return None
    if (shard.stat().st_size if shard.is_file() else stored_size) != stats["size_bytes"]:
        return None
    return ShardResult(**{**stats, "reused": True})


def _pair_alignment(
    pair: PairInputs, lossless: np.ndarray, lossy: np.ndarray, cfg: AlignConfig | None, align_dir: str | Path | None
) -> Alignment:
    """The pair's alignment: given, or read from its sidecar, or measured on the audio already decoded."""
    if pair.alignment is not None:
        return pair.alignment
    if cfg is None or align_dir is None:
        raise ValueError(f"track {pair.track.track_id}: no alignment given, and no align config to measure one")
    found = find_alignment(pair.encoded, cfg, align_dir)
    if found is None:
        at_track_rate = resample(lossy, pair.encoded.sample_rate, pair.track.sample_rate)
        found = measure_alignment(pair.track, pair.encoded, lossless, at_track_rate, cfg)
        save_alignment(align_dir, pair.encoded, found)
    return found


def write_shard(
    plan: ShardPlan,
    inputs: dict[str, PairInputs],
    cfg: SegmentConfig,
    preset: str,
    folder: str | Path,
    version: str,
    align_cfg: AlignConfig | None = None,
    align_dir: str | Path | None = None,
    decode: Callable[[Track, Encoded], tuple[np.ndarray, np.ndarray]] = decode_sources,
    stored_size: int | None = None,
) -> ShardResult:
    """Decode, align and cut the plan's windows and write them as one tar, atomically.

    Each track is decoded once here, by `decode` (`decode_sources`: the lossless file and FFmpeg). A pair
    given without its alignment is measured on that same audio (and the measurement saved where
    `align_pair` finds it, under `align_dir`); pairs that fail
    the quality gate, or whose audio no longer decodes, contribute no segments (the caller
    quarantines them from the alignments). Samples are stored at each source's precision.
    """
    found = find_shard(plan, folder, stored_size)
    if found is not None:
        return found
    shard = Path(folder) / plan.name
    n_samples = n_silent = 0
    per_track: dict[str, int] = {}
    with atomic_path(shard) as tmp:
        with open(tmp, "wb") as raw, _HashingWriter(raw) as f, TarSink(f) as sink:
            for item in plan.items:
                pair_inputs = inputs[item.track_id]
                track, encoded = pair_inputs.track, pair_inputs.encoded
                try:
                    lossless, lossy = decode(track, encoded)
                except (AudioError, ff.FFmpegError):
                    if pair_inputs.alignment is not None:
                        raise  # the caller vouched for this pair: a decode failure now is an error
                    continue  # quarantined by the caller when it reads the alignments back
                alignment = _pair_alignment(pair_inputs, lossless, lossy, align_cfg, align_dir)
                if not alignment.passed:
                    continue
                pair = make_pair(track, encoded, alignment, cfg, lossless, lossy)
                del lossless, lossy
                written = 0
                for segment in cut_segments(pair, cfg, range(item.first_window, item.end_window)):
                    meta = SegmentMeta(
                        track_id=item.track_id,
                        offset_samples=segment.offset_samples,
                        segment_index=segment.index,
                        preset=preset,
                        strategy=cfg.strategy,
                        sample_rate=pair.sample_rate,
                        lossy_sample_rate=encoded.sample_rate,
                        segment_seconds=cfg.segment_seconds,
                        split=plan.split,
                        source_channels=pair.source_channels,
                        dataset_version=version,
                    )
                    key = sample_key(item.track_id, segment.offset_samples)
                    sink.write(encode_sample(key, segment.lossless, segment.lossy, meta, bits=track.bits_per_sample))
                    written += 1
                n_silent += (item.end_window - item.first_window) - written
                n_samples += written
                per_track[item.track_id] = per_track.get(item.track_id, 0) + written
        digest = f.sha256.hexdigest()
        size_bytes = tmp.stat().st_size
    result = ShardResult(plan.split, plan.name, n_samples, n_silent, size_bytes, digest, per_track)
    stats = dataclasses.asdict(result)
    stats.pop("reused")
    write_json_atomic(stats_path(shard), {**stats, "plan": plan_record(plan)})
    return result
