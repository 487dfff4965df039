"""A benchmark corpus: the demo corpus built into shards once, reused by every benchmark.

manifest = bench_dataset()        # builds ~/.cache/ladle/bench (or LADLE_BENCH_DIR) on first use
"""

from __future__ import annotations

import os
from pathlib import Path

from storage.manifest import DatasetManifest, find_dataset


def bench_dir() -> Path:
    return Path(os.environ.get("LADLE_BENCH_DIR", Path.home() / ".cache" / "ladle" / "bench"))


def bench_library(n_tracks: int = 10) -> Path:
    from storage.sources.demo_corpus import write_demo_corpus

    library = bench_dir() / "library"
    write_demo_corpus(library, n_tracks=n_tracks)
    return library


def bench_dataset(
    preset: str = "vorbis-160", segment_seconds: float = 1.0, shard_target_mb: float = 256.0
) -> DatasetManifest:
    """The demo corpus as a dataset (built once; later calls are cached by build-corpus itself)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows.build_corpus import build_corpus

    data = bench_dir() / "data"
    summary = build_corpus(
        sources=[str(bench_library())],
        data=str(data),
        presets=[preset],
        segment_seconds=segment_seconds,
        shard_target_mb=shard_target_mb,
    )
    return find_dataset(data, version=summary["datasets"][0]["version"])
