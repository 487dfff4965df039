"""Restoration losses: zero on identical signals, rising with a known corruption, falling when a band is restored."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ladle_model.losses.spectral import (
    SpectralLossConfig,
    log_magnitude_loss,
    relative_waveform_loss,
    restoration_losses,
    spectral_convergence_loss,
)

RATE = 16000
FFTS = (256, 512)


def music_like(seed: int = 0, n_samples: int = RATE) -> torch.Tensor:
    """(1, 2, n) harmonics up to 7 kHz plus a little noise: energy in the top band a low-pass removes."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / RATE
    x = sum(0.3 / k * np.sin(2 * np.pi * 440.0 * k * t + rng.uniform(0, 6, size=(2, 1))) for k in range(1, 17))
    x = x + 0.003 * rng.standard_normal((2, n_samples))
    return torch.from_numpy(x[None].astype(np.float32))


def low_pass(x: torch.Tensor, cutoff_hz: float) -> torch.Tensor:
    """A brick-wall low-pass in the FFT domain, as a codec's cutoff removes the top band."""
    spec = torch.fft.rfft(x, dim=-1)
    freqs = torch.fft.rfftfreq(x.shape[-1], 1 / RATE)
    return torch.fft.irfft(spec * (freqs <= cutoff_hz), n=x.shape[-1], dim=-1)


def test_every_term_is_zero_on_identical_signals():
    y = music_like()
    losses = restoration_losses(y, y, low_pass(y, 3000.0), SpectralLossConfig(fft_sizes=FFTS))
    for key in ("loss/logmag", "loss/sc", "loss/wave", "loss/total"):
        assert float(losses[key]) == pytest.approx(0.0, abs=1e-6), key


@pytest.mark.parametrize("term", [log_magnitude_loss, spectral_convergence_loss])
def test_spectral_terms_rise_with_more_noise(term):
    y = music_like()
    noise = torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
    small, large = term(y + 0.01 * noise, y, FFTS), term(y + 0.1 * noise, y, FFTS)
    assert 0 < float(small) < float(large)


def test_relative_waveform_loss_is_one_for_the_input_and_rises_with_error():
    y = music_like()
    x = low_pass(y, 3000.0)
    assert float(relative_waveform_loss(x, y, x)) == pytest.approx(1.0, rel=1e-6)
    worse = x + 0.1 * torch.randn(y.shape, generator=torch.Generator().manual_seed(2))
    assert float(relative_waveform_loss(worse, y, x)) > 1.5


def test_spectral_loss_falls_when_the_missing_band_is_restored():
    y = music_like()
    lossy = low_pass(y, 3000.0)
    # Restore the band above 3 kHz with the right magnitudes but unrelated phase (what a generative
    # model can do): the log-magnitude loss must reward it although the waveform error does not fall.
    top = y - lossy
    spec = torch.fft.rfft(top, dim=-1)
    phase = torch.rand(spec.shape, generator=torch.Generator().manual_seed(3)) * 2 * np.pi
    restored = lossy + torch.fft.irfft(spec.abs() * torch.exp(1j * phase), n=y.shape[-1], dim=-1)
    before, after = log_magnitude_loss(lossy, y, FFTS), log_magnitude_loss(restored, y, FFTS)
    assert float(after) < 0.5 * float(before)
    assert float(relative_waveform_loss(restored, y, lossy)) > 1.0  # why the waveform term is needed too


def test_zero_lambda_terms_are_not_computed_and_total_is_the_weighted_sum():
    y = music_like()
    x = low_pass(y, 3000.0)
    cfg = SpectralLossConfig(lambda_logmag=2.0, lambda_sc=0.0, lambda_wave=0.5, fft_sizes=FFTS)
    losses = restoration_losses(x, y, x, cfg)
    assert "loss/sc" not in losses
    expected = 2.0 * losses["loss/logmag"] + 0.5 * losses["loss/wave"]
    assert float(losses["loss/total"]) == pytest.approx(float(expected), rel=1e-6)


def test_config_refuses_negative_weights():
    with pytest.raises(ValueError):
        SpectralLossConfig(lambda_wave=-1.0)


def test_training_losses_off_equals_the_paper_loss_and_on_adds_the_terms():
    from ladle_model.losses.perceptual import LossConfig, compute_losses
    from ladle_model.losses.spectral import training_losses

    y = music_like()
    x = low_pass(y, 3000.0)
    paper = LossConfig(lambda_perc=0.0)
    off = training_losses(x, y, x, None, paper, SpectralLossConfig.off())
    assert off.keys() == compute_losses(x, y, None, paper).keys()
    assert float(off["loss/total"]) == pytest.approx(float(compute_losses(x, y, None, paper)["loss/total"]))
    spectral = SpectralLossConfig(fft_sizes=FFTS)
    on = training_losses(x, y, x, None, LossConfig(lambda_recon=0.0, lambda_perc=0.0), spectral)
    assert set(spectral.keys()) <= set(on) and "loss/mse" in on
    expected = sum(float(on[k]) for k in spectral.keys())  # every lambda is 1, the paper's terms 0
    assert float(on["loss/total"]) == pytest.approx(expected, rel=1e-6)
