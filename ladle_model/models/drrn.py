"""DRRN1d: the Deep Recursive Residual Network (Tai, Yang & Liu, CVPR 2017) on 1-D stereo waveform.

DRRN stacks B recursive blocks. Each block embeds its input with one conv, H0 = conv_in(x), then
applies the same residual unit U times with shared weights (multi-path local residual learning,
paper eq. 7): H_u = G(H_{u-1}) + H0, where G is two pre-activated convs, ReLU -> conv -> ReLU ->
conv, without BatchNorm (the paper's units drop BN from He et al.'s pre-activation unit). A
reconstruction conv maps the last block back to the input channels and the network adds its input
(global residual learning, as in VDSR): the net learns only the correction. Here images become
(B, 2, T) waveform, 3x3 kernels become kernel-3 Conv1d with "same" padding, so T is kept.

    model = DRRN1d(DRRN1dConfig(channels=64, n_blocks=1, n_units=9))
    restored = model(lossy)  # (B, 2, T) -> (B, 2, T), values in [-1, 1]

Defaults are the paper's B1U9 configuration (1 block of 9 units, depth 2*9+2 = 20) with 64 instead of
128 channels to keep 44.1 kHz activations small (about 25 k parameters). Output: clamp(x + r) to
[-1, 1] with a straight-through gradient; the reconstruction conv starts at zero so the untouched
network returns its input (the lossy baseline).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ladle_model.models.layers import clamp_to_audio_range
from ladle_model.models.restorer import FullBand


@dataclass
class DRRN1dConfig:
    channels: int = 64  # feature maps per conv (paper: 128 for 2-D images)
    n_blocks: int = 1  # B recursive blocks, each with its own weights (paper: B1U9, B1U25)
    n_units: int = 9  # U residual units per block, all sharing the block's weights
    kernel_size: int = 3  # paper: 3x3; odd so "same" padding keeps T

    def __post_init__(self) -> None:
        if min(self.channels, self.n_blocks, self.n_units) < 1:
            raise ValueError("channels, n_blocks and n_units must be >= 1")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so that T is kept, got {self.kernel_size}")


class RecursiveBlock(nn.Module):
    """One DRRN recursive block: H0 = conv_in(x); U times H_u = G(H_{u-1}) + H0 with shared G.

    `pre_activate` puts a ReLU before conv_in (pre-activation, He et al. 2016): on for blocks that
    read features, off for the first block, which reads the raw waveform (a ReLU would drop its
    negative half).
    """

    def __init__(self, in_channels: int, channels: int, kernel_size: int, n_units: int, pre_activate: bool) -> None:
        super().__init__()
        self.n_units = n_units
        self.pre_activate = pre_activate
        pad = kernel_size // 2
        self.conv_in = nn.Conv1d(in_channels, channels, kernel_size, padding=pad)
        # G's two convs: one set of weights shared by all U units (the recursion).
        self.conv1 = nn.Conv1d(channels, channels, kernel_size, padding=pad)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size, padding=pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = self.conv_in(F.relu(x) if self.pre_activate else x)  # (B, C, T)
        h = h0
        for _ in range(self.n_units):
            h = self.conv2(F.relu(self.conv1(F.relu(h)))) + h0  # (B, C, T): local residual to H0
        return h


class DRRN1d(FullBand, nn.Module):
    def __init__(self, config: DRRN1dConfig) -> None:
        super().__init__()
        self.config = config
        C, k = config.channels, config.kernel_size
        self.blocks = nn.ModuleList(
            [
                RecursiveBlock(2 if b == 0 else C, C, k, config.n_units, pre_activate=b > 0)
                for b in range(config.n_blocks)
            ]
        )
        self.conv_out = nn.Conv1d(C, 2, k, padding=k // 2)  # reconstruction layer
        # Identity at init: the correction starts at 0 and the output at the lossy input.
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(
        self, x: torch.Tensor, bandwidth: torch.Tensor | None = None, start: torch.Tensor | None = None
    ) -> torch.Tensor:
        # the Restorer protocol's bandwidth and start: a waveform model restores every input alike
        h = x  # (B, 2, T)
        for block in self.blocks:
            h = block(h)  # (B, C, T)
        r = self.conv_out(F.relu(h))  # (B, 2, T): the predicted correction
        return clamp_to_audio_range(x + r)  # (B, 2, T): global residual learning, in [-1, 1]
