"""LadLe: CNN encoder -> Transformer encoder -> transposed-CNN decoder on raw stereo waveform.

The LadLe paper restores lossy music with a network that (1) widens the 2-channel waveform to d
channels with four Conv1d + ReLU layers, (2) runs L Transformer encoder layers of multi-head
self-attention over the time steps of the (B, T, d) feature map, (3) narrows back to 2 channels
with four ConvTranspose1d layers, ReLU between them and Tanh at the end. The paper does not publish
every size (d, L, number of heads, intermediate widths, positional encoding), so the defaults below
are our choice: d=64, L=2, 4 heads, widths 2 -> 8 -> 16 -> 32 -> 64 (d/8, d/4, d/2, d), which is
about 0.12 M parameters and trains on one GPU on 1 s segments.

    model = LadLe(LadLeConfig(d_model=64, n_layers=2, n_heads=4, stride=4))
    restored = model(lossy)  # (B, 2, T) -> (B, 2, T), values in [-1, 1]

Two options beyond the paper, both off by default:
- `stride`: the last encoder conv downsamples T by `stride` and the first decoder ConvTranspose
  upsamples it back, so attention runs over T/stride steps (44.1 k steps of full attention per 1 s
  segment are costly even with memory-efficient SDPA).
- `residual`: the decoder's Tanh output is read as a correction: y = clamp(x + tanh(...), -1, 1).
  The last decoder layer then starts at zero, so the untouched model returns its input, which is
  the lossy baseline every model must beat (docs/design.md).

Written nanoGPT-style (karpathy/nanoGPT model.py): modules in dependency order, pre-norm blocks,
attention through F.scaled_dot_product_attention so long segments use the fused kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ladle_model.models.layers import clamp_to_audio_range
from ladle_model.models.restorer import FullBand


@dataclass
class LadLeConfig:
    d_model: int = 64  # d: channels out of the CNN encoder = Transformer width (paper: not given)
    n_layers: int = 2  # L Transformer encoder layers (paper: not given)
    n_heads: int = 4  # attention heads (paper: not given); d_model must divide by it
    conv_widths: tuple[int, ...] | None = None  # 3 hidden widths 2 -> w1 -> w2 -> w3 -> d; None = (d/8, d/4, d/2)
    mlp_ratio: int = 4  # MLP hidden = mlp_ratio * d, as in "Attention is all you need" and GPT-2
    dropout: float = 0.0
    pos_conv_kernel: int = 31  # relative positional encoding by a depthwise conv (see ConvPositionalEncoding); 0 = none
    stride: int = 1  # time downsampling before attention (1 = as in the paper)
    residual: bool = False  # y = clamp(x + correction) instead of y = tanh(decoder) (False = as in the paper)

    def __post_init__(self) -> None:
        if self.conv_widths is None:
            self.conv_widths = (max(self.d_model // 8, 1), max(self.d_model // 4, 1), max(self.d_model // 2, 1))
        self.conv_widths = tuple(self.conv_widths)
        if len(self.conv_widths) != 3 or min(self.conv_widths) < 1:
            raise ValueError(
                f"conv_widths must be 3 positive widths (2 -> w1 -> w2 -> w3 -> d_model), got {self.conv_widths}"
            )
        if self.d_model < 1 or self.n_layers < 0 or self.n_heads < 1 or self.mlp_ratio < 1:
            raise ValueError("d_model, n_heads and mlp_ratio must be >= 1 and n_layers >= 0")
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.pos_conv_kernel < 0 or (self.pos_conv_kernel > 0 and self.pos_conv_kernel % 2 == 0):
            raise ValueError(f"pos_conv_kernel must be 0 (off) or odd, got {self.pos_conv_kernel}")
        if self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {self.stride}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class SelfAttention(nn.Module):
    """Bidirectional multi-head self-attention (nanoGPT's CausalSelfAttention without the mask)."""

    def __init__(self, config: LadLeConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.d_model, 3 * config.d_model)  # q, k, v for all heads in one matmul
        self.c_proj = nn.Linear(config.d_model, config.d_model)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)  # (B, nh, T, hs)
        # Fused attention (flash / memory-efficient kernels): O(T) memory instead of a (T, T) matrix.
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=False)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C), heads side by side
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: LadLeConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.d_model, config.mlp_ratio * config.d_model)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(config.mlp_ratio * config.d_model, config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))  # (B, T, C)


