"""Losses: zero on identical signals, positive otherwise, namespaced keys, the feature net's
pre-training on synthetic lossless-vs-lowpassed pairs, and its save/load round trip."""

from __future__ import annotations

import pytest
import torch

from ladle_model.losses.perceptual import (
    FeatureClassifier,
    FeatureNet,
    FeatureNetConfig,
    LossConfig,
    compute_losses,
    load_feature_net,
    multi_resolution_stft_loss,
    perceptual_loss,
    pretrain_feature_net,
    save_feature_net,
    train_feature_classifier,
)

T = 512  # samples per synthetic segment


def synthetic_pairs(n_batches: int, batch_size: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(lossless, lossy) pairs: broadband tones + noise at random levels, and the same audio with
    everything above a random cutoff (0.2-0.5 of Nyquist) removed, as a lossy codec's lowpass does."""
    g = torch.Generator().manual_seed(seed)
    n_bins = T // 2 + 1
    pairs = []
    for _ in range(n_batches):
        t = torch.arange(T) / T  # (T,)
        freqs = torch.randint(1, n_bins - 1, (batch_size, 2, 4, 1), generator=g)  # (B, 2, 4, 1) tones
        tones = torch.sin(2 * torch.pi * freqs * t).sum(dim=2) / 4  # (B, 2, T)
        noise = torch.randn(batch_size, 2, T, generator=g)  # (B, 2, T)
        gain = 10 ** (-1.5 * torch.rand(batch_size, 1, 1, generator=g))  # (B, 1, 1): -30..0 dB
        lossless = (0.3 * gain * (tones + 0.5 * noise)).clamp(-1, 1)  # (B, 2, T)
        cutoff = (n_bins * (0.2 + 0.3 * torch.rand(batch_size, 1, 1, generator=g))).long()  # (B, 1, 1)
        spectrum = torch.fft.rfft(lossless)  # (B, 2, n_bins)
        spectrum = spectrum * (torch.arange(n_bins) < cutoff)  # zero the bins above the cutoff
        lossy = torch.fft.irfft(spectrum, n=T)  # (B, 2, T)
        pairs.append((lossless, lossy))
    return pairs


@pytest.fixture(scope="module")
def feature_net() -> FeatureNet:
    return pretrain_feature_net(synthetic_pairs(4, 8, seed=0), steps=8, seed=0)


def test_mse_is_zero_for_identical_and_matches_definition(feature_net):
    g = torch.Generator().manual_seed(0)
    y = torch.rand(2, 2, 300, generator=g) * 2 - 1  # (2, 2, 300)
    assert compute_losses(y, y.clone(), feature_net, LossConfig())["loss/mse"].item() == 0.0
    y_hat = y + 0.1
    assert compute_losses(y_hat, y, feature_net, LossConfig())["loss/mse"].item() == pytest.approx(0.01, rel=1e-5)


def test_perceptual_is_zero_for_identical_and_positive_otherwise(feature_net):
    lossless, lossy = synthetic_pairs(1, 4, seed=1)[0]
    assert perceptual_loss(lossless, lossless.clone(), feature_net).item() == 0.0
    assert perceptual_loss(lossy, lossless, feature_net).item() > 0.0


def test_stft_loss_is_zero_for_identical_and_positive_otherwise():
    lossless, lossy = synthetic_pairs(1, 2, seed=2)[0]
    cfg = LossConfig(lambda_stft=1.0)
    assert multi_resolution_stft_loss(lossless, lossless.clone(), cfg).item() == 0.0
    assert multi_resolution_stft_loss(lossy, lossless, cfg).item() > 0.1
    # Segments shorter than half the largest FFT still work (zero centre padding).
    short = lossless[..., :100]
    assert multi_resolution_stft_loss(short, short.clone(), cfg).item() == 0.0


def test_keys_are_namespaced_and_total_is_the_weighted_sum(feature_net):
    lossless, lossy = synthetic_pairs(1, 2, seed=3)[0]
    default = compute_losses(lossy, lossless, feature_net, LossConfig())
    assert set(default) == {"loss/total", "loss/mse", "loss/perceptual"}  # stft off by default

    cfg = LossConfig(lambda_recon=2.0, lambda_perc=0.5, lambda_stft=0.25)
    losses = compute_losses(lossy, lossless, feature_net, cfg)
    assert set(losses) == {"loss/total", "loss/mse", "loss/perceptual", "loss/stft"}
    expected = 2.0 * losses["loss/mse"] + 0.5 * losses["loss/perceptual"] + 0.25 * losses["loss/stft"]
    assert losses["loss/total"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert losses["loss/mse"].item() == pytest.approx(default["loss/mse"].item())  # terms are unweighted

    mse_only = compute_losses(lossy, lossless, None, LossConfig(lambda_perc=0.0))
    assert set(mse_only) == {"loss/total", "loss/mse"}
    assert mse_only["loss/total"].item() == mse_only["loss/mse"].item()


def test_perceptual_term_needs_a_feature_net():
    y = torch.zeros(1, 2, 64)
    with pytest.raises(ValueError, match="feature_net"):
        compute_losses(y, y, None, LossConfig())


def test_gradients_reach_the_prediction_but_not_the_frozen_feature_net(feature_net):
    lossless, lossy = synthetic_pairs(1, 2, seed=4)[0]
    pred = lossy.clone().requires_grad_(True)
    compute_losses(pred, lossless, feature_net, LossConfig(lambda_stft=1.0))["loss/total"].backward()
    assert pred.grad is not None and pred.grad.abs().sum().item() > 0
    assert all(p.grad is None for p in feature_net.parameters())


def test_pretrained_feature_net_tells_lossless_from_lowpassed():
    train = synthetic_pairs(10, 8, seed=10)
    held_out_lossless, held_out_lossy = synthetic_pairs(1, 64, seed=99)[0]
    classifier = train_feature_classifier(train, steps=200, seed=0)  # default lr 1e-3
    with torch.no_grad():
        logits = classifier(torch.cat([held_out_lossless, held_out_lossy]))  # (128,)
    labels = torch.cat([torch.ones(64), torch.zeros(64)])
    accuracy = ((logits > 0).float() == labels).float().mean().item()
    assert accuracy > 0.9

    # pretrain_feature_net is the same training with the head dropped, then frozen.
    net = pretrain_feature_net(train, steps=200, seed=0)
    assert isinstance(net, FeatureNet) and not net.training
    assert all(not p.requires_grad for p in net.parameters())
    same = classifier.features.state_dict()
    assert all(torch.equal(v, same[k]) for k, v in net.state_dict().items())  # same seed, same result


def test_pretraining_is_seeded_and_leaves_the_global_rng_alone():
    pairs = synthetic_pairs(2, 4, seed=5)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = pretrain_feature_net(pairs, steps=3, seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    b = pretrain_feature_net(pairs, steps=3, seed=7)
    c = pretrain_feature_net(pairs, steps=3, seed=8)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_pretraining_reuses_a_list_but_refuses_an_exhausted_iterator():
    pairs = synthetic_pairs(2, 4, seed=6)
    net = pretrain_feature_net(pairs, steps=5, seed=0)  # a list is gone through again
    assert isinstance(net, FeatureNet)
    with pytest.raises(ValueError, match="ran out after 2 of 5"):
        pretrain_feature_net(iter(pairs), steps=5, seed=0)


def test_save_load_round_trip(tmp_path):
    net = pretrain_feature_net(
        synthetic_pairs(2, 4, seed=7), steps=3, seed=0, config=FeatureNetConfig(channels=(4, 6), kernel_size=5)
    )
    path = tmp_path / "feature_net.pt"
    save_feature_net(net, path)
    raw = torch.load(path, weights_only=True)  # plain tensors and builtins only
    assert raw["config"] == {"channels": (4, 6), "kernel_size": 5}

    loaded = load_feature_net(path)
    assert loaded.config == net.config
    assert not loaded.training and all(not p.requires_grad for p in loaded.parameters())
    x = synthetic_pairs(1, 2, seed=8)[0][0]
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    assert [p.name for p in tmp_path.iterdir()] == ["feature_net.pt"]  # no temporary left behind


def test_load_refuses_a_file_that_is_not_a_feature_net(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(ValueError, match="not a saved FeatureNet"):
        load_feature_net(path)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lambda_perc": -1.0},
        {"stft_fft_sizes": (512, 1024), "stft_win_lengths": (240, 600, 1200), "stft_hop_lengths": (50, 120, 240)},
        {"stft_fft_sizes": (256,), "stft_win_lengths": (512,), "stft_hop_lengths": (64,)},
    ],
)
def test_loss_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        LossConfig(**kwargs)


def test_feature_net_shapes():
    net = FeatureNet(FeatureNetConfig())
    assert net(torch.zeros(3, 2, 101)).shape == (3, 32, 101)
    assert FeatureClassifier(FeatureNetConfig())(torch.zeros(3, 2, 101)).shape == (3,)
