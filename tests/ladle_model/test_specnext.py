"""SpecNeXt: identity before training, shapes, range, batch invariance, mono and stereo."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ladle_model.specnext import SpecNeXt, SpecNeXtConfig

SMALL = SpecNeXtConfig(n_fft=256, hop=64, dim=16, n_blocks=2)


def tones(n_samples: int = 8000, sample_rate: int = 8000, seed: int = 0) -> torch.Tensor:
    """(1, 2, n) a few tones plus a little noise, peak below full scale."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / sample_rate
    x = sum(0.2 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6, size=(2, 1))) for f in (220.0, 660.0, 1500.0))
    x = x + 0.01 * rng.standard_normal((2, n_samples))
    return torch.from_numpy(x[None].astype(np.float32))


def test_untrained_default_model_returns_its_input():
    torch.manual_seed(0)
    model = SpecNeXt(SpecNeXtConfig()).eval()
    x = tones(44100, 44100)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape
    assert float((y - x).abs().max()) < 1e-4


def test_trained_head_changes_output_and_stays_in_range():
    torch.manual_seed(0)
    model = SpecNeXt(SMALL)
    torch.nn.init.normal_(model.head.weight, std=1.0)  # a large correction: clamping must hold the range
    x = tones()
    y = model(x)
    assert float((y - x).detach().abs().max()) > 1e-3
    assert float(y.detach().abs().max()) <= 1.0
    y.pow(2).mean().backward()
    assert model.embed.weight.grad is not None and float(model.embed.weight.grad.abs().sum()) > 0


@pytest.mark.parametrize("n_samples", [1000, 4097])
def test_batch_of_two_equals_two_single_calls_any_length(n_samples):
    torch.manual_seed(0)
    model = SpecNeXt(SMALL).eval()
    torch.nn.init.normal_(model.head.weight, std=0.01)
    a, b = tones(n_samples, seed=1), tones(n_samples, seed=2)
    with torch.no_grad():
        both = model(torch.cat([a, b]))
        one, two = model(a), model(b)
    assert both.shape == (2, 2, n_samples)
    torch.testing.assert_close(both, torch.cat([one, two]), atol=1e-5, rtol=0)


def test_mono_input_is_restored_like_the_left_channel():
    torch.manual_seed(0)
    model = SpecNeXt(SMALL).eval()
    torch.nn.init.normal_(model.head.weight, std=0.01)
    x = tones()
    with torch.no_grad():
        stereo, mono = model(x), model(x[:, :1])
    torch.testing.assert_close(mono[:, 0], stereo[:, 0], atol=1e-5, rtol=0)


def test_config_refuses_bad_values():
    with pytest.raises(ValueError):
        SpecNeXtConfig(n_fft=1000, hop=300)
    with pytest.raises(ValueError):
        SpecNeXtConfig(kernel_size=4)
    with pytest.raises(ValueError):
        SpecNeXtConfig(compress=0.0)
