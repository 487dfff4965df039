"""Training losses: MSE + perceptual feature loss (the LadLe paper), optional multi-resolution STFT.

    total = lambda_recon * MSE(y_hat, y) + lambda_perc * mean (phi(y_hat) - phi(y))^2 + lambda_stft * STFT(y_hat, y)

phi is `FeatureNet`, a small CNN of two Conv1d + ReLU layers, pre-trained and then frozen, as the
LadLe paper describes its perceptual loss. The paper does not say what phi is pre-trained on; we
train it to tell lossless segments (label 1) from their lossy encodes (label 0), so its features are
the ones that separate the two, which is what the restoration should fix:

    feature_net = pretrain_feature_net(pairs, steps=500, seed=0)   # pairs yield (lossless, lossy)
    save_feature_net(feature_net, "runs/x/feature_net.pt")
    losses = compute_losses(pred, target, feature_net, LossConfig())
    losses["loss/total"].backward()

Terms come back separately under namespaced keys (Descript's DAC style) so they can be logged
apart: "loss/total" and "loss/mse" always; "loss/perceptual" when lambda_perc > 0; "loss/stft" when
lambda_stft > 0. A term whose lambda is 0 is not computed (and not reported). Reported terms are
unweighted; "loss/total" is the weighted sum.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ladle_model.losses.stft import stft_magnitude
from storage.atomic import atomic_path

FEATURE_NET_FORMAT = "ladle-feature-net/1"


# ----------------------------------------------------------------------------- configs


@dataclass
class LossConfig:
    # The LadLe paper weights MSE and the perceptual term but does not publish the weights; 1.0 / 0.1
    # is our choice (the reconstruction term leads, the perceptual term shapes).
    lambda_recon: float = 1.0
    lambda_perc: float = 0.1
    lambda_stft: float = 0.0  # off by default: not in the LadLe paper
    # Multi-resolution STFT resolutions of Parallel WaveGAN (Yamamoto et al., ICASSP 2020, sec. 4.1):
    # FFT sizes 512/1024/2048, window lengths 240/600/1200, hops 50/120/240.
    stft_fft_sizes: tuple[int, ...] = (512, 1024, 2048)
    stft_win_lengths: tuple[int, ...] = (240, 600, 1200)
    stft_hop_lengths: tuple[int, ...] = (50, 120, 240)

    def __post_init__(self) -> None:
        self.stft_fft_sizes = tuple(self.stft_fft_sizes)
        self.stft_win_lengths = tuple(self.stft_win_lengths)
        self.stft_hop_lengths = tuple(self.stft_hop_lengths)
        if min(self.lambda_recon, self.lambda_perc, self.lambda_stft) < 0:
            raise ValueError("loss weights must be >= 0")
        n = len(self.stft_fft_sizes)
        if n == 0 or len(self.stft_win_lengths) != n or len(self.stft_hop_lengths) != n:
            raise ValueError("stft_fft_sizes, stft_win_lengths and stft_hop_lengths need the same (non-zero) length")
        for n_fft, win, hop in zip(self.stft_fft_sizes, self.stft_win_lengths, self.stft_hop_lengths):
            if not (hop > 0 and 0 < win <= n_fft):
                raise ValueError(f"need hop > 0 and 0 < win_length <= n_fft, got n_fft={n_fft} win={win} hop={hop}")


@dataclass
class FeatureNetConfig:
    channels: tuple[int, ...] = (16, 32)  # widths of the two conv layers (paper: not given)
    kernel_size: int = 9  # odd, "same" padding; 9 taps see 0.2 ms at 44.1 kHz (paper: not given)

    def __post_init__(self) -> None:
        self.channels = tuple(self.channels)
        if len(self.channels) != 2 or min(self.channels) < 1:
            raise ValueError(f"FeatureNet has two conv layers: channels must be 2 positive widths, got {self.channels}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")


# ----------------------------------------------------------------------------- feature network


class FeatureNet(nn.Module):
    """phi: two Conv1d + ReLU layers, (B, 2, T) -> (B, channels[1], T). No BN or dropout, so
    train/eval mode gives the same features."""

    def __init__(self, config: FeatureNetConfig) -> None:
        super().__init__()
        self.config = config
        c1, c2 = config.channels
        k = config.kernel_size
        self.conv1 = nn.Conv1d(2, c1, k, padding=k // 2)
        self.conv2 = nn.Conv1d(c1, c2, k, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv1(x))  # (B, c1, T)
        return F.relu(self.conv2(h))  # (B, c2, T)


class FeatureClassifier(nn.Module):
    """FeatureNet + the head used only to pre-train it: log of the time-averaged features -> logit.

    The log makes the head compare band energies as ratios, so loudness matters less than how much
    of each band is there, which is what lossy coding removes (high frequencies, quiet detail).
    """

    def __init__(self, config: FeatureNetConfig) -> None:
        super().__init__()
        self.features = FeatureNet(config)
        self.head = nn.Linear(config.channels[1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        phi = self.features(x)  # (B, c2, T)
        pooled = torch.log(phi.mean(dim=2) + 1e-6)  # (B, c2)
        return self.head(pooled).squeeze(1)  # (B,) logit of "lossless"


def freeze(net: FeatureNet) -> FeatureNet:
    """Frozen for use in the loss: no parameter takes gradients (gradients still flow to the input)."""
    for p in net.parameters():
        p.grad = None  # drop what pre-training left behind
    net.requires_grad_(False)
    return net.eval()


def train_feature_classifier(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    steps: int,
    seed: int,
    lr: float = 1e-3,
    config: FeatureNetConfig | None = None,
) -> FeatureClassifier:
    """Train FeatureNet + head for `steps` Adam steps to classify lossless (1) vs lossy (0).

    `batches` yields (lossless (B, 2, T), lossy (B, 2, T)) pairs; a re-iterable (list, DataLoader)
    is started again when it runs out, a one-shot iterator that runs out is an error. The net is
    initialised under `seed` without touching the global RNG, and trained on the batches' device.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FeatureClassifier(config or FeatureNetConfig())
    optimizer = None

    it = iter(batches)
    restartable = it is not batches  # a list or DataLoader hands out a fresh iterator; a generator does not
    step = 0
    while step < steps:
        try:
            lossless, lossy = next(it)
        except StopIteration:
            if not restartable or step == 0:
                raise ValueError(f"batches ran out after {step} of {steps} steps") from None
            it = iter(batches)
            continue
        if optimizer is None:  # first batch: move to its device, then build the optimizer there
            model.to(lossless.device)
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        x = torch.cat([lossless, lossy])  # (2B, 2, T)
        labels = torch.cat([torch.ones(len(lossless)), torch.zeros(len(lossy))]).to(x.device)  # (2B,)
        loss = F.binary_cross_entropy_with_logits(model(x), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
    return model.eval()


def pretrain_feature_net(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    steps: int,
    seed: int,
    lr: float = 1e-3,
    config: FeatureNetConfig | None = None,
) -> FeatureNet:
    """Pre-train phi as a lossless-vs-lossy classifier (head discarded); return it frozen, in eval mode."""
    return freeze(train_feature_classifier(batches, steps, seed, lr=lr, config=config).features)


def save_feature_net(net: FeatureNet, path: str | Path) -> None:
    """Write config + weights atomically; loadable with torch.load(weights_only=True)."""
    payload = {
        "format": FEATURE_NET_FORMAT,
        "config": dataclasses.asdict(net.config),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_feature_net(path: str | Path, map_location: str | torch.device = "cpu") -> FeatureNet:
    """Read a FeatureNet written by save_feature_net; returned frozen, in eval mode."""
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if payload.get("format") != FEATURE_NET_FORMAT:
        raise ValueError(f"{path} is not a saved FeatureNet (format {payload.get('format')!r})")
    net = FeatureNet(FeatureNetConfig(**payload["config"]))
    net.load_state_dict(payload["state_dict"])
    return freeze(net.to(map_location))


# ----------------------------------------------------------------------------- loss terms


def perceptual_loss(pred: torch.Tensor, target: torch.Tensor, feature_net: nn.Module) -> torch.Tensor:
    """Mean squared distance between phi(pred) and phi(target); gradients reach pred only."""
    with torch.no_grad():
        phi_target = feature_net(target)  # (B, c2, T)
    return F.mse_loss(feature_net(pred), phi_target)


# Parallel WaveGAN's reference code floors the power at 1e-7, so the log and the division stay finite on silence.
STFT_POWER_FLOOR = 1e-7


def multi_resolution_stft_loss(pred: torch.Tensor, target: torch.Tensor, cfg: LossConfig) -> torch.Tensor:
    """Parallel WaveGAN's auxiliary loss (Yamamoto et al. 2020, eqs. 4-6): over M resolutions, the
    mean of spectral convergence ||S - S_hat||_F / ||S||_F plus log-magnitude L1 mean |log S - log S_hat|."""
    B, C, T = pred.shape
    # STFT in float32 (half precision FFTs are restricted); channels are folded into the batch.
    p = pred.float().reshape(B * C, T)  # (B*2, T)
    t = target.float().reshape(B * C, T)  # (B*2, T)
    total = pred.new_zeros((), dtype=torch.float32)
    for n_fft, win, hop in zip(cfg.stft_fft_sizes, cfg.stft_win_lengths, cfg.stft_hop_lengths):
        mag_p = stft_magnitude(p, n_fft, hop, win, STFT_POWER_FLOOR)  # (B*2, F, frames)
        mag_t = stft_magnitude(t, n_fft, hop, win, STFT_POWER_FLOOR)  # (B*2, F, frames)
        spectral_convergence = torch.linalg.norm(mag_t - mag_p) / torch.linalg.norm(mag_t)
        log_magnitude = F.l1_loss(torch.log(mag_p), torch.log(mag_t))
        total = total + spectral_convergence + log_magnitude
    return total / len(cfg.stft_fft_sizes)


def compute_losses(
    pred: torch.Tensor, target: torch.Tensor, feature_net: nn.Module | None, cfg: LossConfig
) -> dict[str, torch.Tensor]:
    """All loss terms for a (B, 2, T) prediction and target; see the module docstring for the keys."""
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    mse = F.mse_loss(pred, target)
    losses = {"loss/mse": mse}
    total = cfg.lambda_recon * mse
    if cfg.lambda_perc > 0:
        if feature_net is None:
            raise ValueError("lambda_perc > 0 needs a feature_net (pretrain_feature_net / load_feature_net)")
        losses["loss/perceptual"] = perceptual_loss(pred, target, feature_net)
        total = total + cfg.lambda_perc * losses["loss/perceptual"]
    if cfg.lambda_stft > 0:
        losses["loss/stft"] = multi_resolution_stft_loss(pred, target, cfg)
        total = total + cfg.lambda_stft * losses["loss/stft"]
    return {"loss/total": total, **losses}
