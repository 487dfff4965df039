"""Post-training calibration of a restorer's fill gain on the validation split.

A model that fills the band a codec removed cannot know the original's phase there, and the level
its losses settle on is not the level a listener (or ViSQOL) prefers: with SpecNeXt trained on
log-magnitude losses, halving the filled band's gain raised ViSQOL on held-out music by 0.03-0.15
and lowered LSD as well (BENCHMARKS.md, "quality"). So after training, the gain g of the additive
term (SpecNeXtConfig.fill_gain) is chosen among a few values by the mean ViSQOL of the restored
validation split's tracks (5-s excerpts of active audio, as evaluation scores them), a split the
test split never meets; the choice and every score are written into best.pt, which `ladle
enhance` and `ladle evaluate` load.

The best level depends on how much the codec removed: on held-out music the same model scored
best at g = 1/2 on MP3 64 kbps (cut at ~11 kHz, ViSQOL +0.16 over the input) while any fill
lowered it on Vorbis 160 and 320 kbps (cut at 18-21 kHz or not at all). So each trained preset's
best gain is found on its own val excerpts, and the model gets a table of gain against input
bandwidth (SpecNeXtConfig.fill_gain_table: the bandwidth is read off each input's spectrum, so
`ladle enhance` needs no preset), ending at no fill for a full-band input. The table is kept unless
it scores worse than the best single gain on the same excerpts. Where gains score within ViSQOL's
noise (0.01) of the best, the largest wins: it restores more of the band (lower LSD).

    result = calibrate_fill_gain(model, segments, 44100, labels=presets)   # Calibration(gain=0.25, table=[[0.5, 0.5], ...])
    calibrate_run(run, segments, 44100, "val-track excerpts", labels=presets)   # the same, on RUN's best.pt, rewritten in place
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn as nn

from ladle_model.checkpoint import RunDir, load_checkpoint, model_from_checkpoint, save_checkpoint_file
from ladle_model.metrics import get_metric
from ladle_model.specnext import input_bandwidth
from ladle_model.visqol import VISQOL_MIN_SECONDS, visqol_available, visqol_moslqo

log = logging.getLogger(__name__)

FILL_GAINS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # 0: no fill at all, the mask term alone
SAME_VISQOL = get_metric("visqol").noise  # 0.01: ViSQOL differences evaluation calls "the same as the input"
MERGE_WITHIN = 0.02  # presets whose low-passes lie within ~440 Hz share one row of the table
MAX_SEGMENTS = 24  # ~0.7 CPU-s of ViSQOL per segment-second and gain: about a minute on 2 cores


@dataclass
class Calibration:
    gain: float  # the fill gain chosen
    scores: dict[str, float] = field(default_factory=dict)  # mean ViSQOL per gain ("input": the lossy input's)
    segments: int = 0
    source: str = ""  # what was scored: excerpts of the val split's whole tracks, or its shard segments
    skipped: str = ""  # why nothing was calibrated ("" when it was)
    table: list | None = None  # [[bandwidth, gain], ...] written as the model's fill_gain_table; None: `gain` for every input
    sample_rate: int = 0  # of the segments (bandwidths are fractions of its Nyquist)
    groups: dict[str, dict] = field(default_factory=dict)  # per preset: input bandwidth, excerpts, ViSQOL per gain, best gain


def calibratable(model: nn.Module) -> bool:
    """Whether the model has a fill gain and gain table to calibrate (SpecNeXt does; the paper's models do not)."""
    config = getattr(model, "config", None)
    return hasattr(config, "fill_gain") and hasattr(config, "fill_gain_table")


@contextlib.contextmanager
def fill_setting(model: nn.Module, gain: float, table: list | None = None) -> Iterator[nn.Module]:
    """`model` with its fill gain (and gain table, None: `gain` for every input) set inside the block, restored after it."""
    config = model.config
    saved = (config.fill_gain, config.fill_gain_table)
    config.fill_gain, config.fill_gain_table = gain, table
    try:
        yield model
    finally:
        config.fill_gain, config.fill_gain_table = saved


def fill_gain_text(record: dict) -> str:
    """A calibration record's choice in words: '0.25', or 'per input bandwidth: 0.5 at 11.1 kHz, ..., 0 on full-band input'."""
    table, nyquist = record.get("table"), (record.get("sample_rate") or 0) / 2
    if not table or not nyquist:
        return f"{record['gain']:g}"
    rows = [f"{gain:g} on full-band input" if width >= 1 else f"{gain:g} at {width * nyquist / 1000:.1f} kHz" for width, gain in table]
    return "per input bandwidth: " + ", ".join(rows)


def calibration_text(record: dict | None) -> str:
    """One line on what a calibration record (best.pt's "calibration", TrainResult.calibration) chose and why."""
    if not record:
        return "fill gain not calibrated"
    if record.get("skipped"):
        return f"fill gain not calibrated: {record['skipped']}"
    scores = ", ".join(f"{k} {v:.3f}" for k, v in record["scores"].items())
    return f"fill gain {fill_gain_text(record)} chosen on {record['segments']} {record['source']} (ViSQOL: {scores})"


def val_track_excerpts(data_dir, presets: list[str], sample_rate: int, per_preset: int = 4,
                       seconds: float = 5.0) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(preset, lossless, lossy) excerpts of `seconds` of active audio, one per val-split track, up to `per_preset` tracks per preset.

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
                excerpts.append((preset, torch.from_numpy(np.ascontiguousarray(pair.lossless[:, start:stop], np.float32)),
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


def bandwidth_table(groups: dict[str, dict], merge_within: float = MERGE_WITHIN) -> list[list[float]]:
    """[[bandwidth, gain], ...] from each group's median input bandwidth and its best gain.

    Groups whose bandwidths lie within `merge_within` (of Nyquist) of each other share one row, with the
    gain their pooled excerpts score best with; a table whose widest row is band-limited ends with
    [1.0, 0.0]: an input no codec low-passed has no band to fill.
    """
    rows: list[tuple[float, dict[str, float], int]] = []  # (bandwidth, summed scores per gain, excerpts)
    for group in sorted(groups.values(), key=lambda g: g["bandwidth"]):
        n = group["segments"]
        summed = {k: v * n for k, v in group["scores"].items()}
        if rows and group["bandwidth"] - rows[-1][0] <= merge_within:
            width, total, count = rows[-1]
            rows[-1] = ((width * count + group["bandwidth"] * n) / (count + n), {k: total[k] + summed[k] for k in total}, count + n)
        else:
            rows.append((group["bandwidth"], summed, n))
    table = [[round(width, 4), best_gain({k: v / count for k, v in total.items()})] for width, total, count in rows]
    if table[-1][0] < 1.0:
        table.append([1.0, 0.0])
    return table


def best_gain(scores: dict[str, float], tolerance: float = SAME_VISQOL) -> float:
    """The largest gain among `scores`' "<gain>" keys that scores within `tolerance` of the best of them.

    More fill restores more of the removed band (LSD falls) until it is too loud; among gains that
    ViSQOL cannot tell apart from the best, the one that restores the most is kept.
    """
    gains = [float(k) for k in scores if k not in ("input", "table")]
    top = max(scores[f"{g:g}"] for g in gains)
    return max(g for g in gains if scores[f"{g:g}"] >= top - tolerance)


@torch.no_grad()
def calibrate_fill_gain(model: nn.Module, segments: list[tuple[torch.Tensor, torch.Tensor]], sample_rate: int,
                        gains: tuple[float, ...] = FILL_GAINS, labels: list[str] | None = None) -> Calibration:
    """The fill gain (or, per input bandwidth, gains) whose restorations of `segments` score the highest mean ViSQOL.

    "Best" is `best_gain`'s: the most fill ViSQOL cannot tell from its best score. `labels` name each
    segment's group (its preset). Given labels, each group's best gain is tried as a table over the groups' input bandwidths, and kept unless it
    scores worse than the single gain by more than ViSQOL's noise. The model is left as it was.
    """
    grouped = labels is not None
    labels = list(labels) if grouped else ["all"] * len(segments)
    if len(labels) != len(segments):
        raise ValueError(f"{len(labels)} labels for {len(segments)} segments")
    current = float(model.config.fill_gain)
    if not visqol_available():
        return Calibration(current, skipped="visqol-python is not installed")
    kept = [i for i, (y, _) in enumerate(segments) if y.shape[-1] >= VISQOL_MIN_SECONDS * sample_rate and bool(y.abs().max() > 0)]
    if not kept:
        return Calibration(current, skipped=f"no active validation segment of at least {VISQOL_MIN_SECONDS:.2f} s")
    lossless = torch.stack([segments[i][0] for i in kept])  # (N, 2, L)
    lossy = torch.stack([segments[i][1] for i in kept])  # (N, 2, L)
    labels = [labels[i] for i in kept]
    seconds = lossless.shape[-1] / sample_rate
    device = next(model.parameters()).device

    def score(estimate: torch.Tensor) -> np.ndarray:  # (N,) ViSQOL of each segment
        return np.asarray(visqol_moslqo(lossless, estimate, sample_rate, n_excerpts=1, excerpt_seconds=seconds), dtype=float).reshape(-1)

    def restored() -> torch.Tensor:
        return model(lossy.to(device)).float().cpu()

    was_training = model.training
    model.eval()
    try:
        per_segment = {"input": score(lossy)}
        for gain in gains:
            with fill_setting(model, gain):
                per_segment[f"{gain:g}"] = score(restored())
        scores = {k: float(np.nanmean(v)) for k, v in per_segment.items()}
        result = Calibration(best_gain(scores), scores, len(kept), sample_rate=sample_rate)
        if grouped:
            widths = model.input_bandwidths(lossy.to(device)).cpu()  # (N,)
            for name in sorted(set(labels)):
                rows = [i for i, label in enumerate(labels) if label == name]
                group = {k: float(np.nanmean(v[rows])) for k, v in per_segment.items()}
                result.groups[name] = {"bandwidth": float(widths[rows].median()), "segments": len(rows), "scores": group,
                                       "gain": best_gain(group)}
            table = bandwidth_table(result.groups)
            with fill_setting(model, 1.0, table):
                scores["table"] = float(np.nanmean(score(restored())))
            if scores["table"] >= scores[f"{result.gain:g}"] - SAME_VISQOL:
                result.table = table
    finally:
        model.train(was_training)
    return result


def calibrate_run(run: RunDir, segments: list[tuple[torch.Tensor, torch.Tensor]], sample_rate: int,
                  source: str = "", labels: list[str] | None = None) -> Calibration | None:
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
    model.config.fill_gain, model.config.fill_gain_table = 1.0, None  # what training produced, whatever was chosen before
    result = calibrate_fill_gain(model, segments, sample_rate, labels=labels)
    result.source = source
    if result.skipped:
        log.info("fill gain not calibrated: %s", result.skipped)
        return result
    ckpt["config"]["model"]["fill_gain"] = result.gain
    if result.table is not None:
        ckpt["config"]["model"]["fill_gain_table"] = result.table
    ckpt["calibration"] = asdict(result)
    save_checkpoint_file(ckpt, path)
    log.info("%s", calibration_text(ckpt["calibration"]))
    return result
