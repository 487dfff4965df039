"""The shared STFT magnitude (ladle_model/losses/stft.py): both multi-resolution losses give the numbers they gave
with their own STFTs, each with its own floor (values pinned on the code before the helper)."""

import pytest
import torch

from ladle_model.losses.perceptual import LossConfig, multi_resolution_stft_loss
from ladle_model.losses.spectral import SpectralLossConfig, restoration_losses
from ladle_model.losses.stft import stft_magnitude


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(pred, target, lossy), (2, 2, 4410): two tones, one item silent after 2000 samples (where the floors act)."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(4410) / 44100
    tones = torch.stack([torch.sin(2 * torch.pi * 440 * t), 0.5 * torch.sin(2 * torch.pi * 3000 * t)])
    target = tones.unsqueeze(0).repeat(2, 1, 1) * 0.5
    target[1, :, 2000:] = 0.0
    pred = target + 0.01 * torch.randn(target.shape, generator=g)
    lossy = target + 0.03 * torch.randn(target.shape, generator=g)
    return pred, target, lossy


def test_parallel_wavegan_stft_loss_is_unchanged(batch):
    pred, target, _ = batch
    assert multi_resolution_stft_loss(pred, target, LossConfig(lambda_stft=1.0)).item() == pytest.approx(
        4.7638020515441895, rel=1e-6
    )


def test_restoration_losses_are_unchanged(batch):
    pred, target, lossy = batch
    losses = {k: v.item() for k, v in restoration_losses(pred, target, lossy, SpectralLossConfig()).items()}
    assert losses == pytest.approx(
        {
            "loss/logmag": 2.7445108890533447,
            "loss/sc": 0.04028552398085594,
            "loss/wave": 0.11122477054595947,
            "loss/total": 2.8960213661193848,
        },
        rel=1e-6,
    )


def test_power_floor_holds_silence_at_the_floor_and_leaves_the_rest():
    x = torch.zeros(1, 2048)
    x[0, 1024:] = torch.sin(torch.arange(1024) * 0.3)
    plain, floored = stft_magnitude(x, 512, 128), stft_magnitude(x, 512, 128, power_floor=1e-7)
    assert floored.min().item() == pytest.approx(1e-7**0.5, rel=1e-5)
    loud = plain > 1e-2
    torch.testing.assert_close(floored[loud], plain[loud])
