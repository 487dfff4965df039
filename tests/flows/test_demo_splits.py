"""The demo holds out a test track on every machine: pinned by `ladle demo-corpus`, never trained or calibrated on.

Builds the first three demo pieces, cut to a few seconds, as `make demo` builds its library.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mutagen.flac import FLAC

from ladle_model.calibration.data import val_track_excerpts
from ladle_model.evaluation.tracks import select_tracks
from ladle_model.evaluation.visqol import active_excerpts
from storage import catalog
from storage.config import SegmentConfig
from storage.manifest import list_datasets
from storage.sample_format import decode_sample, iter_tar_samples
from storage.segment import load_pair
from storage.sources.demo_corpus import DEMO_PIECES, demo_track_path, write_demo_corpus

PRESET = "paper-32k"
N_PIECES = 3  # the fewest that hold a train, a val and a test piece


@pytest.fixture(scope="module")
def demo(prefect_harness, tmp_path_factory) -> tuple[Path, Path]:
    from flows.build_corpus import build_corpus

    root = tmp_path_factory.mktemp("demo")
    write_demo_corpus(root / "library", n_tracks=N_PIECES, max_seconds=6.0, min_seconds=6.0)
    build_corpus(sources=[str(root / "library")], data=str(root / "data"), presets=[PRESET], segment_seconds=1.0)
    return root / "library", root / "data"


def _shard_track_ids(paths: list[Path]) -> set[str]:
    ids = set()
    for path in paths:
        with open(path, "rb") as f:
            for raw in iter_tar_samples(f):
                ids.add(decode_sample(raw)[3]["track_id"])
    return ids


@pytest.mark.slow
def test_the_demo_test_track_is_pinned_and_neither_trained_nor_calibrated_on(demo):
    library, data = demo
    pieces = {demo_track_path(library, p): p for p in DEMO_PIECES[:N_PIECES]}
    assert {FLAC(path)["LADLE_SPLIT"][0] for path in pieces} == {"train", "val", "test"}

    tracks = catalog.read_rows(data, "tracks")
    by_split = {s: {t["track_id"] for t in tracks if t["split"] == s} for s in ("train", "val", "test")}
    assert all(by_split.values())  # at least one track in each, whatever the rendered audio hashes to
    assert all(t["split"] == t["pinned_split"] == pieces[Path(t["path"])].split for t in tracks)
    (test_path,) = [Path(t["path"]) for t in tracks if t["split"] == "test"]
    assert pieces[test_path].title == "Maple Leaf Rag"

    (manifest,) = list_datasets(str(data))
    trained = _shard_track_ids(manifest.shard_paths("train"))
    validated = _shard_track_ids(manifest.shard_paths("val"))
    assert trained == by_split["train"] and validated == by_split["val"]
    assert not (trained | validated) & by_split["test"]  # the test track is in no training or validation shard
    assert manifest.splits["test"].tracks == 1

    # calibration's excerpts are the val track's audio, spread over it as calibration spreads them
    excerpts = val_track_excerpts(data, [PRESET], 44100, per_track=2, seconds=1.0)
    (val_item,), _ = select_tracks(data, PRESET, "val")
    assert val_item.track.track_id not in by_split["test"]
    pair = load_pair(val_item.track, val_item.encoded, val_item.alignment, SegmentConfig(sample_rate=44100))
    spans = active_excerpts(pair.lossless, 44100, 2, 1.0)
    assert len(excerpts) == len(spans) == 2
    for (_, lossless, _, _), (start, stop) in zip(excerpts, spans):
        np.testing.assert_array_equal(lossless.numpy(), pair.lossless[:, start:stop].astype(np.float32))

    # and the evaluation's default split is that one test track
    (test_item,), split = select_tracks(data, PRESET)
    assert split == "test" and test_item.track.track_id in by_split["test"]
