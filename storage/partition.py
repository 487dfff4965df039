"""Partition work into stable groups of tracks, so a big library makes few task runs, not millions.

    groups = partition(tracks, key=lambda t: t.track_id, target_size=32, min_groups=4)

Items go to one of 2**k hash buckets (k the smallest with buckets of at most ~`target_size`
items), keep their input order inside a bucket, and empty buckets are dropped. An item's bucket
depends only on its key and the bucket count, so adding a track touches one group, and the bucket
count changes only when the library doubles.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def n_buckets(n_items: int, target_size: int, min_buckets: int = 1) -> int:
    """The smallest power of two giving buckets of at most ~`target_size` items, and at least `min_buckets`."""
    if target_size < 1:
        raise ValueError(f"target_size must be at least 1, got {target_size}")
    n = 1
    while n * target_size < n_items or n < min(min_buckets, n_items):
        n *= 2
    return n


def bucket_of(key: str, n: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:15], 16) % n


def partition(items: Sequence[T], key: Callable[[T], str], target_size: int, min_groups: int = 1) -> list[list[T]]:
    """Stable hash groups of `items`; `min_groups` (e.g. twice the workers) keeps a small library parallel."""
    n = n_buckets(len(items), target_size, min_groups)
    buckets: list[list[T]] = [[] for _ in range(n)]
    for item in items:
        buckets[bucket_of(key(item), n)].append(item)
    return [b for b in buckets if b]
