"""Loudness matching of a trial's stimuli: one gain per stimulus, nothing else, so their relative quality is kept.

    matched, report = match_loudness({"reference": ref, "lossy": lossy}, 44100)   # (C, T) float arrays
    integrated_loudness(matched["lossy"], 44100)                                  # == report target, ±0.1 LU

Listeners prefer the louder of two otherwise equal sounds, so every stimulus of a trial is brought to
the same ITU-R BS.1770-4 integrated loudness (K-weighting, 400 ms blocks, absolute gate −70 LUFS and
relative gate −10 LU; pyloudnorm's implementation). The target is −23 LUFS (EBU R 128), lowered for
the whole trial when a stimulus would otherwise peak above −1 dBFS, so no stimulus is clipped and all
stay matched. A pure gain is linear and time-invariant: it changes no metric of quality relative to a
reference scaled the same way (the one change an ear hears less of is the level itself).
"""

from __future__ import annotations

import numpy as np

TARGET_LUFS = -23.0  # EBU R 128
PEAK_CEILING_DBFS = -1.0  # headroom for the DAC and the 16-bit files' dither
FADE_SECONDS = 0.02  # raised-cosine fade at an excerpt's ends: no click when it starts or loops


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """ITU-R BS.1770-4 integrated loudness (LUFS) of (C, T) audio; -inf for silence. Needs at least 0.4 s."""
    import pyloudnorm

    x = np.asarray(audio, np.float64)
    if x.shape[-1] < round(0.4 * sample_rate):
        raise ValueError(f"BS.1770 needs at least 0.4 s of audio, got {x.shape[-1] / sample_rate:.2f} s")
    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(x.T))  # pyloudnorm takes (T, C)


def peak_dbfs(audio: np.ndarray) -> float:
    peak = float(np.max(np.abs(audio))) if np.size(audio) else 0.0
    return 20 * np.log10(peak) if peak > 0 else -np.inf


def fade_edges(audio: np.ndarray, sample_rate: int, fade_s: float = FADE_SECONDS) -> np.ndarray:
    """(C, T) with raised-cosine fades in and out of `fade_s` (the same on every stimulus of a trial)."""
    n = min(round(fade_s * sample_rate), audio.shape[-1] // 2)
    out = np.array(audio, np.float32)
    if n > 0:
        ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)  # (n,) rising 0 -> 1
        out[:, :n] *= ramp
        out[:, -n:] *= ramp[::-1]
    return out


def match_loudness(
    stimuli: dict[str, np.ndarray],
    sample_rate: int,
    target_lufs: float = TARGET_LUFS,
    peak_ceiling_dbfs: float = PEAK_CEILING_DBFS,
) -> tuple[dict[str, np.ndarray], dict]:
    """Scale each (C, T) stimulus to one common integrated loudness; returns (scaled, report).

    report: {"target_lufs", "loudness_lufs": {name: before}, "gain_db": {name: applied}}. A silent
    stimulus (−inf LUFS) is left as it is, with gain 0 dB.
    """
    before = {name: integrated_loudness(x, sample_rate) for name, x in stimuli.items()}
    gains = {name: (target_lufs - lufs if np.isfinite(lufs) else 0.0) for name, lufs in before.items()}
    # the loudest peak after matching decides whether the whole trial must come down
    over = max(peak_dbfs(x) + gains[name] for name, x in stimuli.items()) - peak_ceiling_dbfs
    target = target_lufs - max(over, 0.0)
    gains = {name: (g - max(over, 0.0) if np.isfinite(before[name]) else 0.0) for name, g in gains.items()}
    scaled = {
        name: (np.asarray(x, np.float64) * 10 ** (gains[name] / 20)).astype(np.float32) for name, x in stimuli.items()
    }
    return scaled, {"target_lufs": float(target), "loudness_lufs": before, "gain_db": gains}
