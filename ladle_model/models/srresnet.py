"""SRResNet1d: the SRResNet generator (Ledig et al., CVPR 2017, "Photo-realistic single image
super-resolution using a GAN", fig. 4) on 1-D stereo waveform, without the upsampling stage.

Layout, as in the paper with 2-D convs made 1-D: conv(k9) + PReLU -> B residual blocks
[conv(k3) -> (BN) -> PReLU -> conv(k3) -> (BN), + skip] -> conv(k3) -> (BN) -> + the first conv's
output (the long skip) -> conv(k9) to 2 channels. The paper's two PixelShuffle x2 stages are left
out: our input and output have the same length T.

    model = SRResNet1d(SRResNet1dConfig(channels=64, n_blocks=16))
    restored = model(lossy)  # (B, 2, T) -> (B, 2, T), values in [-1, 1]

Choices where the paper does not fit a same-length restoration task:
- BatchNorm is off by default (`batch_norm=False`): EDSR (Lim et al., CVPRW 2017) showed removing
  BN from SRResNet's blocks improves super-resolution and saves memory; with it on, eval mode uses
  running statistics, so outputs still do not depend on the batch.
- `residual=True` (default) adds the input to the output (global residual learning, as VDSR/DRRN),
  y = clamp(x + r, -1, 1) with a straight-through gradient, the last conv starting at zero so the
  untouched network returns its input; `residual=False` is the paper's direct prediction, y = tanh(r).
Defaults: the paper's 64 channels and 16 blocks (about 0.41 M parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ladle_model.models.layers import clamp_to_audio_range
from ladle_model.models.restorer import FullBand


@dataclass
class SRResNet1dConfig:
    channels: int = 64  # paper: 64
    n_blocks: int = 16  # B residual blocks, paper: 16
    kernel_size: int = 3  # residual blocks' kernel, paper: 3x3
    io_kernel_size: int = 9  # first and last conv, paper: 9x9
    batch_norm: bool = False  # paper: True; off as in EDSR (see module docstring)
    residual: bool = True  # output = clamp(input + correction); False = tanh(direct prediction)

    def __post_init__(self) -> None:
        if min(self.channels, self.n_blocks) < 1:
            raise ValueError("channels and n_blocks must be >= 1")
        for name in ("kernel_size", "io_kernel_size"):
            k = getattr(self, name)
            if k < 1 or k % 2 == 0:
                raise ValueError(f"{name} must be odd so that T is kept, got {k}")


def conv_norm(in_channels: int, out_channels: int, kernel_size: int, batch_norm: bool) -> nn.Sequential:
    """conv(k) with "same" padding, then BatchNorm if asked (conv bias is redundant before BN)."""
    conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=not batch_norm)
    return nn.Sequential(conv, nn.BatchNorm1d(out_channels)) if batch_norm else nn.Sequential(conv)


class ResidualBlock(nn.Module):
    """SRResNet block: x + conv -> (BN) -> PReLU -> conv -> (BN)."""

    def __init__(self, channels: int, kernel_size: int, batch_norm: bool) -> None:
        super().__init__()
        self.conv1 = conv_norm(channels, channels, kernel_size, batch_norm)
        self.act = nn.PReLU(channels)
        self.conv2 = conv_norm(channels, channels, kernel_size, batch_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))  # (B, C, T)


class SRResNet1d(FullBand, nn.Module):
    def __init__(self, config: SRResNet1dConfig) -> None:
        super().__init__()
        self.config = config
        C, k, k_io = config.channels, config.kernel_size, config.io_kernel_size
        self.conv_in = nn.Conv1d(2, C, k_io, padding=k_io // 2)
        self.act_in = nn.PReLU(C)
        self.blocks = nn.Sequential(*[ResidualBlock(C, k, config.batch_norm) for _ in range(config.n_blocks)])
        self.conv_mid = conv_norm(C, C, k, config.batch_norm)
        self.conv_out = nn.Conv1d(C, 2, k_io, padding=k_io // 2)
        if config.residual:
            # Identity at init: the correction starts at 0 and the output at the lossy input.
            nn.init.zeros_(self.conv_out.weight)
            nn.init.zeros_(self.conv_out.bias)

    def forward(
        self, x: torch.Tensor, bandwidth: torch.Tensor | None = None, start: torch.Tensor | None = None
    ) -> torch.Tensor:
        # the Restorer protocol's bandwidth and start: a waveform model restores every input alike
        h0 = self.act_in(self.conv_in(x))  # (B, C, T)
        h = self.conv_mid(self.blocks(h0)) + h0  # (B, C, T): the paper's long skip over all blocks
        r = self.conv_out(h)  # (B, 2, T)
        if self.config.residual:
            return clamp_to_audio_range(x + r)  # (B, 2, T)
        return torch.tanh(r)  # (B, 2, T)
