"""The STFT magnitude every multi-resolution loss reads, with the floor each loss chose as a parameter.

    mag = stft_magnitude(x, 1024, 256)                                   # |STFT|, no floor
    mag = stft_magnitude(x, 512, 50, win_length=240, power_floor=1e-7)   # Parallel WaveGAN's floored magnitude

Periodic Hann window, centred frames with zero (not reflect) padding, so a segment shorter than n_fft / 2
works too.
"""

from __future__ import annotations

import torch


def stft_magnitude(
    x: torch.Tensor, n_fft: int, hop_length: int, win_length: int | None = None, power_floor: float | None = None
) -> torch.Tensor:
    """|STFT| of (N, T) signals -> (N, n_fft/2 + 1, frames). `power_floor`: sqrt(max(|X|², power_floor)), which
    keeps a log and a division finite on silence (and its gradient too); None: |X| as it is."""
    window = torch.hann_window(win_length or n_fft, device=x.device, dtype=x.dtype)
    spec = torch.stft(
        x, n_fft, hop_length, win_length, window, center=True, pad_mode="constant", return_complex=True
    )  # (N, F, frames)
    if power_floor is None:
        return spec.abs()
    return torch.sqrt(torch.clamp(spec.real**2 + spec.imag**2, min=power_floor))
