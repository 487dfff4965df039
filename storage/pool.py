"""The shard pool: shards named by their content, shared by every dataset version that lists them.

    plans = plan_pool_shards(pairs, preset, cfg)             # ShardPlans with a content key each
    folder = pool_folder("data", preset.name)                # DATA/shards/{preset}/
    manifest_name(preset.name, plans[0])                     # "../../shards/vorbis-160/train-<key>.tar"

A split's tracks are grouped by a stable hash of their album (storage.ingest.album_key: the track
itself when untagged) into the leaves of a binary hash trie: a leaf whose tracks exceed the shard
size splits in two on the next bit of the hash. The trie depends only on the tracks present, so the
same library always gives the same shards, and adding or removing an album changes only the leaf it
hashes into: every other shard keeps its members, hence its key, hence its file. Each leaf is cut
into shards of at most the target size (one, unless one album alone is bigger). A shard's key hashes
its members (track ids, windows, encode keys), the split, the preset, the segmentation and alignment
config and the shard format version, so a pooled file is never reused for different content.

This is the webdataset `wids` idea (a version is a list of shard URLs into a shared pool) with TFX
ExampleGen's stable hash buckets; a version's manifest lists its shards relative to its own folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

from storage.config import STAGE_VERSIONS, CorpusConfig, EncodePreset, stable_hash
from storage.ingest import album_key
from storage.manifest import SPLITS
from storage.segment import track_windows
from storage.shards import PairInputs, ShardPlan, cut_windows, segment_bytes

POOL_DIR = "shards"
POOL_GLOB = f"{POOL_DIR}/*/*.tar"  # every pooled shard, relative to the data folder
MAX_DEPTH = 48  # hash bits a trie may use; past it (or with one album left) a leaf is cut by size alone


def pool_folder(data_dir: str | Path, preset: str) -> Path:
    return Path(data_dir) / POOL_DIR / preset


def manifest_name(preset: str, plan: ShardPlan) -> str:
    """How a version's manifest names a pooled shard: relative to `DATA/datasets/{version}/`."""
    return f"../../{POOL_DIR}/{preset}/{plan.name}"


@dataclass(frozen=True)
class _Entry:
    bits: int  # 64-bit hash of the track's group key
    pair: PairInputs
    size_bytes: int


def _hash_bits(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:16], 16)


def _leaves(entries: list[_Entry], depth: int, target_bytes: int) -> list[list[_Entry]]:
    """The trie's leaves under one prefix, in prefix order: split while over `target_bytes`."""
    if not entries:
        return []
    one_group = len({e.bits for e in entries}) == 1
    if sum(e.size_bytes for e in entries) <= target_bytes or depth >= MAX_DEPTH or one_group:
        return [entries]
    bit = 63 - depth
    zeros = [e for e in entries if not (e.bits >> bit) & 1]
    ones = [e for e in entries if (e.bits >> bit) & 1]
    return _leaves(zeros, depth + 1, target_bytes) + _leaves(ones, depth + 1, target_bytes)


def shard_key(
    plan_items: tuple, split: str, encode_keys: dict[str, str], preset: EncodePreset, cfg: CorpusConfig
) -> str:
    """The content key of one pooled shard: what its bytes depend on, and nothing else (no path, no version)."""
    members = [[i.track_id, i.first_window, i.end_window, encode_keys[i.track_id]] for i in plan_items]
    return stable_hash(
        [
            "pooled-shard",
            STAGE_VERSIONS["shard"],
            split,
            dataclasses.asdict(preset),
            dataclasses.asdict(cfg.segment),
            dataclasses.asdict(cfg.align),
            members,
        ],
        n_chars=24,
    )


def plan_pool_shards(pairs: list[PairInputs], preset: EncodePreset, cfg: CorpusConfig) -> list[ShardPlan]:
    """Every shard of a version, per split: one or more per hash-trie leaf, each named by its content key."""
    target_bytes = int(cfg.shard_target_mb * 2**20)
    encode_keys = {p.track.track_id: p.encoded.encode_key for p in pairs}
    plans = []
    for split in SPLITS:
        entries = [
            _Entry(
                _hash_bits(album_key(p.track)),
                p,
                track_windows(p.track, cfg.segment) * segment_bytes(cfg.segment, p.track.bits_per_sample),
            )
            for p in sorted((p for p in pairs if p.track.split == split), key=lambda p: p.track.track_id)
        ]
        for leaf in _leaves(entries, 0, target_bytes):
            runs = cut_windows([e.pair.track for e in leaf], cfg.segment, target_bytes)
            for index, items in enumerate(runs):  # index within the leaf: content-determined, like the key
                key = shard_key(items, split, encode_keys, preset, cfg)
                plans.append(ShardPlan(split, index, items, key))
    return plans
