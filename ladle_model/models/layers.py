"""What several architectures share.

y = clamp_to_audio_range(x + residual)   # (B, C, T) in [-1, 1], gradients pass through
"""

from __future__ import annotations

import torch


def clamp_to_audio_range(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [-1, 1] forward, identity gradient backward (straight-through, Bengio et al. 2013),
    so a sample pushed past full scale still gets the loss gradient that pulls it back."""
    return x + (x.clamp(-1.0, 1.0) - x).detach()
