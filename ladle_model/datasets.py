"""Which dataset version a training run uses, found in DATA by version, preset or crop length.

    manifest = resolve_run_dataset("data", "runs/ladle", segment_seconds=0.1, preset="vorbis-160")
    n = segment_samples(manifest)       # samples per segment at the dataset rate
"""

from __future__ import annotations

from pathlib import Path

from ladle_model.checkpoint import RunDir, load_checkpoint
from storage.manifest import DatasetManifest, find_dataset, list_datasets


def resolve_dataset(data_dir: str | Path, version: str | None, preset: str | None, segment_seconds: float | None = None) -> DatasetManifest:
    """The dataset to train on. Several match: the one whose segments already have `segment_seconds`."""
    try:
        return find_dataset(data_dir, version=version, preset=preset)
    except ValueError:
        if segment_seconds is None:
            raise
        matches = [m for m in list_datasets(data_dir) if (preset is None or m.preset == preset) and m.segment_seconds == segment_seconds]
        if len(matches) != 1:
            raise
        return matches[0]


def resolve_run_dataset(data_dir: str | Path, run_dir: str | Path, segment_seconds: float | None = None, version: str | None = None,
                        preset: str | None = None) -> DatasetManifest:
    """`resolve_dataset`, except that a run folder with a checkpoint and no version/preset asked keeps its own dataset."""
    last = RunDir(run_dir).resume_checkpoint()
    if version is None and preset is None and last is not None:
        version = load_checkpoint(last)["dataset_version"]
    return resolve_dataset(data_dir, version, preset, segment_seconds)


def segment_samples(manifest: DatasetManifest) -> int:
    return round(manifest.segment_seconds * manifest.sample_rate)
