"""Metrics against values known by construction or computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ladle_model.evaluation import metrics as M
from ladle_model.evaluation import visqol as V
from ladle_model.losses.perceptual import FeatureNet, FeatureNetConfig, perceptual_loss


def noise(shape, seed=0, scale=0.1) -> np.ndarray:
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float64)


def orthogonal_zero_mean(ref: np.ndarray, seed: int) -> np.ndarray:
    """Per channel, a zero-mean noise orthogonal to the (zero-mean) reference channel."""
    n = noise(ref.shape, seed)
    n -= n.mean(axis=-1, keepdims=True)
    r = ref - ref.mean(axis=-1, keepdims=True)
    return n - (np.sum(n * r, axis=-1, keepdims=True) / np.sum(r * r, axis=-1, keepdims=True)) * r


def test_identical_signals():
    x = noise((2, 8000))
    assert M.mse(x, x) == 0.0
    assert M.lsd(x, x) == 0.0
    assert M.snr_db(x, x) == M.CAP_DB == 100.0
    assert M.si_sdr_db(x, x) == M.CAP_DB
    batch = np.stack([x, 2 * x, x[::-1]])  # (3, 2, T)
    for metric in (M.mse, M.lsd):
        assert np.array_equal(metric(batch, batch), np.zeros(3))
    assert np.array_equal(M.si_sdr_db(batch, batch), np.full(3, 100.0))


def test_batch_gives_one_value_per_item_equal_to_single_calls():
    ref, est = noise((3, 2, 4096), 1), noise((3, 2, 4096), 2)
    for metric in (M.mse, M.snr_db, M.si_sdr_db, M.lsd):
        values = metric(ref, est)
        assert values.shape == (3,)
        assert values == pytest.approx([metric(r, e) for r, e in zip(ref, est)], rel=1e-12)
    assert M.mse(torch.from_numpy(ref[0]), torch.from_numpy(est[0])) == pytest.approx(
        M.mse(ref[0], est[0])
    )  # tensors too


def test_mse_value():
    ref = np.zeros((2, 100))
    est = np.full((2, 100), 0.5)
    est[1] = 0.0
    assert M.mse(ref, est) == pytest.approx(0.125)  # half the samples off by 0.5


def test_snr_of_a_known_added_noise():
    t = np.arange(44100) / 44100
    ref = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 660 * t)])
    n = noise(ref.shape, 3)
    # scale each channel's noise to exactly 1/100 of that channel's energy: SNR 20 dB in both
    n *= np.sqrt(np.sum(ref**2, axis=1, keepdims=True) / 100 / np.sum(n**2, axis=1, keepdims=True))
    assert M.snr_db(ref, ref + n) == pytest.approx(20.0, abs=1e-9)
    assert M.snr_db(ref, ref + 0.1 * n) == pytest.approx(40.0, abs=1e-9)
    assert M.snr_db(ref, np.zeros_like(ref)) == pytest.approx(0.0)


def test_si_sdr_value_and_scale_invariance():
    ref = noise((2, 16000), 4) + 0.2
    residual = orthogonal_zero_mean(ref, 5)
    residual *= np.sqrt(
        np.sum((ref - ref.mean(-1, keepdims=True)) ** 2, axis=1, keepdims=True)
        / 1000
        / np.sum(residual**2, axis=1, keepdims=True)
    )
    est = ref + residual  # target = ref (alpha = 1), residual energy 1/1000: 30 dB
    assert M.si_sdr_db(ref, est) == pytest.approx(30.0, abs=1e-6)
    for scale in (3.7, 0.01, -2.0):
        assert M.si_sdr_db(ref, scale * est) == pytest.approx(30.0, abs=1e-6)
    assert M.snr_db(ref, 3.7 * est) < 0  # SNR is not scale-invariant: a louder copy is "noise"


def _lsd_by_hand(ref: np.ndarray, est: np.ndarray, n_fft: int, hop: int, lowest_bin: int = 0) -> float:
    """docs/design.md's LSD written out frame by frame for a 1-D signal (centred frames, zero padding)."""
    window = np.array([0.5 - 0.5 * math.cos(2 * math.pi * k / n_fft) for k in range(n_fft)])
    padded_ref = np.concatenate([np.zeros(n_fft // 2), ref, np.zeros(n_fft // 2)])
    padded_est = np.concatenate([np.zeros(n_fft // 2), est, np.zeros(n_fft // 2)])
    per_frame = []
    for k in range(1 + len(ref) // hop):
        p = np.abs(np.fft.rfft(padded_ref[k * hop : k * hop + n_fft] * window)) ** 2
        q = np.abs(np.fft.rfft(padded_est[k * hop : k * hop + n_fft] * window)) ** 2
        d = np.log10(np.maximum(p, 1e-8)) - np.log10(np.maximum(q, 1e-8))
        per_frame.append(math.sqrt(np.mean(d[lowest_bin:] ** 2)))
    return float(np.mean(per_frame))


def test_lsd_matches_a_hand_computation_on_a_tiny_case():
    rng = np.random.default_rng(6)
    ref = np.zeros((1, 3000))
    ref[0, 500:2500] = 0.3 * np.sin(np.arange(2000) * 0.05)  # silence at both ends: the 1e-8 clamp matters there
    est = ref + 0.01 * rng.standard_normal(ref.shape) * (np.arange(3000) > 1000)
    expected = _lsd_by_hand(ref[0], est[0], n_fft=256, hop=64)
    assert M.lsd(ref, est, n_fft=256, hop=64) == pytest.approx(expected, rel=1e-10)
    assert 0.5 < expected < 10  # a real difference, not zero
    # docs/design.md's default sizes on stereo: the mean of the channels
    ref2, est2 = noise((2, 6000), 7), noise((2, 6000), 8)
    by_hand = np.mean([_lsd_by_hand(r, e, 2048, 512) for r, e in zip(ref2, est2)])
    assert M.lsd(ref2, est2) == pytest.approx(by_hand, rel=1e-10)


def test_lsd_of_a_gain_is_twice_its_log():
    ref = noise((2, 44100), 9)  # white noise: every bin of every frame is far above the 1e-8 floor
    assert M.lsd(ref, 10 * ref) == pytest.approx(2.0, abs=1e-9)  # log10 of a power ratio of 100
    assert M.lsd(ref, 0.5 * ref) == pytest.approx(2 * math.log10(2), abs=1e-9)


def brick_wall(x: np.ndarray, sample_rate: int, cutoff_hz: float) -> np.ndarray:
    spectrum = np.fft.rfft(x, axis=-1)
    spectrum[..., np.fft.rfftfreq(x.shape[-1], 1 / sample_rate) > cutoff_hz] = 0
    return np.fft.irfft(spectrum, n=x.shape[-1], axis=-1)


def test_cutoff_estimate_and_lsd_above_it():
    sr = 32000
    ref = noise((2, sr * 2), 10)
    lossy = brick_wall(ref, sr, 8000.0)
    cutoff = M.estimate_cutoff_hz(ref, lossy, sr)
    assert abs(cutoff - 8000) < 200  # within the 17-bin smoothing (16 Hz bins at 32 kHz)
    assert math.isnan(M.estimate_cutoff_hz(ref, ref, sr))  # nothing removed
    assert math.isnan(M.estimate_cutoff_hz(ref, 0.9 * ref, sr))  # quieter, but nothing removed
    lowest_bin = math.floor(cutoff * 2048 / sr) + 1
    by_hand = np.mean([_lsd_by_hand(r, e, 2048, 512, lowest_bin) for r, e in zip(ref, lossy)])
    assert M.lsd_hf(ref, lossy, cutoff, sr) == pytest.approx(by_hand, rel=1e-10)
    assert M.lsd_hf(ref, lossy, cutoff, sr) > M.lsd(ref, lossy)  # the removed band is where the distance is
    assert math.isnan(M.lsd_hf(ref, lossy, float("nan"), sr))
    assert math.isnan(M.lsd_hf(ref, lossy, sr / 2, sr))  # no bin above Nyquist


def test_perceptual_distance_in_chunks_equals_the_training_loss():
    torch.manual_seed(0)
    phi = FeatureNet(FeatureNetConfig()).eval()
    ref = noise((2, 5000), 11).astype(np.float32)
    est = (ref + noise((2, 5000), 12, 0.05)).astype(np.float32)
    whole = perceptual_loss(torch.from_numpy(est)[None], torch.from_numpy(ref)[None], phi).item()
    assert M.perceptual_distance(ref, est, phi, chunk_samples=777) == pytest.approx(whole, rel=1e-5)
    assert M.perceptual_distance(ref, est, phi) == pytest.approx(whole, rel=1e-5)
    assert M.perceptual_distance(ref, ref, phi) == 0.0


def test_active_excerpts_skip_silence():
    sr = 1000
    x = np.zeros((2, 30 * sr))
    x[:, 10 * sr : 25 * sr] = 0.2
    excerpts = M.active_excerpts(x, sr, 3, 5.0)
    assert excerpts == [(10000, 15000), (15000, 20000), (20000, 25000)]
    assert M.active_excerpts(x[:, 10 * sr : 13 * sr], sr, 3, 5.0) == [
        (0, 3000)
    ]  # shorter than one excerpt: the whole track
    assert M.active_excerpts(np.zeros((2, 100)), sr, 3, 5.0) == []


@pytest.mark.skipif(not M.visqol_available(), reason="visqol-python not installed")
def test_visqol_of_a_signal_against_itself_is_near_its_maximum():
    sr = 48000
    t = np.arange(3 * sr) / sr
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 3000 * t) + noise((3 * sr,), 13, 0.02)
    x = np.stack([tone, tone])
    same = M.visqol_moslqo(x, x, sr, n_excerpts=1, excerpt_seconds=3.0)
    degraded = M.visqol_moslqo(x, x + noise(x.shape, 14, 0.03), sr, n_excerpts=1, excerpt_seconds=3.0)
    assert same > 4.6  # the audio mode's ceiling is ~4.73
    assert 1.0 <= degraded < same - 0.2


@pytest.mark.skipif(not M.visqol_available(), reason="visqol-python not installed")
def test_visqol_minimum_length_is_what_the_registry_says():
    sr = 32000
    t = np.arange(sr) / sr
    tone = np.stack([0.3 * np.sin(2 * np.pi * 440 * t) + noise((sr,), 15, 0.02)] * 2)
    shortest = round(V.VISQOL_MIN_SECONDS * sr)
    assert 1.0 <= V.visqol_moslqo(tone[:, :shortest], tone[:, :shortest], sr, 1, 5.0) <= 4.8  # 0.96 s: scored
    with pytest.raises(ValueError, match="smaller than minimum patch size"):
        V.visqol_moslqo(
            tone[:, : shortest - sr // 100], tone[:, : shortest - sr // 100], sr, 1, 5.0
        )  # 0.95 s: visqol refuses
    assert M.get_metric("visqol").min_seconds == V.VISQOL_MIN_SECONDS


@pytest.mark.skipif(not M.visqol_available(), reason="visqol-python not installed")
def test_visqol_scores_excerpts_in_worker_processes_exactly_as_in_this_one():
    sr = 16000
    t = np.arange(2 * sr) / sr
    tone = np.stack([0.3 * np.sin(2 * np.pi * 440 * t) + noise((2 * sr,), 16, 0.02)] * 2)
    reference = np.stack([tone] * 3)  # (3, 2, T)
    estimate = np.stack([tone + noise(tone.shape, 17 + k, level) for k, level in enumerate((0.0, 0.02, 0.1))])
    serial = V.visqol_moslqo(reference, estimate, sr, 2, 1.0, workers=1)  # two 1-s excerpts each: six pairs
    parallel = V.visqol_moslqo(reference, estimate, sr, 2, 1.0, workers=2)
    assert serial.shape == (3,) and serial[0] > serial[1] > serial[2]
    np.testing.assert_allclose(parallel, serial, rtol=0, atol=1e-9)  # the same to rounding
    short = reference[..., : round(0.9 * sr)]
    with pytest.raises(ValueError, match="smaller than minimum patch size"):  # a worker's error reaches the caller
        V.visqol_moslqo(short, short, sr, 1, 5.0, workers=2)


@pytest.mark.parametrize("seconds", [0.1, 0.9, 2.0])
def test_every_metric_scores_a_short_track_or_says_why_not(seconds):
    sr = 44100
    ref = noise((2, round(seconds * sr)), 16)
    est = ref + noise(ref.shape, 17, 0.01)
    phi = FeatureNet(FeatureNetConfig()).eval()
    values, reasons = M.score_all(
        ref, est, M.ScoreContext(sample_rate=sr, cutoff_hz=16000.0, feature_net=phi, visqol_excerpts=1)
    )
    scored = {k for k, v in values.items() if math.isfinite(v)}
    if seconds < V.VISQOL_MIN_SECONDS:
        assert scored == set(M.METRICS) - {"visqol"}
        assert reasons == {"visqol": f"{seconds:.2f}-s track is shorter than the 0.96 s ViSQOL MOS-LQO needs"}
    else:
        assert scored == set(M.METRICS) - ({"visqol"} if not M.visqol_available() else set()) and reasons == {}


def test_a_metric_that_fails_is_na_with_its_reason_and_the_others_go_on():
    def broken(r, e, ctx):
        raise RuntimeError("no such band\nsecond line")

    M.register_metric(M.Metric("broken", "broken metric", "lower", broken, "Fails."))
    try:
        values, reasons = M.score_all(
            noise((2, 4410), 18), noise((2, 4410), 19), M.ScoreContext(sample_rate=44100, visqol_excerpts=0)
        )
    finally:
        M.unregister_metric("broken")
    assert math.isnan(values["broken"]) and reasons == {"broken": "broken metric failed: no such band"}
    assert math.isfinite(values["mse"]) and math.isfinite(values["lsd"])