class Block(nn.Module):
    """Pre-norm Transformer layer (GPT-2 / nanoGPT): x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config: LadLeConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model)
        self.attn = SelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))  # (B, T, C)
        x = x + self.mlp(self.ln_2(x))  # (B, T, C)
        return x


class ConvPositionalEncoding(nn.Module):
    """Relative positional information from a depthwise conv over time, added to the input.

    The paper does not say how LadLe encodes position. We use the convolutional positional embedding
    of wav2vec 2.0 (Baevski et al. 2020, sec. 2; conditional positional encoding, Chu et al. 2021):
    it works for any T, and it is translation-equivariant, so a window restored inside a longer
    file (overlap-add in enhancement) does not depend on where the window starts.
    """

    def __init__(self, d_model: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(d_model, d_model, kernel_size, padding=kernel_size // 2, groups=d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = self.conv(x.transpose(1, 2)).transpose(1, 2)  # (B, T, C): conv runs over time
        return x + F.gelu(pos)  # (B, T, C)


class LadLe(FullBand, nn.Module):
    def __init__(self, config: LadLeConfig) -> None:
        super().__init__()
        self.config = config
        s = config.stride
        widths = [2, *config.conv_widths, config.d_model]  # 2 -> d/8 -> d/4 -> d/2 -> d by default

        # CNN encoder: four Conv1d(kernel 3) + ReLU, "same" padding. With stride s > 1 the last conv
        # uses kernel 2s, padding ceil(s/2): output length exactly T/s for T divisible by s, and every
        # input sample is seen by two windows (the SEANet/EnCodec downsampling layout, Défossez et al. 2022).
        encoder: list[nn.Module] = []
        for i in range(4):
            strided = i == 3 and s > 1
            kernel, pad = (2 * s, (s + 1) // 2) if strided else (3, 1)
            encoder += [nn.Conv1d(widths[i], widths[i + 1], kernel, stride=s if strided else 1, padding=pad), nn.ReLU()]
        self.encoder = nn.Sequential(*encoder)

        self.pos = (
            ConvPositionalEncoding(config.d_model, config.pos_conv_kernel)
            if config.pos_conv_kernel > 0
            else nn.Identity()
        )
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layers)])
        self.ln_f = nn.LayerNorm(config.d_model)

        # Decoder: four ConvTranspose1d narrowing d -> ... -> 2, ReLU between, Tanh at the end.
        # With s > 1 the first one upsamples by s: kernel 2s, same padding as the encoder, and
        # output_padding s % 2 so T/s steps come back as exactly T samples for odd s too.
        decoder: list[nn.Module] = []
        for i in range(4):
            upsampling = i == 0 and s > 1
            kernel, pad = (2 * s, (s + 1) // 2) if upsampling else (3, 1)
            decoder.append(
                nn.ConvTranspose1d(
                    widths[4 - i],
                    widths[3 - i],
                    kernel,
                    stride=s if upsampling else 1,
                    padding=pad,
                    output_padding=s % 2 if upsampling else 0,
                )
            )
            decoder.append(nn.ReLU() if i < 3 else nn.Tanh())
        self.decoder = nn.Sequential(*decoder)

        self.apply(self._init_weights)
        # nanoGPT / GPT-2: scale the residual projections by 1/sqrt(2 L) so the residual stream's
        # variance does not grow with depth.
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * max(config.n_layers, 1)))
        if config.residual:
            # Start as the identity: tanh(0) = 0 correction, output = input (the lossy baseline).
            last = self.decoder[-2]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # nanoGPT init for the Transformer's linear layers; convs keep PyTorch's default (Kaiming uniform).
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            nn.init.zeros_(module.bias)

    def forward(
        self, x: torch.Tensor, bandwidth: torch.Tensor | None = None, start: torch.Tensor | None = None
    ) -> torch.Tensor:
        # the Restorer protocol's bandwidth and start: a waveform model restores every input alike
        B, C, T = x.shape  # (B, 2, T)
        s = self.config.stride
        n_pad = (-T) % s
        h = F.pad(x, (0, n_pad))  # (B, 2, T_pad): zero-pad the tail so T_pad divides by the stride

        h = self.encoder(h)  # (B, d, T_pad / s)
        h = h.transpose(1, 2)  # (B, T', d): attention runs over time steps
        h = self.drop(self.pos(h))  # (B, T', d)
        for block in self.blocks:
            h = block(h)  # (B, T', d)
        h = self.ln_f(h).transpose(1, 2)  # (B, d, T')
        y = self.decoder(h)[..., :T]  # (B, 2, T), in [-1, 1] through Tanh; crop the padding back off

        if self.config.residual:
            y = clamp_to_audio_range(x + y)  # (B, 2, T): the Tanh output is a bounded correction
        return y
