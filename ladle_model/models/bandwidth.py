"""Where a codec's low-pass cut an input: read off one window's spectrum, or measured once over a whole track.

A codec's low-pass leaves the bins above its cut at the noise floor in every frame, while music
reaches them in its louder frames. So the cut shows as a cliff in a high quantile over frames of
each bin's power. SpecNeXt (ladle_model/models/specnext.py) fills each input by its bandwidth, so the
bandwidth decides how much of the band is filled and where the band "above the cut" begins.

One 1-s window is too little to read it from. On the quality benchmark's held-out tracks (restored
in 1-s windows) the window's own reading missed the track's cut by more than 440 Hz in up to 68 %
of the windows of a paper-32k track, and the median window of a sparse MP3 at 64 kbps read the
music's 8-kHz edge instead of the codec's 11-kHz cut. Over a whole track, the 99th percentile over
frames read the cuts of one preset's six tracks within 0.2 kHz of each other on MP3 64 kbps and
Vorbis 96 kbps, and within 0.7 kHz on MP3 128 kbps, AAC 128 kbps and Opus 96 kbps (the 90th
percentile missed the sparse MP3's altogether). So `ladle enhance`, `ladle evaluate` and the calibration
measure the cut once per track (`track_bandwidth`, or `BandwidthMeter` over a stream in bounded
memory) and run the model at it (`AtBandwidth`); a window read alone (`input_bandwidth`) is the fallback.

    bandwidth = track_bandwidth(lossy, n_fft=1024, hop=256)        # (C, T) at the model's rate -> 0.51 (11.2 kHz)
    restored = AtBandwidth(model, bandwidth)(windows)               # every window filled for an 11.2-kHz cut
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ladle_model.models.restorer import FullBand, PassThrough

# On 5-s excerpts of held-out music the cut's drop was 21-59 dB within half a kilohertz at all eight
# presets' cuts, and the lossless originals' steepest drop above 4 kHz was 12 dB (the mean over
# frames is no good: quiet music near the cut leaves a drop of only 10-12 dB to the floor).
CLIFF_BINS = 12  # the drop is the mean level of the 12 bins (~520 Hz) below an edge minus that of the 12 above
CLIFF_DB = 20.0  # a drop this steep is a codec's low-pass
CLIFF_QUANTILE = 0.9  # of each bin's power over one window's frames
TRACK_QUANTILE = 0.99  # over a whole track's frames: the codec's highest passed band shows even in sparse music
CLIFF_LOWEST = 0.18  # of Nyquist (4 kHz at 44.1 kHz): no codec cuts lower; a bass line's edge is not a cut
POWER_FLOOR = 1e-12  # -120 dB: silent bins

# The track meter keeps a histogram of each bin's level instead of every frame: bounded memory for any length.
HISTOGRAM_DB = (-130.0, 40.0)  # levels outside are counted at the ends (below the floor / above full scale)
HISTOGRAM_STEP_DB = 0.5  # far finer than the 20-dB cliff it is searched for
# A cut read this far below the lowest its codec makes at the file's bitrate (storage/presets.py
# `lowest_codec_cut_hz`) was there before the encoder: a recording band-limited at its source, or a transcode.
# Its lost band may never have existed, and the calibration never saw such input, so it is read as no cut at all,
# which the gain table passes through unchanged. Without it, real recordings 5.7-7.1 kHz wide at their source,
# encoded as AAC at 256 kbps, lost SNR to the fill (one of them 12 dB; BENCHMARKS.md, "Quality: one model for
# every bitrate").
SOURCE_MARGIN_HZ = 2000.0


def cliff_bandwidth(level_db: torch.Tensor) -> torch.Tensor:
    """(N, F) per-bin levels in dB -> (N,): the edge above `CLIFF_LOWEST` with the steepest drop from the
    `CLIFF_BINS` below it to those above, as a fraction of Nyquist, where that drop reaches `CLIFF_DB`; else 1.0."""
    n_bins, k = level_db.shape[-1], CLIFF_BINS
    lowest = max(k, math.ceil(CLIFF_LOWEST * (n_bins - 1)))
    if n_bins - k < lowest:
        return level_db.new_ones(level_db.shape[0])
    sums = F.pad(level_db.cumsum(dim=-1), (1, 0))  # (N, F + 1): sums[:, i] = sum of the first i bins
    edges = torch.arange(lowest, n_bins - k + 1, device=level_db.device)  # candidate cut: between bin e-1 and e
    drop = (sums[:, edges] - sums[:, edges - k]) / k - (sums[:, edges + k] - sums[:, edges]) / k  # (N, E)
    best, where = drop.max(dim=-1)
    fraction = edges[where].to(level_db.dtype) / (n_bins - 1)
    return torch.where(best >= CLIFF_DB, fraction, torch.ones_like(fraction))


def codec_cut(bandwidth: float, nyquist_hz: float, lowest_hz: float | None) -> float:
    """`bandwidth` (a fraction of `nyquist_hz`) where a codec can have cut there; 1.0 (no codec cut) where it lies
    more than SOURCE_MARGIN_HZ below `lowest_hz`, the lowest cut the input's codec makes at its bitrate (None:
    unknown, the reading stands)."""
    if lowest_hz is None or bandwidth >= 1.0:
        return bandwidth
    return 1.0 if bandwidth * nyquist_hz < min(lowest_hz, nyquist_hz) - SOURCE_MARGIN_HZ else bandwidth


def input_bandwidth(spec: torch.Tensor, quantile: float = CLIFF_QUANTILE) -> torch.Tensor:
    """Where the codec's low-pass cut each input, as a fraction of Nyquist; 1.0 where none did.

    `spec` is (N, C, F, frames). Each bin's power is taken at its `quantile` over frames and
    averaged over channels; `cliff_bandwidth` finds the cut. Returns (N,).
    """
    power = spec.abs().pow(2)  # (N, C, F, frames)
    rank = max(1, math.ceil(quantile * power.shape[-1]))
    level = 10 * power.kthvalue(rank, dim=-1).values.mean(dim=1).clamp_min(POWER_FLOOR).log10()  # (N, F) dB
    return cliff_bandwidth(level)


class BandwidthMeter:
    """A whole track's cut from its audio pushed in (C, n) chunks: a histogram of every bin's level over all
    frames, so memory stays bounded; `bandwidth()` reads the `TRACK_QUANTILE` level of each bin off it."""

    def __init__(self, n_fft: int, hop: int, quantile: float = TRACK_QUANTILE) -> None:
        self.n_fft, self.hop, self.quantile = n_fft, hop, quantile
        self.window = torch.hann_window(n_fft)
        lo, hi = HISTOGRAM_DB
        self.n_levels = round((hi - lo) / HISTOGRAM_STEP_DB)
        self.counts: torch.Tensor | None = None  # (C, F, n_levels) frames per level bin
        self.n_frames = 0

    def push(self, audio: np.ndarray | torch.Tensor) -> None:
        """Count the frames of a (C, n) chunk (at the rate the model reads)."""
        x = torch.as_tensor(np.asarray(audio, np.float32))
        if x.shape[-1] == 0:
            return
        spec = torch.stft(
            x, self.n_fft, self.hop, window=self.window, center=True, pad_mode="constant", return_complex=True
        )
        level = 10 * spec.abs().pow(2).clamp_min(POWER_FLOOR).log10()  # (C, F, frames) dB
        index = ((level - HISTOGRAM_DB[0]) / HISTOGRAM_STEP_DB).long().clamp_(0, self.n_levels - 1)  # (C, F, frames)
        cell = torch.arange(level.shape[0] * level.shape[1]).reshape(*level.shape[:2], 1) * self.n_levels  # (C, F, 1)
        counts = torch.bincount((index + cell).flatten(), minlength=cell.numel() * self.n_levels).reshape(
            *level.shape[:2], -1
        )
        self.counts = counts if self.counts is None else self.counts + counts
        self.n_frames += level.shape[-1]

    def bandwidth(self) -> float:
        """The track's cut as a fraction of Nyquist; 1.0 when no codec cut it (or nothing was pushed)."""
        if self.counts is None:
            return 1.0
        rank = max(1, math.ceil(self.quantile * self.n_frames))
        first = (self.counts.cumsum(dim=-1) >= rank).float().argmax(dim=-1)  # (C, F): the level bin holding that frame
        level = HISTOGRAM_DB[0] + (first.double() + 0.5) * HISTOGRAM_STEP_DB  # (C, F) dB, bin centres
        power = torch.pow(10.0, level / 10).mean(
            dim=0, keepdim=True
        )  # (1, F): averaged over channels, as input_bandwidth does
        return float(cliff_bandwidth(10 * power.clamp_min(POWER_FLOOR).log10())[0])


