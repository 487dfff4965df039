"""Resamplers for the corpus path: libsoxr (chosen) against torchaudio's default, speed and accuracy.

    python -m bench.resample

For each rate pair the corpus meets (a 32-kHz codec to 44.1 kHz, a 48-kHz source or codec to 44.1 kHz,
44.1 kHz down to 32 kHz), one minute of a stereo logarithmic sweep is resampled by each candidate.
Speed is reported as a ratio to torchaudio's in the same run; accuracy as the SNR against the same
sweep evaluated analytically at the output instants, over the part of the sweep below 90 % of the
lower Nyquist frequency (where an ideal resampler is exact).
"""

from __future__ import annotations

import argparse
import time
from math import gcd

import numpy as np

from bench.common import command_line, report

PAIRS = ((32000, 44100), (48000, 44100), (44100, 32000))


def sweep_phase(positions: np.ndarray, n: int, rate: int) -> np.ndarray:
    """Phase of a log sweep from 20 Hz to 0.45·rate over n samples, at fractional sample `positions`."""
    f0, f1, duration = 20.0, 0.45 * rate, n / rate
    k = np.log(f1 / f0) / duration
    t = positions / rate
    return 2 * np.pi * f0 * (np.exp(k * t) - 1) / k


def best_of(fn, repeats: int = 3) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    import soxr
    import torch
    import torchaudio.functional as AF
    from scipy.signal import resample_poly

    torch.set_num_threads(1)  # one core each: the corpus runs one resampler per worker
    rows = []
    for orig, new in PAIRS:
        n = round(args.seconds * orig)
        phase = sweep_phase(np.arange(n), n, orig)
        x = (0.5 * np.stack([np.sin(phase), np.cos(phase)])).astype(np.float32)  # (2, n)
        m = -(-n * new // orig)
        out_phase = sweep_phase(np.arange(m) * orig / new, n, orig)
        ideal = 0.5 * np.stack([np.sin(out_phase), np.cos(out_phase)])
        # where the sweep is below 90 % of the lower Nyquist, minus the filters' edge effects
        f = 20.0 * (0.45 * orig / 20.0) ** (np.arange(m) * orig / new / n)
        valid = np.flatnonzero(f < 0.9 * min(orig, new) / 2)
        inner = slice(2000, valid[-1] - 2000)
        g = gcd(orig, new)
        candidates = {
            "torchaudio.functional.resample (default)": lambda: AF.resample(torch.from_numpy(x), orig, new).numpy(),
            "soxr HQ (chosen)": lambda: soxr.resample(x.T, orig, new, quality="HQ").T,
            "soxr VHQ": lambda: soxr.resample(x.T, orig, new, quality="VHQ").T,
            "scipy.signal.resample_poly": lambda: resample_poly(x, new // g, orig // g, axis=1),
        }
        reference_s = None
        for name, fn in candidates.items():
            seconds, y = best_of(fn)
            reference_s = reference_s or seconds
            err = y[:, inner] - ideal[:, inner]
            snr = 10 * np.log10(np.sum(ideal[:, inner] ** 2) / np.sum(err**2))
            rows.append(
                {
                    "rates": f"{orig} → {new}",
                    "resampler": name,
                    "x real time": args.seconds / seconds,
                    "speed vs torchaudio": reference_s / seconds,
                    "SNR vs ideal dB": float(snr),
                }
            )
    notes = [
        f"{args.seconds:.0f} s of stereo float32 per case, best of 3, one thread each.",
        "torchaudio's error is its narrow default kernel (lowpass_filter_width=6) near the band edge; "
        "libsoxr HQ is the corpus resampler (storage/resample.py): no torch import, and a streaming form with identical output.",
    ]
    report("resample", command_line(), rows, notes, write=not args.no_write)


if __name__ == "__main__":
    main()
