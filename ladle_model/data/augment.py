"""Clean-input augmentation: some training pairs show the model its own target as the input.

A restorer trained only on heavily coded audio learns to "correct" whatever it is given. On an
input that is already close to transparent (Vorbis 320 kbps, Opus 96 kbps) that correction is
noise of its own: a SpecNeXt trained 20 minutes on paper-32k, mp3-64 and vorbis-96 alone lowered
the SNR of held-out vorbis-320 input by 1.7 dB (BENCHMARKS.md, "Quality: variants left out"). Replacing the lossy
input of a fraction of the batch's segments by the lossless original, with the lossless original
still the target, teaches the identity on clean input: the loss is zero exactly when the model
leaves such a segment alone. Denoisers are trained the same way on clean inputs, so they learn
to do nothing where there is nothing to remove.

    lossy = clean_inputs(lossless, lossy, fraction=0.2, seed=cfg.seed, step=state.step, lowpass=0.5)

Near-transparent codecs do little more than low-pass the music (Vorbis 320 kbps at ~19 kHz, Opus
96 kbps at 20 kHz), a cut the heavily coded presets trained on never show (11-17 kHz). So with
`lowpass` > 0 that share of the clean inputs is brick-wall low-passed at a cut drawn from
LOWPASS_RANGE, the target still the full-band original: the model learns that such an input wants
its top band filled and nothing else, as bandwidth-extension models are trained on low-passed
input (AP-BWE). Measured with `python -m bench.quality` (BENCHMARKS.md, "Quality: variants left out"): at 0.5
the five untrained presets stayed within 0.002 ViSQOL of their input, but the model filled the
trained presets' band less well (LSD paper-32k 0.69 -> 0.78x, vorbis-96 0.73 -> 0.81x), so the
specnext recipe leaves it at 0.

Which segments are swapped, and where they are cut, is a function of (seed, step) alone, so a
resumed run swaps the same ones. At least one segment of a batch keeps its lossy input: the waveform loss is relative to the
batch's lossy error (ladle_model/losses/spectral.py) and needs some.
"""

from __future__ import annotations

import torch

from ladle_model.data.loader import mix_seed


def clean_input_mask(batch: int, fraction: float, seed: int, step: int) -> torch.Tensor:
    """(batch,) bool: which segments get their lossless original as input at `step`."""
    if not 0 <= fraction < 1:
        raise ValueError(f"clean-input fraction must be in [0, 1), got {fraction}")
    if fraction == 0 or batch < 2:
        return torch.zeros(batch, dtype=torch.bool)
    generator = torch.Generator().manual_seed(mix_seed("clean-input", seed, step))
    picked = torch.rand(batch, generator=generator) < fraction
    if picked.all():
        picked[0] = False  # keep one coded input: the waveform loss is relative to the batch's lossy error
    return picked


LOWPASS_RANGE = (0.75, 0.95)  # of Nyquist: 16.5-21 kHz at 44.1 kHz, where near-transparent codecs cut


def low_passed(x: torch.Tensor, bandwidth: torch.Tensor) -> torch.Tensor:
    """(B, C, T) audio, item b brick-wall low-passed at `bandwidth[b]` (a fraction of Nyquist) in the FFT domain."""
    spec = torch.fft.rfft(x.float(), dim=-1)  # (B, C, T/2 + 1)
    bins = torch.linspace(0, 1, spec.shape[-1], device=x.device)  # each bin's frequency, a fraction of Nyquist
    keep = bins.view(1, 1, -1) <= bandwidth.to(x.device).view(-1, 1, 1)
    return torch.fft.irfft(spec * keep, n=x.shape[-1], dim=-1).to(x.dtype)


def clean_inputs(
    lossless: torch.Tensor, lossy: torch.Tensor, fraction: float, seed: int, step: int, lowpass: float = 0.0
) -> torch.Tensor:
    """`lossy` (B, C, T) with the picked segments replaced by their `lossless` originals (a new tensor),
    a `lowpass` share of those low-passed at a cut drawn from LOWPASS_RANGE."""
    if not 0 <= lowpass <= 1:
        raise ValueError(f"clean-input low-pass share must be in [0, 1], got {lowpass}")
    picked = clean_input_mask(lossy.shape[0], fraction, seed, step)
    if not picked.any():
        return lossy
    mixed = torch.where(picked.view(-1, 1, 1).to(lossy.device), lossless, lossy)
    if lowpass > 0:
        generator = torch.Generator().manual_seed(mix_seed("clean-input-lowpass", seed, step))
        n = lossy.shape[0]
        cut = (torch.rand(n, generator=generator) < lowpass) & picked  # (B,)
        low, high = LOWPASS_RANGE
        bandwidth = low + (high - low) * torch.rand(n, generator=generator)  # (B,)
        if cut.any():  # only the segments cut go through the FFT
            mixed[cut.to(lossy.device)] = low_passed(lossless[cut.to(lossy.device)], bandwidth[cut])
    return mixed
