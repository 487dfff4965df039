"""ResUnitNet: the residual-unit CNN for audio super-resolution from lossy input, on stereo waveform.

The paper's network applies several DRRN-style residual units to the input in parallel, sums their
outputs, passes the sum through one further residual unit and maps it to the output with a single
convolution. A "residual unit" here is DRRN's recursive block (Tai et al. 2017, see drrn.py):
H0 = conv_in(x), then U times H_u = G(H_{u-1}) + H0 with G's two convs shared across the U steps.

    x (B, 2, T) ──┬─ unit_1 ─┐
                  ├─ unit_2 ─┼─ sum (B, C, T) ─ fusion unit ─ ReLU ─ conv ─ (+ x) ─ clamp ─ y (B, 2, T)
                  └─ unit_K ─┘

    model = ResUnitNet(ResUnitNetConfig(channels=64, branch_kernel_sizes=(3, 3, 3), n_units=3))
    restored = model(lossy)  # (B, 2, T) -> (B, 2, T), values in [-1, 1]

Sizes the paper leaves to us: 3 parallel units of kernel 3 (`branch_kernel_sizes`; give different
sizes, e.g. (3, 5, 7), for multi-scale branches), 64 channels, U=3 recursions per unit, about
0.11 M parameters. Output: global residual learning as in DRRN, y = clamp(x + r, -1, 1) with a
straight-through gradient, the output conv starting at zero so the untouched network returns its
input; `residual=False` predicts y = tanh(r) directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# The same residual unit as DRRN's: sharing the class keeps "DRRN-style" literally true.
from ladle_model.models.drrn import RecursiveBlock
from ladle_model.models.layers import clamp_to_audio_range
from ladle_model.models.restorer import FullBand


@dataclass
class ResUnitNetConfig:
    channels: int = 64  # feature maps in every unit
    branch_kernel_sizes: tuple[int, ...] = (3, 3, 3)  # one parallel unit per entry, with that kernel size
    n_units: int = 3  # U recursions (shared weights) inside each unit, branches and fusion alike
    fusion_kernel_size: int = 3  # kernel of the further unit after the sum and of the output conv
    residual: bool = True  # output = clamp(input + correction); False = tanh(direct prediction)

    def __post_init__(self) -> None:
        self.branch_kernel_sizes = tuple(self.branch_kernel_sizes)
        if min(self.channels, self.n_units) < 1:
            raise ValueError("channels and n_units must be >= 1")
        if len(self.branch_kernel_sizes) < 1:
            raise ValueError("branch_kernel_sizes needs at least one parallel unit")
        for k in (*self.branch_kernel_sizes, self.fusion_kernel_size):
            if k < 1 or k % 2 == 0:
                raise ValueError(f"kernel sizes must be odd so that T is kept, got {k}")


class ResUnitNet(FullBand, nn.Module):
    def __init__(self, config: ResUnitNetConfig) -> None:
        super().__init__()
        self.config = config
        C, k = config.channels, config.fusion_kernel_size
        # Parallel units read the raw waveform: no ReLU before their first conv (it would drop x < 0).
        self.branches = nn.ModuleList(
            [RecursiveBlock(2, C, kb, config.n_units, pre_activate=False) for kb in config.branch_kernel_sizes]
        )
        self.fusion = RecursiveBlock(C, C, k, config.n_units, pre_activate=True)
        self.conv_out = nn.Conv1d(C, 2, k, padding=k // 2)
        if config.residual:
            # Identity at init: the correction starts at 0 and the output at the lossy input.
            nn.init.zeros_(self.conv_out.weight)
            nn.init.zeros_(self.conv_out.bias)

    def forward(
        self, x: torch.Tensor, bandwidth: torch.Tensor | None = None, start: torch.Tensor | None = None
    ) -> torch.Tensor:
        # the Restorer protocol's bandwidth and start: a waveform model restores every input alike
        h = self.branches[0](x)  # (B, C, T)
        for branch in self.branches[1:]:
            h = h + branch(x)  # (B, C, T): the parallel units' outputs summed
        h = self.fusion(h)  # (B, C, T)
        r = self.conv_out(F.relu(h))  # (B, 2, T)
        if self.config.residual:
            return clamp_to_audio_range(x + r)  # (B, 2, T)
        return torch.tanh(r)  # (B, 2, T)
