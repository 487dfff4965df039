"""Which dataset versions a training run uses: one, or the union of several presets' found in DATA.

    data = resolve_training_data("data", "runs/ladle", presets=["paper-32k", "mp3-64"], segment_seconds=0.1)
    data.shard_paths("train")      # every dataset's train shards, one list
    data.version                   # "v1+v2": the name a checkpoint records
    resolve_training_data("data", presets="wideband")   # a group: one dataset per member preset

Datasets trained on together must lay their segments out alike (same rate, segment length and
strategy, and the same lossy rate when the strategy keeps it): one model sees one layout.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ladle_model.runs.checkpoint import checkpoint_datasets, dataset_record, joined_version, load_checkpoint
from ladle_model.runs.folder import RunDir
from storage.config import PRESET_GROUPS, ConfigError, expand_presets
from storage.manifest import LATEST, DatasetManifest, find_dataset, list_datasets
from storage.strategy import get_strategy

log = logging.getLogger(__name__)


def resolve_dataset(
    data_dir: str | Path, version: str | None, preset: str | None, segment_seconds: float | None = None
) -> DatasetManifest:
    """The dataset to train on. Several match: the one whose segments already have `segment_seconds`.

    A preset named without a version means its newest version ("latest"), of `segment_seconds` if it has one.
    """
    if version is None and preset is not None:
        version = LATEST
    if version == LATEST and segment_seconds is not None:
        try:
            return find_dataset(data_dir, version=LATEST, preset=preset, segment_seconds=segment_seconds)
        except FileNotFoundError:
            pass  # no version of that length: the newest of any length
    try:
        return find_dataset(data_dir, version=version, preset=preset)
    except ValueError:
        if segment_seconds is None:
            raise
        matches = [
            m
            for m in list_datasets(data_dir)
            if (preset is None or m.preset == preset) and m.segment_seconds == segment_seconds
        ]
        if len(matches) != 1:
            raise
        return matches[0]


def segment_samples(manifest: DatasetManifest) -> int:
    return round(manifest.segment_seconds * manifest.sample_rate)


@dataclass(frozen=True)
class TrainingData:
    """The dataset versions of one run, ordered by (preset, version) so the order the presets were named in does not matter."""

    manifests: tuple[DatasetManifest, ...]

    def __post_init__(self) -> None:
        if not self.manifests:
            raise ValueError("a run trains on at least one dataset")
        ordered = tuple(sorted(self.manifests, key=lambda m: (m.preset, m.version)))
        object.__setattr__(self, "manifests", ordered)
        versions = [m.version for m in ordered]
        if len(set(versions)) != len(versions):
            raise ConfigError(f"dataset named twice: {versions}")
        first = ordered[0]
        for m in ordered[1:]:
            same = (m.sample_rate, m.segment_seconds, m.strategy) == (
                first.sample_rate,
                first.segment_seconds,
                first.strategy,
            )
            if same and get_strategy(m.strategy).keeps_codec_rate:
                same = m.lossy_sample_rate == first.lossy_sample_rate
            if not same:
                raise ConfigError(
                    f"datasets {first.version} ({first.preset}) and {m.version} ({m.preset}) lay segments out differently "
                    f"({first.sample_rate} Hz, {first.segment_seconds} s, {first.strategy}, lossy {first.lossy_sample_rate} Hz vs "
                    f"{m.sample_rate} Hz, {m.segment_seconds} s, {m.strategy}, lossy {m.lossy_sample_rate} Hz); "
                    "one model trains on one layout"
                )

    @property
    def first(self) -> DatasetManifest:
        return self.manifests[0]

    @property
    def version(self) -> str:
        return joined_version([m.version for m in self.manifests])

    @property
    def presets(self) -> list[str]:
        return [m.preset for m in self.manifests]

    @property
    def sample_rate(self) -> int:
        return self.first.sample_rate

    @property
    def segment_samples(self) -> int:
        return segment_samples(self.first)

    def shard_paths(self, split: str) -> list:
        return [path for m in self.manifests for path in m.shard_paths(split)]

    def n_segments(self, split: str) -> int:
        return sum(m.splits[split].segments for m in self.manifests if split in m.splits)

    def records(self) -> list[dict]:
        """One `dataset_record` per dataset, as the checkpoint stores them."""
        return [dataset_record(m) for m in self.manifests]


def resolve_training_data(
    data_dir: str | Path,
    run_dir: str | Path | None = None,
    segment_seconds: float | None = None,
    version: str | None = None,
    presets: str | list[str] | None = None,
) -> TrainingData:
    """The datasets to train on: one per preset named (or the version named, or the only one).

    A group of presets (`wideband`) names each of its members: one model trains on all of them.
    Nothing named and RUN holds a checkpoint: the datasets that checkpoint was trained on (with a warning
    when its presets have newer versions: naming the presets warm-starts on them).
    """
    named = [presets] if isinstance(presets, str) else list(presets or [])
    presets = list(expand_presets(named))
    if version not in (None, LATEST) and len(presets) > 1:
        raise ConfigError("name one dataset version, or several presets, not both")
    last = RunDir(run_dir).resume_checkpoint() if run_dir is not None else None
    if version is None and not presets and last is not None:
        return _checkpoint_data(data_dir, run_dir, segment_seconds, checkpoint_datasets(load_checkpoint(last)))
    if len(presets) <= 1:
        return TrainingData((resolve_dataset(data_dir, version, presets[0] if presets else None, segment_seconds),))
    groups = [name for name in named if name in PRESET_GROUPS]
    found = []
    for preset in presets:
        try:
            found.append(resolve_dataset(data_dir, LATEST, preset, segment_seconds))
        except FileNotFoundError as e:
            if not groups:
                raise
            raise FileNotFoundError(
                f"{e}: {' and '.join(groups)} trains on each of its presets; build them with "
                f"`ladle build-corpus SOURCE --data {data_dir}{''.join(f' --preset {g}' for g in groups)}`"
            ) from None
    return TrainingData(tuple(found))


def _checkpoint_data(
    data_dir: str | Path, run_dir: str | Path, segment_seconds: float | None, records: list[dict]
) -> TrainingData:
    """The datasets a checkpoint names, for a re-run that names none."""
    named = " ".join(f"--preset {d['preset']}" for d in records if d.get("preset")) or "--preset NAME"
    try:
        data = TrainingData(tuple(resolve_dataset(data_dir, d["version"], None, segment_seconds) for d in records))
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"{e}; run folder {run_dir} was trained on it: name its preset(s) ({named}) to continue on the newest version"
        ) from None
    for m in data.manifests:
        newest = find_dataset(data_dir, version=LATEST, preset=m.preset, segment_seconds=m.segment_seconds)
        if newest.version != m.version:
            log.warning(
                "%s continues on dataset %s of %s; %s is newer: name the preset (%s) to warm-start on it",
                run_dir,
                m.version,
                m.preset,
                newest.version,
                named,
            )
    return data


def resolve_run_dataset(
    data_dir: str | Path,
    run_dir: str | Path,
    segment_seconds: float | None = None,
    version: str | None = None,
    preset: str | list[str] | None = None,
) -> DatasetManifest:
    """The first dataset of `resolve_training_data` (for callers that check or show one)."""
    return resolve_training_data(data_dir, run_dir, segment_seconds, version, preset).first