def track_bandwidth(audio: np.ndarray | torch.Tensor, n_fft: int, hop: int, chunk_samples: int = 1 << 20) -> float:
    """A whole (C, T) track's cut (`BandwidthMeter` over it in chunks), as a fraction of Nyquist."""
    meter = BandwidthMeter(n_fft, hop)
    for start in range(0, audio.shape[-1], chunk_samples):
        meter.push(audio[..., start : start + chunk_samples])
    return meter.bandwidth()


def measures_bandwidth(model: nn.Module) -> bool:
    """Whether `model` fills by its input's bandwidth (a SpecNeXt with a gain table), so a track's cut should be
    measured first."""
    return model.reads_bandwidth()


def stft_layout(model: nn.Module) -> tuple[int, int]:
    """(n_fft, hop) of the spectrum `model` reads its input's bandwidth from."""
    return model.config.n_fft, model.config.hop


class AtBandwidth(FullBand, nn.Module):
    """`model` run on windows of one track at that track's measured `bandwidth` (a fraction of Nyquist),
    instead of each window's own reading: every window of a track is filled alike."""

    def __init__(self, model: nn.Module, bandwidth: float) -> None:
        super().__init__()
        self.model, self.bandwidth = model, float(bandwidth)

    def forward(
        self, x: torch.Tensor, bandwidth: torch.Tensor | None = None, start: torch.Tensor | None = None
    ) -> torch.Tensor:  # (B, C, T) -> (B, C, T); the track's bandwidth replaces any given
        at_track = torch.full((x.shape[0],), self.bandwidth, dtype=x.dtype, device=x.device)
        return self.model(x, bandwidth=at_track, start=start)


def at_bandwidth(model: nn.Module, bandwidth: float) -> nn.Module:
    """`model` run at a track's measured `bandwidth`; the identity where its gain table leaves such input unchanged
    (nothing to compute, and the input comes back bit for bit)."""
    return PassThrough() if passes_through(model, bandwidth) else AtBandwidth(model, bandwidth)


def passes_through(model: nn.Module, bandwidth: float) -> bool:
    """Whether `model` leaves input cut at `bandwidth` unchanged (SpecNeXt's table past its gate, ladle_model/calibration/calibrate.py)."""
    return model.unchanged_at(bandwidth)


def at_track_bandwidth(
    model: nn.Module, audio: np.ndarray | torch.Tensor, nyquist_hz: float, lowest_hz: float | None = None
) -> nn.Module:
    """`model` at the cut of the whole (C, T) track `audio` (at the rate the model reads, `nyquist_hz` its Nyquist
    frequency) where it fills by bandwidth, as `codec_cut` reads it against `lowest_hz`, the lowest cut the track's
    codec makes (None: unknown); else `model`."""
    if not measures_bandwidth(model):
        return model
    return at_bandwidth(model, codec_cut(track_bandwidth(audio, *stft_layout(model)), nyquist_hz, lowest_hz))
