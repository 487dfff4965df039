"""Evaluation metrics: how close restored (or lossy) audio is to the lossless original.

Every metric takes `(reference, estimate)`: the lossless audio first, the audio being judged second,
as float arrays or tensors of shape (C, T) or (B, C, T). A (C, T) pair gives a float; a batch gives
one value per item, an array of shape (B,). Channels are averaged (each channel scored on its own).

    mse(lossless, restored)              # mean squared error over every sample
    snr_db(lossless, restored)           # signal-to-noise ratio, capped at CAP_DB
    si_sdr_db(lossless, restored)        # scale-invariant SDR, capped at CAP_DB
    lsd(lossless, restored)              # log-spectral distance (docs/design.md's definition)
    cutoff = estimate_cutoff_hz(lossless, lossy, 44100)   # where the codec's low-pass starts
    lsd_hf(lossless, restored, cutoff, 44100)             # LSD over the bins above it only
    perceptual_distance(lossless, restored, feature_net)  # the LadLe paper's perceptual loss
    visqol_moslqo(lossless, restored, 44100)              # ViSQOL v3 audio mode (visqol-python), MOS 1..~4.73

The functions are ladle_model/evaluation/measures.py's (ViSQOL ladle_model/evaluation/visqol.py's); this module
holds the registry (`METRICS`, `get_metric`, `score_all`), the one list of metrics that the
evaluation scores, summarises and reports, and Table I tabulates; adding a metric is one
`register_metric(Metric(...))` there:

    rows = score_all(lossless, restored, ScoreContext(sample_rate=44100))   # {"mse": ..., "snr_db": ..., ...}

Identical signals give MSE 0, LSD 0 and SNR / SI-SDR of CAP_DB (100 dB) rather than +inf, so means
over tracks stay finite; an error below 1e-10 of the signal's energy is beyond any codec anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

# The metric functions live in measures.py and ViSQOL in its own module; callers ask this one for them
from ladle_model.evaluation.measures import (  # noqa: F401
    CAP_DB,
    CUTOFF_DEFICIT_DB,
    CUTOFF_FLOOR_DB,
    CUTOFF_SMOOTH_BINS,
    LSD_HOP,
    LSD_N_FFT,
    POWER_FLOOR,
    _periodic_hann,
    estimate_cutoff_hz,
    long_term_spectrum,
    lsd,
    lsd_hf,
    mse,
    perceptual_distance,
    si_sdr_db,
    snr_db,
)
from ladle_model.evaluation.visqol import (  # noqa: F401
    VISQOL_MIN_SECONDS,
    VISQOL_RATE,
    active_excerpts,
    visqol_available,
    visqol_moslqo,
)

# ----------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class ScoreContext:
    """What a metric may need besides the two signals; one per track."""

    sample_rate: int
    cutoff_hz: float = float("nan")  # the codec's low-pass (estimate_cutoff_hz); NaN when none was found
    feature_net: nn.Module | None = None  # phi for the perceptual metric; None leaves that metric n/a
    device: str | torch.device = "cpu"
    visqol_excerpts: int = 3  # 0 skips ViSQOL
    visqol_excerpt_seconds: float = 5.0


@dataclass(frozen=True)
class Metric:
    """One row of the registry: everything the evaluation, its reports and Table I need to know."""

    key: str  # column name in tracks.parquet, eval.json and Table I's Parquet
    label: str  # its name in reports and tables
    better: str  # "higher" or "lower"
    compute: Callable[[np.ndarray, np.ndarray, ScoreContext], float]  # (lossless, estimate, context); NaN when n/a
    method: str  # one sentence for the report's methods section; {fields} are filled from the evaluation config
    in_table1: bool = True  # a column of Table I
    min_seconds: float = 0.0  # shorter tracks get n/a, with the reason, instead of a score
    enabled: Callable[[ScoreContext], bool] = lambda ctx: True  # False: skipped by config, n/a without a reason
    noise: float = 0.0  # differences below this are "the same as the input": in the metric's unit, or ...
    noise_relative: bool = False  # ... a fraction of the input's value

    def __post_init__(self) -> None:
        if self.better not in ("higher", "lower"):
            raise ValueError(f"Metric {self.key!r}: better must be 'higher' or 'lower', got {self.better!r}")
        if self.noise < 0 or self.min_seconds < 0:
            raise ValueError(f"Metric {self.key!r}: noise and min_seconds must be >= 0")

    def same_within(self, baseline: float) -> float:
        """The largest difference from `baseline` that is still "the same as the input"."""
        return self.noise * abs(baseline) if self.noise_relative else self.noise

    @property
    def noise_text(self) -> str:
        """The threshold in words, for the methods section."""
        if self.noise == 0:
            return "any difference counts"
        return (
            f"differences under {self.noise:.1%} of the input's value count as the same"
            if self.noise_relative
            else (f"differences under {self.noise:g} count as the same")
        )


METRICS: dict[str, Metric] = {}  # key -> Metric, in report order


def register_metric(metric: Metric) -> Metric:
    """Add a metric at the end of the table; its key must be new."""
    if metric.key in METRICS:
        raise ValueError(f"a metric {metric.key!r} is already registered")
    METRICS[metric.key] = metric
    return metric


def unregister_metric(key: str) -> Metric:
    return METRICS.pop(key)


def get_metric(key: str) -> Metric:
    try:
        return METRICS[key]
    except KeyError:
        raise KeyError(f"unknown metric {key!r}; known: {', '.join(METRICS)}") from None


def score_all(reference, estimate, ctx: ScoreContext) -> tuple[dict[str, float], dict[str, str]]:
    """Every registered metric of `estimate` against `reference` (both (C, T) at ctx.sample_rate).

    Returns (values by key, reasons by key). A metric the track is too short for, or that fails on it,
    is NaN with its reason; the others are scored all the same (one odd track never sinks an evaluation).
    """
    seconds = np.shape(reference)[-1] / ctx.sample_rate
    values, reasons = {}, {}
    for key, metric in METRICS.items():
        values[key] = float("nan")
        if not metric.enabled(ctx):
            continue
        if seconds < metric.min_seconds:
            reasons[key] = f"{seconds:.2f}-s track is shorter than the {metric.min_seconds:g} s {metric.label} needs"
            continue
        try:
            values[key] = float(metric.compute(reference, estimate, ctx))
        except Exception as e:  # noqa: BLE001  any metric's failure on one track is that track's n/a, not the evaluation's end
            reasons[key] = f"{metric.label} failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
    return values, reasons


def _perceptual(ref, est, ctx: ScoreContext) -> float:
    return (
        perceptual_distance(ref, est, ctx.feature_net, device=ctx.device)
        if ctx.feature_net is not None
        else float("nan")
    )


def _visqol(ref, est, ctx: ScoreContext) -> float:
    return visqol_moslqo(ref, est, ctx.sample_rate, ctx.visqol_excerpts, ctx.visqol_excerpt_seconds)


# Noise thresholds (issue 15): a ViSQOL of 4.633 against 4.633 is a tie, not a loss. 0.01 MOS for ViSQOL,
# 0.01 dB for SNR and SI-SDR, 0.5 % of the input's value for the errors and distances.
for _metric in (
    Metric(
        "mse",
        "MSE",
        "lower",
        lambda r, e, ctx: mse(r, e),
        "MSE: the mean squared error over every sample and channel.",
        noise=0.005,
        noise_relative=True,
    ),
    Metric(
        "perceptual",
        "perceptual loss",
        "lower",
        _perceptual,
        "Perceptual loss: mean squared difference of the run's feature net phi (the LadLe paper's perceptual term).",
        noise=0.005,
        noise_relative=True,
    ),
    Metric(
        "snr_db",
        "SNR (dB)",
        "higher",
        lambda r, e, ctx: snr_db(r, e),
        "SNR: 10·log10 of the signal's over the error's energy per channel, averaged over channels, capped at 100 dB.",
        in_table1=False,
        noise=0.01,
    ),
    Metric(
        "si_sdr_db",
        "SI-SDR (dB)",
        "higher",
        lambda r, e, ctx: si_sdr_db(r, e),
        "SI-SDR (Le Roux et al. 2019): the SNR after the best scaling of the reference, per channel, capped at 100 dB.",
        noise=0.01,
    ),
    Metric(
        "lsd",
        "LSD",
        "lower",
        lambda r, e, ctx: lsd(r, e),
        "LSD: STFT n_fft 2048, hop 512, periodic Hann, power clamped at 1e-8, mean over frames of the RMS over bins "
        "of the log10 power difference.",
        noise=0.005,
        noise_relative=True,
    ),
    Metric(
        "lsd_hf",
        "LSD above cutoff",
        "lower",
        lambda r, e, ctx: lsd_hf(r, e, ctx.cutoff_hz, ctx.sample_rate),
        "LSD above cutoff: the same over the bins above the codec's low-pass, estimated per track from the long-term "
        "lossless and lossy spectra (the highest frequency where the lossy is within 6 dB of the lossless; "
        "ladle_model/evaluation/metrics.py); `none` when no low-pass was found.",
        noise=0.005,
        noise_relative=True,
    ),
    Metric(
        "visqol",
        "ViSQOL MOS-LQO",
        "higher",
        _visqol,
        "ViSQOL v3 audio mode (visqol-python) at 48 kHz on up to {visqol_excerpts} excerpts of {visqol_excerpt_seconds:g} s "
        "of active audio per track, mono mix; n/a when skipped or not installed.",
        min_seconds=VISQOL_MIN_SECONDS,
        enabled=lambda ctx: ctx.visqol_excerpts > 0,
        noise=0.01,
    ),
):
    register_metric(_metric)
