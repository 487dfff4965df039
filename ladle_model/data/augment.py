"""Clean-input augmentation: some training pairs show the model its own target as the input.

A restorer trained only on heavily coded audio learns to "correct" whatever it is given. On an
input that is already close to transparent (Vorbis 320 kbps, Opus 96 kbps) that correction is
noise of its own: without it, a SpecNeXt trained on heavily coded presets alone lowered the SNR of
near-transparent input (BENCHMARKS.md, "Quality"). Replacing the lossy
input of a fraction of the batch's segments by the lossless original, with the lossless original
still the target, teaches the identity on clean input: the loss is zero exactly when the model
leaves such a segment alone. Denoisers are trained the same way on clean inputs, so they learn
to do nothing where there is nothing to remove.

    lossy = clean_inputs(lossless, lossy, fraction=0.2, seed=cfg.seed, step=state.step)

Which segments are swapped is a function of (seed, step) alone, so a
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


def clean_inputs(lossless: torch.Tensor, lossy: torch.Tensor, fraction: float, seed: int, step: int) -> torch.Tensor:
    """`lossy` (B, C, T) with the picked segments replaced by their `lossless` originals (a new tensor)."""
    picked = clean_input_mask(lossy.shape[0], fraction, seed, step)
    if not picked.any():
        return lossy
    return torch.where(picked.view(-1, 1, 1).to(lossy.device), lossless, lossy)
