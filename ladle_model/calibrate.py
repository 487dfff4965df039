"""Post-training calibration of a restorer's fill gain on the validation split.

A model that fills the band a codec removed cannot know the original's phase there, and the level
its losses settle on is not the level a listener (or ViSQOL) prefers: with SpecNeXt trained on
log-magnitude losses, halving the filled band's gain raised ViSQOL on held-out music by 0.03-0.15
and lowered LSD as well (BENCHMARKS.md, "quality"). So after training, the gain g of the additive
term (SpecNeXtConfig.fill_gain) is chosen among a few values by the mean ViSQOL of the restored
validation split's tracks (5-s excerpts of active audio, as evaluation scores them), a split the
test split never meets; the choice and every score are written
into best.pt, which `ladle enhance` and `ladle evaluate` load.

    result = calibrate_fill_gain(model, segments, 44100)      # Calibration(gain=0.5, scores={...})
    calibrate_run(run, val_shards, crop_samples, device)      # the same, on RUN's best.pt, rewritten in place
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn as nn

from ladle_model.checkpoint import RunDir, load_checkpoint, model_from_checkpoint, save_checkpoint_file
from ladle_model.visqol import VISQOL_MIN_SECONDS, visqol_available, visqol_moslqo

log = logging.getLogger(__name__)

FILL_GAINS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # 0: no fill at all, the mask term alone
MAX_SEGMENTS = 24  # ~0.7 CPU-s of ViSQOL per segment-second and gain: about a minute on 2 cores


@dataclass
class Calibration:
    gain: float  # the fill gain chosen
    scores: dict[str, float] = field(default_factory=dict)  # mean ViSQOL per gain ("input": the lossy input's)
    segments: int = 0
    source: str = ""  # what was scored: excerpts of the val split's whole tracks, or its shard segments
    skipped: str = ""  # why nothing was calibrated ("" when it was)


def calibratable(model: nn.Module) -> bool:
    """Whether the model has a fill gain to calibrate (SpecNeXt does; the paper's models do not)."""
    return hasattr(getattr(model, "config", None), "fill_gain")


def val_track_excerpts(data_dir, presets: list[str], sample_rate: int, per_preset: int = 3,
                       seconds: float = 5.0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(lossless, lossy) excerpts of `seconds` of active audio, one per val-split track, up to `per_preset` tracks per preset.

    Decoded and aligned as evaluation does (ladle_model/evaluate.py), so the gain is chosen on the
    excerpt length ViSQOL is reported on: one-second shard segments give it too few patches to rank gains.
    """
    from ladle_model.evaluate import select_tracks
    from ladle_model.visqol import active_excerpts
    from storage.config import SegmentConfig
    from storage.segment import load_pair

    excerpts = []
    for preset in presets:
        try:
            tracks, _ = select_tracks(data_dir, preset, "val", max_tracks=per_preset)
        except (FileNotFoundError, ValueError):  # no val track of this preset
            continue
        for item in tracks:
            pair = load_pair(item.track, item.encoded, item.alignment, SegmentConfig(strategy="resample", sample_rate=sample_rate))
            for start, stop in active_excerpts(pair.lossless, sample_rate, 1, seconds):
                excerpts.append((torch.from_numpy(np.ascontiguousarray(pair.lossless[:, start:stop], np.float32)),
                                 torch.from_numpy(np.ascontiguousarray(pair.lossy[:, start:stop], np.float32))))
    return excerpts


def pick_segments(batches: Iterable[tuple[torch.Tensor, torch.Tensor]], n_total: int, n_pick: int = MAX_SEGMENTS) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Up to `n_pick` (lossless, lossy) segments, (2, L) each, evenly spread over `n_total` of them (every preset's)."""
    stride = max(1, n_total // max(n_pick, 1))
    picked, index = [], 0
    for lossless, lossy in batches:
        for b in range(lossless.shape[0]):
            if index % stride == 0 and len(picked) < n_pick:
                picked.append((lossless[b].float().cpu(), lossy[b].float().cpu()))
            index += 1
    return picked


@torch.no_grad()
def calibrate_fill_gain(model: nn.Module, segments: list[tuple[torch.Tensor, torch.Tensor]], sample_rate: int,
                        gains: tuple[float, ...] = FILL_GAINS) -> Calibration:
    """The gain among `gains` whose restorations score the highest mean ViSQOL on `segments`; ties keep the larger gain."""
    current = float(model.config.fill_gain)
    if not visqol_available():
        return Calibration(current, skipped="visqol-python is not installed")
    segments = [(y, x) for y, x in segments if y.shape[-1] >= VISQOL_MIN_SECONDS * sample_rate and bool(y.abs().max() > 0)]
    if not segments:
        return Calibration(current, skipped=f"no active validation segment of at least {VISQOL_MIN_SECONDS:.2f} s")
    lossless = torch.stack([y for y, _ in segments])  # (N, 2, L)
    lossy = torch.stack([x for _, x in segments])  # (N, 2, L)
    seconds = lossless.shape[-1] / sample_rate

    def score(estimate: torch.Tensor) -> float:
        return float(np.nanmean(visqol_moslqo(lossless, estimate, sample_rate, n_excerpts=1, excerpt_seconds=seconds)))

    was_training = model.training
    model.eval()
    scores = {"input": score(lossy)}
    try:
        for gain in gains:
            model.config.fill_gain = gain
            scores[f"{gain:g}"] = score(model(lossy.to(next(model.parameters()).device)).float().cpu())
    finally:
        model.config.fill_gain = current
        model.train(was_training)
    best = max(gains, key=lambda g: (round(scores[f"{g:g}"], 4), g))
    return Calibration(best, scores, len(segments))


def calibrate_run(run: RunDir, segments: list[tuple[torch.Tensor, torch.Tensor]], sample_rate: int,
                  source: str = "") -> Calibration | None:
    """Calibrate RUN's best.pt (else last.pt) and write the gain into its model config; None for a model without one.

    The checkpoint is rewritten atomically with config["model"]["fill_gain"] and a "calibration"
    record; a best.pt that holds one already is not scored again (a re-run that trained no further). Training never reads best.pt back, so a re-run of `ladle train` starts from last.pt at
    gain 1.0 and calibrates its new best.pt again.
    """
    path = run.checkpoint("best")
    ckpt = load_checkpoint(path)
    model = model_from_checkpoint(ckpt)
    if not calibratable(model):
        return None
    if ckpt.get("calibration"):  # this best.pt was calibrated already (training rewrites it without the record)
        return Calibration(**ckpt["calibration"])
    model.config.fill_gain = 1.0  # calibrate what training produced, whatever an earlier calibration chose
    result = calibrate_fill_gain(model, segments, sample_rate)
    result.source = source
    if result.skipped:
        log.info("fill gain not calibrated: %s", result.skipped)
        return result
    ckpt["config"]["model"]["fill_gain"] = result.gain
    ckpt["calibration"] = asdict(result)
    save_checkpoint_file(ckpt, path)
    log.info("fill gain %g chosen on %d %s (ViSQOL %s)", result.gain, result.segments, source,
             ", ".join(f"{k} {v:.3f}" for k, v in result.scores.items()))
    return result
