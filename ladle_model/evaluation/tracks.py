"""What an evaluation scores: its config, and the catalog's tracks of a split with their encodes and alignments.

    cfg = EvalConfig(split="test", max_tracks=5)
    tracks, split = select_tracks("data", "paper-32k", cfg.split, cfg.max_tracks)
    lossless, lossy, model_input = load_eval_pair(tracks[0], spec)

A leaf of ladle_model/evaluation/: the evaluation itself, its cache, the calibration and the listening
test all pick and load tracks through it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ladle_model.inference.windows import WindowSpec
from storage import catalog
from storage.align import Alignment, resample
from storage.config import ConfigError, SegmentConfig, config_from_dict
from storage.encode import Encoded
from storage.ingest import Track
from storage.segment import load_pair

SPLITS = ("train", "val", "test", "all")  # "all": every track of the data folder, whatever its split


class EvaluationError(RuntimeError):
    """No track could be evaluated; the message gives the first track's reason."""


class EmptySplitError(FileNotFoundError):
    """The split asked for has no track to score; the message counts the tracks of each split.

    A FileNotFoundError, as a data folder without the preset's encodes is: the CLI says it in one line.
    """

    def __init__(self, data_dir: str | Path, preset: str, split: str, counts: dict[str, int]) -> None:
        by_split = ", ".join(f"{name} {n}" for name, n in counts.items() if n) or "none"
        self.what = f"the {split} split of {data_dir} has no {preset} track to evaluate (tracks by split: {by_split})"
        super().__init__(self.hint("evaluating another split is a choice to name (val, or all: every track)"))

    def hint(self, how: str) -> str:
        """The message with `how` to name another split (the CLI names its option)."""
        return f"{self.what}; {how}"


@dataclass
class EvalConfig:
    split: str = "test"  # an empty split is an error (EmptySplitError), never another split; "all": every track
    max_tracks: int | None = None  # the first N tracks by track id (None: all)
    checkpoint: str = "best"  # "best" (best.pt, else last.pt), "last", or a checkpoint path
    feature_net: str | None = None  # phi for the perceptual metric (None: RUN_DIR/feature_net.pt when there)
    batch_size: int = 8  # windows per forward pass
    window_seconds: float | None = None  # None: the training segment (see enhance.spec_from_checkpoint)
    visqol_excerpts: int = 3  # excerpts of active audio per track for ViSQOL (0: skip ViSQOL)
    visqol_excerpt_seconds: float = 5.0
    n_spectrograms: int = 3  # tracks with a spectrogram figure
    spectrogram_seconds: float = 5.0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ConfigError(f"EvalConfig.split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.max_tracks is not None and self.max_tracks < 1:
            raise ConfigError(f"EvalConfig.max_tracks must be >= 1 or None, got {self.max_tracks}")
        if self.batch_size < 1 or self.visqol_excerpts < 0 or self.n_spectrograms < 0:
            raise ConfigError("batch_size must be >= 1; visqol_excerpts and n_spectrograms >= 0")
        if self.visqol_excerpt_seconds <= 0 or self.spectrogram_seconds <= 0:
            raise ConfigError("excerpt lengths must be > 0")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"EvalConfig.device must be auto, cpu or cuda, got {self.device!r}")

    @classmethod
    def from_dict(cls, d: dict) -> EvalConfig:
        return config_from_dict(cls, d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EvalTrack:
    track: Track
    encoded: Encoded
    alignment: Alignment


# ----------------------------------------------------------------------------- which tracks


def select_tracks(
    data_dir: str | Path, preset: str, split: str = "test", max_tracks: int | None = None
) -> tuple[list[EvalTrack], str]:
    """The catalog's tracks of `split` ("all": every split) that have an encode and a passing alignment for `preset`.

    From the latest ingest's tracks table (splits are stable: a hash of the track id, or its pin). A
    split with no such track raises EmptySplitError: scores of another split (the val tracks calibration
    chose the fill gains on, or the train tracks) would pass for held-out ones. Returns (tracks by id, split).
    """
    tracks = [Track(**row) for row in catalog.read_rows(data_dir, "tracks")]
    if not tracks:
        raise FileNotFoundError(f"no tracks in the catalog under {data_dir} (build the corpus first)")
    # an encode is read from this data folder, wherever the build that recorded it ran (a mirror of s3:// data)
    encodes = {
        row["track_id"]: Encoded(**{**row, "path": str(Path(data_dir) / "encodes" / preset / Path(row["path"]).name)})
        for row in catalog.read_rows(data_dir, "encodes")
        if row["preset"] == preset
    }
    pairs = {
        row["track_id"]: Alignment(**row)
        for row in catalog.read_rows(data_dir, "pairs")
        if row["preset"] == preset and row["passed"]
    }
    if not encodes:
        raise FileNotFoundError(
            f"no {preset} encodes in the catalog under {data_dir} (build the corpus with --preset {preset})"
        )

    def usable(name: str) -> list[EvalTrack]:
        return [
            EvalTrack(t, encodes[t.track_id], pairs[t.track_id])
            for t in sorted(tracks, key=lambda t: t.track_id)
            if name in (t.split, "all") and t.track_id in encodes and t.track_id in pairs
        ]

    chosen = usable(split)
    if not chosen:
        raise EmptySplitError(data_dir, preset, split, {name: len(usable(name)) for name in ("train", "val", "test")})
    return (chosen[:max_tracks] if max_tracks else chosen), split


def load_eval_pair(item: EvalTrack, spec: WindowSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lossless, lossy baseline, model input): the first two (2, T) at the model's rate R, aligned; the
    model input the aligned lossy audio at the rate its strategy feeds the model (spec.input_rate)."""
    # the baseline is the lossy audio brought to R, whatever layout the model was trained on
    at_model_rate = SegmentConfig(strategy="resample", sample_rate=spec.sample_rate)
    pair = load_pair(item.track, item.encoded, item.alignment, at_model_rate)
    if spec.input_rate == spec.sample_rate:
        return pair.lossless, pair.lossy, pair.lossy
    native = load_pair(
        item.track, item.encoded, item.alignment, SegmentConfig(strategy=spec.strategy, sample_rate=spec.sample_rate)
    )
    return pair.lossless, pair.lossy, resample(native.lossy, native.lossy_rate, spec.input_rate)
