"""Restoration losses that reward a restored spectrum without giving up waveform fidelity.

A model trained on MSE alone regresses what it cannot predict to zero: the band above a codec's
cutoff stays empty. A log-magnitude spectral loss penalises an empty band as much as a loud one,
so the model learns to fill it; a waveform term keeps the filled band from costing SNR (content
that is not phase-aligned with the original adds its energy to the error). The terms:

    loss/logmag  multi-resolution STFT log-magnitude L1 (Yamamoto et al., Parallel WaveGAN, ICASSP 2020;
                 DAC, Kumar et al. 2023, uses log10 of a clamped magnitude as here)
    loss/sc      spectral convergence ||S - Ŝ||_F / ||S||_F over the same resolutions (Arık et al. 2018)
    loss/wave    waveform MSE relative to the input's: mean (ŷ - y)² / mean (x - y)², so 1.0 is "no
                 better than the lossy input" and 10·log10 of it is the SNR change in dB, whatever the level

Weighted by lambdas, DAC style, under namespaced keys (every term unweighted; "loss/total" is the sum):

    losses = restoration_losses(pred, target, lossy, SpectralLossConfig())
    losses["loss/total"].backward()

The training loop adds them to the LadLe paper's terms (ladle_model/losses/perceptual.py) with `training_losses`;
`SpectralLossConfig.off()` (all lambdas 0) leaves the paper's loss exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ladle_model.losses.perceptual import LossConfig, compute_losses
from ladle_model.losses.stft import stft_magnitude

MAG_EPS = 1e-5  # magnitude floor before log10 (DAC's clamp_eps); unnormalised STFT, so ~16-bit noise level


@dataclass
class SpectralLossConfig:
    lambda_logmag: float = 1.0
    lambda_sc: float = 1.0
    lambda_wave: float = 1.0
    # Three resolutions from 12 ms to 46 ms at 44.1 kHz, hop a quarter of the window (as in DAC's
    # MultiScaleSTFTLoss window lengths 2048 and 512, and Parallel WaveGAN's 512/1024/2048).
    fft_sizes: tuple[int, ...] = (512, 1024, 2048)

    def __post_init__(self) -> None:
        self.fft_sizes = tuple(self.fft_sizes)
        if min(self.lambda_logmag, self.lambda_sc, self.lambda_wave) < 0:
            raise ValueError("loss weights must be >= 0")
        if not self.fft_sizes or min(self.fft_sizes) < 8:
            raise ValueError(f"fft_sizes must be non-empty, each >= 8, got {self.fft_sizes}")

    @classmethod
    def off(cls) -> SpectralLossConfig:
        """Every term off: what a training config without restoration losses holds."""
        return cls(lambda_logmag=0.0, lambda_sc=0.0, lambda_wave=0.0)

    @property
    def active(self) -> bool:
        return max(self.lambda_logmag, self.lambda_sc, self.lambda_wave) > 0

    def keys(self) -> list[str]:
        """The term keys `restoration_losses` reports (besides "loss/total")."""
        weights = {
            "loss/logmag": self.lambda_logmag,
            "loss/sc": self.lambda_sc,
            "loss/wave": self.lambda_wave,
        }
        return [key for key, weight in weights.items() if weight > 0]


def folded_magnitude(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    """|STFT| of (B, C, T) audio: (B·C, n_fft/2 + 1, frames), hop n_fft/4, unfloored (the terms floor it)."""
    return stft_magnitude(x.reshape(-1, x.shape[-1]), n_fft, n_fft // 4)


Magnitudes = list[tuple[torch.Tensor, torch.Tensor]]  # (|Ŝ|, |S|) at each resolution


def magnitudes(pred: torch.Tensor, target: torch.Tensor, fft_sizes: tuple[int, ...]) -> Magnitudes:
    """(|Ŝ|, |S|) at each of `fft_sizes`: computed once for every term that reads them (the target's without a graph)."""
    with torch.no_grad():
        targets = [folded_magnitude(target, n_fft) for n_fft in fft_sizes]
    return [(folded_magnitude(pred, n_fft), s_true) for n_fft, s_true in zip(fft_sizes, targets)]


def log_magnitude_term(mags: Magnitudes) -> torch.Tensor:
    """Mean over resolutions of mean |log10 max(|Ŝ|, eps) - log10 max(|S|, eps)|."""
    return torch.stack(
        [(p.clamp_min(MAG_EPS).log10() - t.clamp_min(MAG_EPS).log10()).abs().mean() for p, t in mags]
    ).mean()


def spectral_convergence_term(mags: Magnitudes) -> torch.Tensor:
    """Mean over resolutions of ||S - Ŝ||_F / ||S||_F (whole batch; 0 for a silent target and prediction)."""
    return torch.stack(
        [torch.linalg.vector_norm(t - p) / torch.linalg.vector_norm(t).clamp_min(MAG_EPS) for p, t in mags]
    ).mean()


def log_magnitude_loss(pred: torch.Tensor, target: torch.Tensor, fft_sizes: tuple[int, ...]) -> torch.Tensor:
    """`log_magnitude_term` of (B, C, T) audio at `fft_sizes`."""
    return log_magnitude_term(magnitudes(pred, target, fft_sizes))


def spectral_convergence_loss(pred: torch.Tensor, target: torch.Tensor, fft_sizes: tuple[int, ...]) -> torch.Tensor:
    """`spectral_convergence_term` of (B, C, T) audio at `fft_sizes`."""
    return spectral_convergence_term(magnitudes(pred, target, fft_sizes))


def relative_waveform_loss(pred: torch.Tensor, target: torch.Tensor, lossy: torch.Tensor) -> torch.Tensor:
    """mean (ŷ - y)² / mean (x - y)²: 1 for a model that returns its input, below 1 when it helps."""
    baseline = (lossy - target).pow(2).mean().detach().clamp_min(1e-12)  # a constant of the batch
    return (pred - target).pow(2).mean() / baseline


def restoration_losses(
    pred: torch.Tensor, target: torch.Tensor, lossy: torch.Tensor, config: SpectralLossConfig
) -> dict[str, torch.Tensor]:
    """The weighted terms under "loss/..." keys; a term whose lambda is 0 is not computed."""
    losses: dict[str, torch.Tensor] = {}
    total = pred.new_zeros(())
    mags = magnitudes(pred, target, config.fft_sizes) if max(config.lambda_logmag, config.lambda_sc) > 0 else []
    if config.lambda_logmag > 0:
        losses["loss/logmag"] = log_magnitude_term(mags)
        total = total + config.lambda_logmag * losses["loss/logmag"]
    if config.lambda_sc > 0:
        losses["loss/sc"] = spectral_convergence_term(mags)
        total = total + config.lambda_sc * losses["loss/sc"]
    if config.lambda_wave > 0:
        losses["loss/wave"] = relative_waveform_loss(pred, target, lossy)
        total = total + config.lambda_wave * losses["loss/wave"]
    losses["loss/total"] = total
    return losses


def training_losses(
    pred: torch.Tensor,
    target: torch.Tensor,
    lossy: torch.Tensor,
    feature_net: nn.Module | None,
    loss_config: LossConfig,
    spectral_config: SpectralLossConfig,
) -> dict[str, torch.Tensor]:
    """The paper's terms (`compute_losses`) plus these when any of them is weighted; one "loss/total"."""
    losses = compute_losses(pred, target, feature_net, loss_config)
    if spectral_config.active:
        restoration = restoration_losses(pred, target, lossy, spectral_config)
        total = losses["loss/total"] + restoration.pop("loss/total")
        losses = {**losses, **restoration, "loss/total": total}
    return losses
