"""The metric functions: sample-domain, spectral, the codec's cutoff and the perceptual distance.

Every metric takes `(reference, estimate)`: the lossless audio first, the audio being judged second, as float
arrays or tensors of shape (C, T) or (B, C, T). A (C, T) pair gives a float; a batch gives one value per item,
an array of shape (B,). Channels are averaged (each channel scored on its own).

    snr_db(lossless, restored)                            # capped at CAP_DB
    cutoff = estimate_cutoff_hz(lossless, lossy, 44100)   # where the codec's low-pass starts

Callers ask ladle_model/evaluation/metrics.py, which holds the registry of what the evaluation scores.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

CAP_DB = 100.0  # SNR and SI-SDR of identical signals (see the module docstring)
POWER_FLOOR = 1e-8  # power spectra are clamped here before the log (docs/design.md)
LSD_N_FFT = 2048
LSD_HOP = 512
CUTOFF_DEFICIT_DB = 6.0  # see estimate_cutoff_hz
CUTOFF_FLOOR_DB = 90.0  # see estimate_cutoff_hz
CUTOFF_SMOOTH_BINS = 17  # see estimate_cutoff_hz


# ----------------------------------------------------------------------------- helpers


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _pair(reference, estimate) -> tuple[np.ndarray, np.ndarray, bool]:
    """Both as float64 (B, C, T) and whether the input was batched."""
    ref, est = _as_numpy(reference), _as_numpy(estimate)
    if ref.shape != est.shape:
        raise ValueError(f"reference {ref.shape} and estimate {est.shape} differ in shape")
    if ref.ndim not in (2, 3):
        raise ValueError(f"expected (C, T) or (B, C, T) audio, got shape {ref.shape}")
    batched = ref.ndim == 3
    if not batched:
        ref, est = ref[None], est[None]
    return ref.astype(np.float64, copy=False), est.astype(np.float64, copy=False), batched


def _out(values: np.ndarray, batched: bool):
    """(B,) values back to what the caller passed: a float for one (C, T) pair."""
    return values if batched else float(values[0])


def _ratio_db(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """10·log10(num/den), CAP_DB where den is 0 (or the ratio exceeds the cap), -CAP_DB where num is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        db = 10.0 * np.log10(numerator / denominator)
    db = np.where(denominator <= 0, CAP_DB, db)
    return np.clip(np.nan_to_num(db, nan=CAP_DB), -CAP_DB, CAP_DB)


# ----------------------------------------------------------------------------- sample-domain metrics


def mse(reference, estimate):
    """Mean squared error over every channel and sample (the LadLe paper's reconstruction loss)."""
    ref, est, batched = _pair(reference, estimate)
    return _out(np.mean((ref - est) ** 2, axis=(1, 2)), batched)


def snr_db(reference, estimate):
    """10·log10(Σ ref² / Σ (ref − est)²) per channel, averaged over channels; capped at ±CAP_DB."""
    ref, est, batched = _pair(reference, estimate)
    signal = np.sum(ref**2, axis=2)  # (B, C)
    noise = np.sum((ref - est) ** 2, axis=2)  # (B, C)
    return _out(_ratio_db(signal, noise).mean(axis=1), batched)


def si_sdr_db(reference, estimate):
    """Scale-invariant SDR per channel, averaged over channels; capped at ±CAP_DB.

    Le Roux et al., "SDR – half-baked or well done?" (ICASSP 2019), eqs. 1-3: both signals made
    zero-mean, the reference scaled by alpha = <est, ref> / ||ref||² to the target e_t = alpha·ref, and
    SI-SDR = 10·log10(||e_t||² / ||est − e_t||²). Scaling the estimate by any non-zero factor leaves it unchanged.
    """
    ref, est, batched = _pair(reference, estimate)
    ref = ref - ref.mean(axis=2, keepdims=True)
    est = est - est.mean(axis=2, keepdims=True)
    ref_energy = np.sum(ref**2, axis=2, keepdims=True)  # (B, C, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(ref_energy > 0, np.sum(est * ref, axis=2, keepdims=True) / ref_energy, 0.0)
    target = alpha * ref  # (B, C, T)
    residual = est - target
    return _out(_ratio_db(np.sum(target**2, axis=2), np.sum(residual**2, axis=2)).mean(axis=1), batched)


# ----------------------------------------------------------------------------- spectral metrics


