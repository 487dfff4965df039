"""SpecNeXt: identity before training, shapes, range, batch invariance, mono and stereo."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ladle_model.models.gain_table import GainTable
from ladle_model.models.specnext import SpecNeXt, SpecNeXtConfig, bin_gains
from tests.ladle_model.test_bandwidth import low_passed_noise

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


@pytest.mark.parametrize("option", [{}, {"noise_fill": True}])
def test_trains_under_bf16_autocast_as_on_cuda_and_returns_float32(option):
    # Training runs the model under bf16 autocast on CUDA (ladle_model/training/distributed.py); CPU autocast takes the
    # same bf16 path through the convolutions and the head, whose output must become float32 before it is complex.
    torch.manual_seed(0)
    model = SpecNeXt(dataclasses.replace(SMALL, **option))
    torch.nn.init.normal_(model.head.weight, std=0.05)
    x = tones()
    bandwidth = None
    torch.manual_seed(1)  # the same training noise in both passes
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x, bandwidth=bandwidth)
    assert y.dtype == torch.float32 and y.shape == x.shape
    torch.manual_seed(1)
    with torch.no_grad():
        y32 = model(x, bandwidth=bandwidth)
    assert float((y - x).detach().abs().max()) > 1e-4  # the correction is there ...
    assert float((y - y32).detach().abs().max()) < 0.05 * float((y32 - x).abs().max())  # ... and close to float32's
    y.pow(2).mean().backward()
    assert torch.isfinite(model.head.weight.grad).all() and float(model.head.weight.grad.abs().sum()) > 0


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
    for table in (
        [],
        [[0.5, 0.5, 0.5, 1.0], [0.4, 0.2, 0.2, 1.0]],
        [[1.2, 0.5, 0.5, 1.0]],
        [[0.5, 5.0, 0.5, 1.0]],
        [[0.5, 0.5], [1.0, 0.0]],
        [[0.5]],
        [5],
        [["a", "b"]],
        [[0.5, 0.5, 5.0]],
        [[0.5, 0.5, 0.2], [1.0, 0.0]],
        [[0.5, 0.1, 0.2, 0.3, 0.4]],
        [[0.5, 0.1, 0.2, 5.0]],
    ):
        with pytest.raises(ValueError, match="fill_gain_table"):
            SpecNeXtConfig(fill_gain_table=table)


def test_the_table_interpolates_between_rows_and_holds_flat_outside():
    table = [[0.5, 0.5, 0.5, 1.0], [0.75, 0.25, 0.25, 1.0], [1.0, 0.0, 0.0, 1.0]]
    gains = GainTable.from_list(table).gains_at(
        torch.tensor([0.2, 0.5, 0.625, 0.75, 0.875, 1.0])
    )  # (6, 3): below and above the cut, mask
    assert gains[:, 0].tolist() == pytest.approx([0.5, 0.5, 0.375, 0.25, 0.125, 0.0])
    assert gains[:, 1].tolist() == gains[:, 0].tolist()
    assert gains[:, 2].tolist() == [1.0] * 6  # the mask as trained
    one_row = GainTable.from_list([[0.6, 0.3, 0.3, 1.0]]).gains_at(torch.tensor([0.1, 1.0]))
    assert one_row.flatten().tolist() == pytest.approx([0.3, 0.3, 1.0] * 2)
    split = GainTable.from_list([[0.5, 1.0, 0.5, 1.0], [1.0, 0.0, 0.0, 1.0]]).gains_at(torch.tensor([0.5, 0.75]))
    assert split.flatten().tolist() == pytest.approx([1.0, 0.5, 1.0, 0.5, 0.25, 1.0])
    gated = GainTable.from_list([[0.5, 0.25, 0.5, 1.0], [0.8, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]).gains_at(
        torch.tensor([0.5, 0.65, 0.9])
    )
    assert gated.flatten().tolist() == pytest.approx([0.25, 0.5, 1.0, 0.125, 0.25, 0.5, 0.0, 0.0, 0.0])


def test_bin_gains_split_at_each_inputs_own_cut():
    gains = bin_gains(
        GainTable.from_list([[0.5, 1.0, 0.25, 1.0], [1.0, 0.0, 0.0, 1.0]]), torch.tensor([0.5, 1.0]), 9
    )  # (2, 9, 1)
    assert gains[0, :, 0].tolist() == pytest.approx([1.0] * 4 + [0.25] * 5)  # bins 0-3 below the cut at bin 4
    assert gains[1, :, 0].tolist() == [0.0] * 9  # full band: every bin is in band


def test_a_gain_table_fills_each_item_at_the_gain_of_its_own_bandwidth():
    torch.manual_seed(0)
    model = SpecNeXt(SpecNeXtConfig(dim=16, n_blocks=1))
    with torch.no_grad():
        model.head.bias[2 * model.n_bins :] = 0.01  # a fill everywhere; the mask head stays zero
    x = low_passed_noise([11025.0, float("inf")], n=22050)
    with torch.no_grad():
        full = model(x)
        model.config.fill_gain_table = [[0.5, 0.5, 0.5, 1.0], [1.0, 0.0, 0.0, 1.0]]
        tabled = model(x)
    assert torch.allclose(tabled[1], x[1], atol=1e-6)  # full-band item: gain 0, the input comes back
    assert torch.allclose(tabled[0] - x[0], 0.5 * (full[0] - x[0]), atol=1e-5)  # cut at half Nyquist: gain 1/2


def test_the_mask_gain_scales_the_mask_term_and_an_input_past_the_gate_comes_back_unchanged():
    torch.manual_seed(0)
    model = SpecNeXt(SpecNeXtConfig(dim=16, n_blocks=1))
    with torch.no_grad():
        model.head.bias[: model.n_bins] = 0.2  # a mask everywhere (real part); no fill
    x = low_passed_noise([11025.0, 19000.0], n=22050)
    with torch.no_grad():
        full = model(x)
        model.config.fill_gain_table = [[0.5, 1.0, 1.0, 0.5], [0.8, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
        gated = model(x, bandwidth=torch.tensor([0.5, 19000 / 22050]))
    assert (full - x).abs().max() > 1e-2
    torch.testing.assert_close(
        gated[0] - x[0], 0.5 * (full[0] - x[0]), rtol=1e-4, atol=1e-6
    )  # cut at 11 kHz: half the mask
    assert torch.equal(gated[1], x[1])  # cut at 19 kHz, past the gate at 0.8: nothing changes


def test_a_split_row_fills_the_band_above_the_cut_at_its_own_gain():
    torch.manual_seed(0)
    model = SpecNeXt(SpecNeXtConfig(dim=16, n_blocks=1))
    with torch.no_grad():
        model.head.bias[2 * model.n_bins :] = 0.01  # a fill everywhere; the mask head stays zero
    x = low_passed_noise([11025.0], n=22050)
    with torch.no_grad():
        full = model(x)
        model.config.fill_gain_table = [
            [0.5, 0.0, 1.0, 1.0],
            [1.0, 0.0, 0.0, 1.0],
        ]  # no fill in band, all of it above the cut
        split = model(x)

    def residual(y: torch.Tensor) -> torch.Tensor:  # |STFT| of what the model added, interior frames: (bins, frames)
        return model.stft(y[0, :1] - x[0, :1])[0, :, 4:-4].abs()

    edge = model.n_bins // 2  # the cut at 11025 Hz
    above, below = slice(edge + 8, None), slice(0, edge - 8)
    torch.testing.assert_close(
        residual(split)[above], residual(full)[above], rtol=0.05, atol=1e-4
    )  # the fill above the cut is kept
    assert (
        residual(split)[below].mean() < 0.1 * residual(full)[below].mean()
    ).item()  # float rounding only: and none is added below it


def test_a_noise_fill_overlap_adds_at_its_gain_where_a_still_fill_cancels():
    torch.manual_seed(0)
    model = SpecNeXt(SpecNeXtConfig(noise_fill=True)).eval()
    x = tones(44100, 44100)
    F = model.n_bins

    def output_power(bins: slice, first: int, level: float = 0.5) -> torch.Tensor:
        """Power of the output's STFT over `bins` with only the head's bias rows `first` + bins at `level`,
        relative to that level times the frame RMS the fill is scaled by: (2, bins, frames)."""
        with torch.no_grad():
            model.head.bias.zero_()
            model.head.bias[first + bins.start : first + bins.stop] = level
            out = model.stft((model(x) - x)[0])[:, bins, 8:-8]  # what the model added
        scale = model.stft(x[0]).abs().pow(2).mean(dim=1).sqrt()[:, None, 8:-8]  # (2, 1, frames)
        return out.abs().pow(2) / (level * scale).pow(2)

    with torch.no_grad():
        assert float((model(x) - x).abs().max()) < 1e-4  # untrained: the input comes back
    noise = output_power(slice(300, 400), 4 * F)  # the noise at gain 0.5 over 12.9-17.2 kHz, empty in the input
    assert 0.8 < float(noise.mean()) < 1.25  # keeps its power through the overlap-add
    with torch.no_grad():
        assert torch.equal(model(x), model(x))  # a fixed seed at inference: repeatable
    # the additive term held still on one bin: whole turns a hop (index 0 mod n_fft/hop = 4) add up, half turns cancel
    assert float(output_power(slice(300, 301), 2 * F).mean()) > 0.3
    assert float(output_power(slice(302, 303), 2 * F).mean()) < 1e-6


def test_the_inference_noise_is_one_stream_whatever_span_is_asked_for():
    from ladle_model.models.specnext import NOISE_BLOCK, noise_stream

    first = -NOISE_BLOCK - 4464
    stream = noise_stream(first, 3 * NOISE_BLOCK)  # across four blocks, before sample 0 too
    for start, n in [
        (first, 5),
        (-NOISE_BLOCK, 10),
        (-1, 3),
        (0, NOISE_BLOCK + 7),
        (NOISE_BLOCK - 6, 20),
        (100000, 20000),
    ]:
        assert torch.equal(noise_stream(start, n), stream[start - first : start - first + n]), (start, n)
    assert abs(float(stream.std()) - 1.0) < 0.01 and abs(float(stream.mean())) < 0.01
    assert float((noise_stream(0, 1000) * noise_stream(NOISE_BLOCK, 1000)).mean().abs()) < 0.1  # blocks differ
