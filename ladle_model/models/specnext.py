"""SpecNeXt: a residual STFT-domain restorer, ConvNeXt blocks over frames with frequency bins as channels.

The design follows Vocos (Siuzdak, 2023: ConvNeXt 1-D blocks over STFT frames, the waveform back
through an inverse STFT, cheap on a CPU because every layer runs at the frame rate, not the sample
rate) and AP-BWE (Lu et al., 2024: the network sees the input's magnitude *and* phase and extends
the spectrum above the band the input kept). Each stereo channel is restored on its own (channels
are folded into the batch), so the same weights serve mono and stereo.

For each frame the network reads the lossy STFT X as log-magnitude plus the magnitude-compressed
complex spectrum (X / |X|^(1 - c), c = 0.3, so a linear layer can copy low-band structure into the
empty high band, as spectral band replication does), and writes a correction

    Y = X + X · (m_re + i·m_im) + g · s · (a_re + i·a_im) [+ g · s · n · N]   (per bin and frame)

a complex mask term that fixes what the codec kept (quantisation noise, smeared transients) and an
additive term that fills what it removed; with `noise_fill` (the default recipe's), a term that fills
it with N, white noise's STFT, under a real gain n: a fill written frame by frame cancels in the
overlap-add unless the network turns each bin's phase by its frequency from frame to frame, which
leaves a comb above the cut, while noise overlap-adds to itself; s is the frame's RMS magnitude (detached), so the network
works at any loudness, and g is the fill gain: 1 while training; afterwards ladle_model/calibration/
chooses it on the validation split: one value (`fill_gain`), or with `fill_gain_table` two per
input bandwidth, one for the bins below the input's cut and one for those above it. The bandwidth
is read off the input itself (ladle_model/models/bandwidth.py: the steepest cliff of its spectrum, which a
codec's low-pass leaves and music does not; measured once over the whole track where the caller
passes it, else read off the window), so one model fills an MP3 at 64 kbps (cut at ~11 kHz)
differently from an Opus file cut at 20 kHz, and a full-band input not at all. The head starts at
zero, so an untrained model returns its input exactly:

    model = SpecNeXt(SpecNeXtConfig())
    restored = model(lossy)  # (B, 2, T) -> (B, 2, T), values in [-1, 1]; equals lossy before training
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ladle_model.models.bandwidth import input_bandwidth
from ladle_model.models.gain_table import GainTable
from ladle_model.models.layers import clamp_to_audio_range


@dataclass
class SpecNeXtConfig:
    n_fft: int = 1024  # 23 ms at 44.1 kHz: fine enough in frequency to see a codec's cutoff
    hop: int = 256  # n_fft / 4: a Hann window at 75 % overlap sums to a constant (exact inverse)
    # Vocos uses 512 channels, 8 blocks, expansion 3 on a GPU. On 2 CPU cores in 20 minutes, 128 x 4 x 2
    # (0.73 M parameters) restored held-out music as well as 192 x 6 x 3 (2.0 M) by taking 40 % more steps.
    dim: int = 128  # channels of the ConvNeXt stack
    hidden_mult: int = 2  # pointwise expansion
    n_blocks: int = 4
    kernel_size: int = 7  # depthwise kernel over frames (ConvNeXt, Vocos): 7 frames = 60 ms of context
    compress: float = 0.3  # exponent c of the compressed complex input |X|^c · e^{i∠X}
    layer_scale: float = 1e-2  # ConvNeXt's per-channel residual scale at init
    # Gain on the additive (band-filling) term at inference. Training runs at 1.0; after training,
    # ladle_model/calibration/ picks it on the validation split (ViSQOL), because a fill trained on
    # log-magnitude losses came out about twice too loud for ViSQOL (measured in BENCHMARKS.md, "Quality").
    fill_gain: float = 1.0
    # A GainTable's plain rows [[bandwidth, gain in band, gain above the cut, mask gain], ...]
    # (ladle_model/models/gain_table.py), as a checkpoint stores them: the gains for an input by where its codec
    # cut it. None: `fill_gain` for every input and bin, mask 1. Written by the calibration, never trained.
    fill_gain_table: list | None = None
    # A third term, noise filling (as AAC's perceptual noise substitution and Opus fill a codec's holes): white
    # noise's STFT under a real gain per bin and frame from the network. A fill the network writes frame by frame
    # has to turn each bin's phase by its frequency from one frame to the next, or the frames' overlap-add cancels
    # it (a bin whose index is 2 mod n_fft/hop cancels exactly when it holds still); noise is a real signal's STFT,
    # so it overlap-adds to itself under any gain that varies slowly. Fresh noise each training step; at inference
    # a fixed stream that follows each window's place in its track (`noise_stream`), so a restoration is
    # repeatable and overlapping windows agree. Off: the checkpoints written before it load unchanged.
    noise_fill: bool = False

    def __post_init__(self) -> None:
        if min(self.n_fft, self.hop, self.dim, self.hidden_mult, self.n_blocks) < 1:
            raise ValueError("n_fft, hop, dim, hidden_mult and n_blocks must be >= 1")
        if self.n_fft % self.hop != 0 or self.n_fft // self.hop < 2:
            raise ValueError(f"hop must divide n_fft at least twice (overlap), got n_fft={self.n_fft} hop={self.hop}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")
        if not 0 <= self.fill_gain <= 4:
            raise ValueError(f"fill_gain must be in [0, 4], got {self.fill_gain}")
        if self.fill_gain_table is not None:
            try:  # the table's own checks (ladle_model/models/gain_table.py); the config keeps plain rows
                self.fill_gain_table = GainTable.from_list(self.fill_gain_table).to_list()
            except ValueError as e:
                raise ValueError(f"fill_gain_table: {e}") from None
        if not 0 < self.compress <= 1:
            raise ValueError(f"compress must be in (0, 1], got {self.compress}")


MAG_FLOOR = 1e-5  # below 16-bit quantisation noise in this unnormalised STFT; keeps log and division finite
NOISE_BLOCK = 1 << 16  # samples of the inference noise stream drawn from one seed (1.5 s at 44.1 kHz)


def noise_stream(start: int, length: int) -> torch.Tensor:
    """(length,) samples [start, start + length) of one fixed stream of unit white noise, any integer `start`
    (negative too): block k (samples [k·NOISE_BLOCK, (k + 1)·NOISE_BLOCK)) is drawn from seed k. The noise a
    window is filled with depends on where in the track it lies, not on the window: where `ladle enhance`'s
    windows cross-fade they hold the same noise, whose power the fade keeps (two independent noises would lose
    1.25 dB of it on average over a Hann cross-fade, 3 dB mid-fade)."""
    first, last = start // NOISE_BLOCK, (start + length - 1) // NOISE_BLOCK
    return torch.cat([noise_block(k) for k in range(first, last + 1)])[start - first * NOISE_BLOCK :][:length]


@functools.lru_cache(maxsize=32)  # consecutive windows (hop 0.5 s) share blocks; 32 blocks hold 8 MiB
def noise_block(k: int) -> torch.Tensor:
    """Block k of `noise_stream` (NOISE_BLOCK samples from seed k); cached, so never written to."""
    return torch.randn(NOISE_BLOCK, generator=torch.Generator().manual_seed(k % (1 << 63)))


def bin_gains(table: GainTable, bandwidth: torch.Tensor, n_bins: int) -> torch.Tensor:
    """(N, n_bins, 1) fill gain of every bin of each input: the table's gain below the input's cut
    (`bandwidth` (N,), a fraction of Nyquist) up to it, and its gain above the cut from there on."""
    gains = table.gains_at(bandwidth)  # (N, 3)
    edge = bandwidth * (n_bins - 1)  # (N,): the first bin above the cut
    above = (torch.arange(n_bins, device=bandwidth.device) >= edge.unsqueeze(-1)) & (bandwidth < 1).unsqueeze(
        -1
    )  # (N, F)
    return torch.where(above, gains[:, 1:2], gains[:, :1]).unsqueeze(-1)


class ConvNeXtBlock(nn.Module):
    """ConvNeXt (Liu et al., CVPR 2022) in 1-D: depthwise conv over frames, LayerNorm, pointwise MLP, scaled residual."""

    def __init__(self, dim: int, hidden: int, kernel_size: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1 = nn.Linear(dim, hidden)
        self.pw2 = nn.Linear(hidden, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dwconv(x).transpose(1, 2)  # (N, frames, dim)
        h = self.pw2(F.gelu(self.pw1(self.norm(h))))  # (N, frames, dim)
        return x + (self.gamma * h).transpose(1, 2)  # (N, dim, frames)


class SpecNeXt(nn.Module):
    def __init__(self, config: SpecNeXtConfig) -> None:
        super().__init__()
        self.config = config
        n_bins = config.n_fft // 2 + 1
        self.n_bins = n_bins
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)
        self.embed = nn.Conv1d(3 * n_bins, config.dim, kernel_size=1)  # [log|X|, Re, Im of compressed X] -> dim
        self.embed_norm = nn.LayerNorm(config.dim)
        hidden = config.dim * config.hidden_mult
        self.blocks = nn.ModuleList(
            [ConvNeXtBlock(config.dim, hidden, config.kernel_size, config.layer_scale) for _ in range(config.n_blocks)]
        )
        self.out_norm = nn.LayerNorm(config.dim)
        # mask (re, im) and additive (re, im) per bin, with noise_fill
        # the noise's gain
        self.head = nn.Linear(config.dim, (4 + config.noise_fill) * n_bins)
        nn.init.zeros_(self.head.weight)  # zero correction at init: the untrained model is the identity
        nn.init.zeros_(self.head.bias)

    def stft(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T) -> complex (N, n_bins, frames), centred frames, periodic Hann."""
        # Zero (not reflect) padding at the ends: works for inputs shorter than n_fft / 2 too.
        return torch.stft(
            x,
            self.config.n_fft,
            self.config.hop,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )

    def noise_spectrum(self, frames: int, device: torch.device, start: torch.Tensor | None = None) -> torch.Tensor:
        """(1, n_bins, frames) STFT of white noise, scaled so each bin's expected power is 1: fresh while training.
        Otherwise (N, n_bins, frames): the fixed stream `noise_stream` from each spectrum's `start` (N,) on (None:
        one spectrum from sample 0), so windows of one track that overlap fill their overlap with the same noise."""
        n_fft, hop = self.config.n_fft, self.config.hop
        length = (frames - 1) * hop + n_fft  # whole frames centred on samples 0, hop, ..., (frames - 1)·hop
        if self.training:
            noise = torch.randn(1, length)
        else:
            starts = torch.zeros(1, dtype=torch.int64) if start is None else start.cpu()
            unique, where = torch.unique(starts, return_inverse=True)  # a stereo window's channels share theirs
            noise = torch.stack([noise_stream(int(s) - n_fft // 2, length) for s in unique])[where]  # (N, length)
        spectrum = torch.stft(noise.to(device), n_fft, hop, window=self.window, center=False, return_complex=True)
        return spectrum / self.window.pow(2).sum().sqrt()

    def correction(
        self,
        spec: torch.Tensor,
        fill_gain: float | torch.Tensor = 1.0,
        mask_gain: float | torch.Tensor = 1.0,
        bandwidth: torch.Tensor | None = None,
        start: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The complex correction Y - X for the lossy spectrum `spec` (N, n_bins, frames); `fill_gain` a float, (N, 1, 1)
        or (N, n_bins, 1), `mask_gain` a float or (N, 1, 1); `bandwidth` (N,) each spectrum's cut;
        `start` (N,) where each spectrum's first sample lies in its track, which the noise at inference follows."""
        mag = spec.abs().clamp_min(MAG_FLOOR)  # (N, F, frames)
        compressed = spec * mag.pow(self.config.compress - 1.0)  # |X|^c e^{i∠X}
        features = torch.cat([mag.log(), compressed.real, compressed.imag], dim=1)  # (N, 3F, frames)
        h = self.embed_norm(self.embed(features).transpose(1, 2)).transpose(1, 2)  # (N, dim, frames)
        for block in self.blocks:
            h = block(h)  # (N, dim, frames)
        # float32 from here on: under CUDA's bf16 autocast (training) the head's output is bf16, and complex
        # tensors have no bf16 dtype
        out = self.head(self.out_norm(h.transpose(1, 2))).transpose(1, 2).float()  # (N, 4F, frames)
        mask_re, mask_im, add_re, add_im, *rest = out.chunk(out.shape[1] // self.n_bins, dim=1)  # each (N, F, frames)
        noise_gain = rest
        scale = mag.pow(2).mean(dim=1, keepdim=True).sqrt().detach()  # (N, 1, frames): frame RMS magnitude
        fill = scale * torch.complex(add_re, add_im)
        if noise_gain:
            fill = fill + scale * noise_gain[0] * self.noise_spectrum(spec.shape[-1], spec.device, start)
        if not isinstance(fill_gain, float) or fill_gain != 1.0:
            fill = fill * fill_gain
        mask = torch.complex(mask_re, mask_im)
        if not isinstance(mask_gain, float) or mask_gain != 1.0:
            mask = mask * mask_gain
        return spec * mask + fill

    def input_bandwidths(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) audio -> (B,): where a codec's low-pass cut each item, as a fraction of Nyquist (`input_bandwidth`)."""
        b, c, t = x.shape
        spec = self.stft(x.reshape(b * c, t))
        return input_bandwidth(spec.reshape(b, c, *spec.shape[1:]))

    def unchanged_at(self, bandwidth: float) -> bool:
        """Whether the gain table leaves an input cut at `bandwidth` (a fraction of Nyquist) unchanged: every gain zero."""
        table = self.gain_table()
        return (
            table is not None and not table.gains_at(torch.tensor([float(bandwidth)], dtype=torch.float64)).any().item()
        )

    def calibratable(self) -> bool:
        """SpecNeXt's fill gains are chosen on the validation split after training (ladle_model/calibration/)."""
        return True

    def gain_table(self) -> GainTable | None:
        """The config's gain table, typed (None without one)."""
        rows = self.config.fill_gain_table
        return None if rows is None else GainTable.from_list(rows)

    def reads_bandwidth(self) -> bool:
        """Whether the model fills by its input's bandwidth: with a gain table."""
        return self.config.fill_gain_table is not None

    def gains(
        self, spec: torch.Tensor, b: int, c: int, bandwidth: torch.Tensor | None
    ) -> tuple[float | torch.Tensor, float | torch.Tensor]:
        """(fill gain, mask gain) of each of the B·C spectra at each item's input `bandwidth` (B,): (`fill_gain`, 1.0)
        without a table, else the table's, per bin for the fill (B·C, F, 1) and per item for the mask (B·C, 1, 1)."""
        table = self.gain_table()
        if table is None:
            return float(self.config.fill_gain), 1.0
        mask = table.gains_at(bandwidth)[:, 2].reshape(b, 1, 1).repeat_interleave(c, dim=0)  # (B·C, 1, 1)
        return bin_gains(table, bandwidth, spec.shape[1]).repeat_interleave(c, dim=0), mask

    def forward(
        self, x: torch.Tensor, bandwidth: torch.Tensor | None = None, start: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, C, T) -> (B, C, T); `bandwidth` (B,): each item's codec cut, when measured over its whole track; `start`
        (B,): where each item's first sample lies in its track (a window's offset: ladle_model/inference/windows.py), which
        the noise fill follows at inference (None: every item from sample 0)."""
        b, c, t = x.shape
        flat = x.reshape(b * c, t)  # (B·C, T): channels restored independently
        spec = self.stft(flat)  # (B·C, F, frames)
        if bandwidth is None and self.reads_bandwidth():
            # no track's cut given (ladle_model/models/bandwidth.py): each item's own reading, shared by its channels
            bandwidth = input_bandwidth(spec.reshape(b, c, *spec.shape[1:]).detach())  # (B,)
        spec_bandwidth = None if bandwidth is None else bandwidth.repeat_interleave(c)  # (B·C,)
        spec_start = None if start is None else start.repeat_interleave(c)  # (B·C,)
        delta = self.correction(
            spec, *self.gains(spec, b, c, bandwidth), bandwidth=spec_bandwidth, start=spec_start
        )  # (B·C, F, frames)
        residual = torch.istft(
            delta, self.config.n_fft, self.config.hop, window=self.window, center=True, length=t
        )  # (B·C, T)
        return clamp_to_audio_range(x + residual.reshape(b, c, t))  # (B, C, T)