def _periodic_hann(n: int) -> np.ndarray:
    """The periodic Hann window (torch.hann_window's default): 0.5 − 0.5·cos(2πk/n)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def _power_frames(x: np.ndarray, n_fft: int, hop: int, block_frames: int = 512):
    """Yield power spectra |STFT|² of a 1-D signal, (frames, n_fft/2 + 1) blocks at a time.

    Centred frames as torch.stft(center=True) lays them out, with zero padding: frame k covers
    x[k·hop − n_fft/2 : k·hop + n_fft/2], so there are 1 + T // hop frames. Periodic Hann window,
    no normalisation. Blocks keep memory bounded for hour-long tracks.
    """
    padded = np.pad(x, (n_fft // 2, n_fft // 2))
    n_frames = 1 + len(x) // hop
    window = _periodic_hann(n_fft)
    for first in range(0, n_frames, block_frames):
        last = min(first + block_frames, n_frames)
        frames = np.lib.stride_tricks.sliding_window_view(padded[first * hop : (last - 1) * hop + n_fft], n_fft)[::hop]
        spectrum = np.fft.rfft(frames * window, axis=1)  # (frames, n_fft/2 + 1)
        yield spectrum.real**2 + spectrum.imag**2


def _lsd_channel(ref: np.ndarray, est: np.ndarray, n_fft: int, hop: int, lowest_bin: int) -> float:
    """mean over frames of sqrt(mean over bins ≥ lowest_bin of (log10 P − log10 P̂)²)."""
    total, n_frames = 0.0, 0
    for p_ref, p_est in zip(_power_frames(ref, n_fft, hop), _power_frames(est, n_fft, hop)):
        diff = np.log10(np.maximum(p_ref[:, lowest_bin:], POWER_FLOOR)) - np.log10(
            np.maximum(p_est[:, lowest_bin:], POWER_FLOOR)
        )
        total += float(np.sum(np.sqrt(np.mean(diff**2, axis=1))))
        n_frames += len(diff)
    return total / n_frames


def lsd(reference, estimate, n_fft: int = LSD_N_FFT, hop: int = LSD_HOP):
    """Log-spectral distance as docs/design.md defines it: STFT n_fft 2048, hop 512 (periodic Hann, centred
    frames, zero padding), power spectra clamped at 1e-8, LSD = mean over frames of
    sqrt(mean over bins of (log10 P − log10 P̂)²); per channel, averaged over channels."""
    return lsd_hf(reference, estimate, cutoff_hz=None, sample_rate=None, n_fft=n_fft, hop=hop)


def lsd_hf(
    reference, estimate, cutoff_hz: float | None, sample_rate: int | None, n_fft: int = LSD_N_FFT, hop: int = LSD_HOP
):
    """LSD over the bins strictly above `cutoff_hz` only (bin k is at k·sample_rate/n_fft Hz).

    The band a codec's low-pass removed is where restoration has to invent content, and a whole-band
    LSD dilutes it with the bins the codec kept. NaN when no cutoff was found (None or NaN) or no bin
    lies above it. With cutoff_hz None and sample_rate None this is the plain `lsd` over every bin.
    """
    ref, est, batched = _pair(reference, estimate)
    lowest_bin = 0
    if sample_rate is not None:
        if cutoff_hz is None or not math.isfinite(cutoff_hz):
            return _out(np.full(len(ref), np.nan), batched)
        lowest_bin = int(math.floor(cutoff_hz * n_fft / sample_rate)) + 1
        if lowest_bin > n_fft // 2:
            return _out(np.full(len(ref), np.nan), batched)
    values = np.array(
        [np.mean([_lsd_channel(r, e, n_fft, hop, lowest_bin) for r, e in zip(rb, eb)]) for rb, eb in zip(ref, est)]
    )
    return _out(values, batched)


def long_term_spectrum(audio, n_fft: int = LSD_N_FFT, hop: int = LSD_HOP) -> np.ndarray:
    """Mean power spectrum of (C, T) audio over frames and channels: (n_fft/2 + 1,)."""
    x = _as_numpy(audio).astype(np.float64, copy=False)
    total, n_frames = np.zeros(n_fft // 2 + 1), 0
    for channel in x.reshape(-1, x.shape[-1]):
        for power in _power_frames(channel, n_fft, hop):
            total += power.sum(axis=0)
            n_frames += len(power)
    return total / max(n_frames, 1)


def _running_median(x: np.ndarray, width: int) -> np.ndarray:
    """Median over `width` (odd) neighbouring values, the ends padded with the edge values."""
    half = width // 2
    return np.median(np.lib.stride_tricks.sliding_window_view(np.pad(x, half, mode="edge"), width), axis=1)


def estimate_cutoff_hz(
    reference,
    lossy,
    sample_rate: int,
    n_fft: int = LSD_N_FFT,
    hop: int = LSD_HOP,
    deficit_db: float = CUTOFF_DEFICIT_DB,
    floor_db: float = CUTOFF_FLOOR_DB,
    smooth_bins: int = CUTOFF_SMOOTH_BINS,
) -> float:
    """The frequency above which the lossy codec removed the spectrum; NaN when it removed no top band.

    From the long-term power spectra of the lossless reference P(k) and the lossy signal Q(k), the
    deficit D(k) = 10·log10(P/Q) dB (both clamped at 1e-8), median-smoothed over `smooth_bins` bins
    (~370 Hz) so single noisy bins do not count. A bin is *kept* when D < `deficit_db`. The cutoff is
    the upper edge of the highest kept bin, provided every bin above it up to Nyquist was removed;
    bins where the reference has no power (more than `floor_db` below its strongest bin) are left
    out on both counts.

    Why 6 dB and not the 60-100 dB depth of a codec's brick-wall low-pass: the deficit is bounded by
    how far the reference's top band stands above the measurement floor (the Hann window's leakage of
    the strong low band). On the demo corpus's rendered piano (Maple Leaf Rag, 30 s) the top band is
    only ~15-20 dB above that floor, and the codecs' low-passes show as steps from ~0 dB to 10-20 dB;
    at 6 dB this finds MP3 64 kbps at 10.2 kHz, MP3 128 kbps at 16.0 kHz, AAC 128 kbps at 17.2 kHz,
    Vorbis q2/q5 at 16.4/16.7 kHz, Vorbis 96 kbps at 32 kHz (paper-32k) at 14.6 kHz and Opus 96 kbps
    at 19.9 kHz.
    Returns NaN for a lossless-vs-itself pair, or a codec that keeps the whole band.
    """
    p = long_term_spectrum(reference, n_fft, hop)
    q = long_term_spectrum(lossy, n_fft, hop)
    has_power = p > max(p.max(), POWER_FLOOR) * 10 ** (-floor_db / 10)
    deficit = _running_median(10 * np.log10(np.maximum(p, POWER_FLOOR) / np.maximum(q, POWER_FLOOR)), smooth_bins)
    kept = has_power & (deficit < deficit_db)
    removed = has_power & (deficit >= deficit_db)
    if not kept.any():
        return 0.0 if removed.any() else float("nan")
    top_kept = int(np.flatnonzero(kept).max())
    if not removed[top_kept + 1 :].any():
        return float("nan")  # nothing above the highest kept bin was removed: no low-pass
    return (top_kept + 0.5) * sample_rate / n_fft  # the kept bin's upper edge


# ----------------------------------------------------------------------------- learned and perceptual metrics


@torch.no_grad()
def perceptual_distance(
    reference, estimate, feature_net: nn.Module, chunk_samples: int = 1 << 18, device: str | torch.device = "cpu"
):
    """The LadLe paper's perceptual loss, mean (phi(est) − phi(ref))² over features and time.

    phi is the run's FeatureNet (ladle_model/losses/perceptual.py), a stack of same-padded convolutions, so a
    whole track is scored in chunks of `chunk_samples` with a halo of the receptive field on each side:
    the result equals `losses.perceptual_loss` on the whole track at once, with bounded memory.
    Needs 2 channels (phi's input), as every model's output has.
    """
    ref, est, batched = _pair(reference, estimate)
    halo = sum(m.kernel_size[0] // 2 for m in feature_net.modules() if isinstance(m, nn.Conv1d))
    feature_net = feature_net.to(device).eval()
    values = []
    for r, e in zip(ref, est):
        n = r.shape[-1]
        total, count = 0.0, 0
        for start in range(0, n, chunk_samples):
            stop = min(start + chunk_samples, n)
            lo, hi = max(start - halo, 0), min(stop + halo, n)
            x = torch.from_numpy(np.stack([r[:, lo:hi], e[:, lo:hi]]).astype(np.float32)).to(
                device
            )  # (2, C, chunk + halos)
            phi = feature_net(x)[:, :, start - lo : start - lo + (stop - start)].double()  # (2, F, stop - start)
            total += float(((phi[1] - phi[0]) ** 2).sum())
            count += phi[0].numel()
        values.append(total / count if count else float("nan"))
    return _out(np.array(values), batched)
