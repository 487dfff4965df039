"""Restore with a trained model: load a checkpoint for inference, then tracks in memory, whole files or folders.

    enhancer = load_enhancer("runs/ladle")                               # best.pt (else last.pt) + its window layout
    enhance_file(enhancer.model, enhancer.spec, "song.mp3", "song.restored.flac", progress=True)
    enhance_path(enhancer.model, enhancer.spec, "album/", "restored/")   # every audio file under a folder
    ladle enhance song.mp3 -o song.flac --checkpoint runs/ladle         # the same from the shell

Files and folders are ladle_model/inference/files.py's (named here too); the windowing itself (the training layout,
the Hann crossfade, bounded memory) is ladle_model/inference/windows.py;
checkpoints are read through ladle_model/runs/checkpoint.py, never the training loop.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ladle_model.inference.files import (  # the file half of the API, named here too
    EnhanceResult,
    Failed,
    Skipped,
    enhance_file,
    enhance_path,
    result_dict,
    runs_at_track_cut,
)
from ladle_model.inference.windows import (
    DEFAULT_BATCH_SIZE,
    EnhanceError,
    WindowSpec,
    enhance_array,
    make_spec,
)
from ladle_model.models.bandwidth import at_track_bandwidth
from ladle_model.runs.checkpoint import checkpoint_datasets, load_checkpoint, model_from_checkpoint
from ladle_model.runs.folder import resolve_checkpoint
from storage.strategy import get_strategy

__all__ = [
    "EnhanceError",
    "EnhanceResult",
    "Enhancer",
    "Failed",
    "Skipped",
    "enhance_file",
    "enhance_path",
    "enhance_track",
    "load_enhancer",
    "pick_device",
    "result_dict",
    "spec_from_checkpoint",
]

log = logging.getLogger(__name__)

FALLBACK_SAMPLE_RATE = 44100
FALLBACK_SEGMENT_SECONDS = 1.0


# ----------------------------------------------------------------------------- checkpoints


@dataclass
class Enhancer:
    model: nn.Module
    spec: WindowSpec
    checkpoint: str
    model_name: str
    step: int
    dataset_version: str
    dataset: dict  # the checkpoint's (first) dataset record (preset, strategy, rates, segment length)
    datasets: list[dict] = field(default_factory=list)  # every dataset trained on (several presets), with its "version"

    @property
    def presets(self) -> list[str]:
        """The presets the model was trained on, in the order the checkpoint records them."""
        records = self.datasets or [self.dataset]
        return [d["preset"] for d in records if d.get("preset")]

    @property
    def dataset_versions(self) -> list[str]:
        return [d["version"] for d in self.datasets if d.get("version")] or [
            v for v in self.dataset_version.split("+") if v
        ]

    def spec_for(self, preset: str) -> WindowSpec:
        """The window layout for input of `preset`: the model's, with that dataset's codec rate where the strategy keeps it."""
        record = next((d for d in self.datasets if d.get("preset") == preset), None)
        if record is None or not record.get("lossy_sample_rate"):
            return self.spec
        input_rate = get_strategy(self.spec.strategy).lossy_rate(self.spec.sample_rate, record["lossy_sample_rate"])
        return dataclasses.replace(self.spec, input_rate=input_rate)


def spec_from_checkpoint(ckpt: dict, window_seconds: float | None = None) -> WindowSpec:
    """The window layout a checkpoint's model was trained on (its "dataset" record, ladle_model/runs/checkpoint.py).

    Window = the training crop (TrainConfig.segment_seconds) when one was set, else the dataset's
    segment length; `window_seconds` overrides it. Both only where the layout allows another window
    (WindowSpec.resizable: lossy samples at the model's rate); elsewhere the window is the training
    segment. A checkpoint without a dataset record falls back to 44.1 kHz, resample, 1 s windows,
    with a warning.
    """
    dataset = ckpt.get("dataset") or {}
    if not dataset.get("sample_rate"):
        log.warning(
            "checkpoint has no dataset record: assuming %d Hz, strategy resample, %.1f s windows",
            FALLBACK_SAMPLE_RATE,
            FALLBACK_SEGMENT_SECONDS,
        )
        dataset = {
            "sample_rate": FALLBACK_SAMPLE_RATE,
            "strategy": "resample",
            "segment_seconds": FALLBACK_SEGMENT_SECONDS,
        }
    strategy = dataset.get("strategy") or "resample"
    crop = (ckpt.get("config", {}).get("train") or {}).get("segment_seconds")
    seconds = dataset.get("segment_seconds") or FALLBACK_SEGMENT_SECONDS
    spec = make_spec(dataset["sample_rate"], seconds, strategy, dataset.get("lossy_sample_rate"))
    if spec.resizable:
        return make_spec(
            dataset["sample_rate"], window_seconds or crop or seconds, strategy, dataset.get("lossy_sample_rate")
        )
    if window_seconds is not None and not math.isclose(window_seconds, seconds):
        raise ValueError(f"a {strategy} model's window is its training segment ({seconds} s); it cannot be changed")
    return spec


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for but no CUDA device is visible")
    return torch.device(device)


def load_enhancer(checkpoint: str | Path, device: str = "auto", window_seconds: float | None = None) -> Enhancer:
    """The model of a training checkpoint (or run folder), in eval mode on `device`, with its window layout."""
    path = resolve_checkpoint(checkpoint)
    ckpt = load_checkpoint(path, map_location="cpu")
    model = model_from_checkpoint(ckpt).to(pick_device(device)).eval()
    return Enhancer(
        model,
        spec_from_checkpoint(ckpt, window_seconds),
        str(path),
        ckpt["model_name"],
        ckpt.get("step", 0),
        ckpt.get("dataset_version", ""),
        dict(ckpt.get("dataset") or {}),
        checkpoint_datasets(ckpt),
    )


# ----------------------------------------------------------------------------- tracks in memory


def enhance_track(
    model: nn.Module,
    audio: np.ndarray,
    spec: WindowSpec,
    batch_size: int = DEFAULT_BATCH_SIZE,
    n_output: int | None = None,
    lowest_cut_hz: float | None = None,
) -> np.ndarray:
    """A whole (C, T) track held in memory (at spec.input_rate) restored as `enhance_file` restores a file: every
    window at the codec cut measured over the whole track (ladle_model/models/bandwidth.py), a cut below
    `lowest_cut_hz` (the lowest its codec makes at its bitrate, storage/presets.py) read as none. `ladle evaluate`
    and the listening test restore through this, so they score what `ladle enhance` writes."""
    if runs_at_track_cut(model, spec):
        model = at_track_bandwidth(model, audio, spec.input_rate / 2, lowest_cut_hz)
    return enhance_array(model, audio, spec, batch_size, n_output=n_output)
