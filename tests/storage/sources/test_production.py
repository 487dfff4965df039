"""The production chain: drawn reproducibly per track, and each stage does what it says on tiny signals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from storage.sources.production import (
    Production,
    apply_production,
    compress,
    draw_production,
    equalise,
    room_impulse,
    widen,
)

RATE = 44100
NEUTRAL = Production(
    low_shelf_hz=100.0, low_shelf_db=0.0, peak_hz=1000.0, peak_db=0.0, peak_q=1.0, high_shelf_hz=6000.0,
    high_shelf_db=0.0, reverb_rt60_s=0.5, reverb_wet=0.0, reverb_predelay_ms=0.0, reverb_damping_hz=8000.0,
    reverb_seed=0, threshold_db=0.0, ratio=1.0, attack_ms=5.0, release_ms=100.0, width=1.0, peak_dbfs=-1.0,
)  # fmt: skip


def _tones(*freqs: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    mono = sum(np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs)
    return np.stack([mono, 0.5 * mono])  # (2, T): some side signal


def _level_db(x: np.ndarray, freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(x[0] * np.hanning(x.shape[-1])))
    return 20 * np.log10(spectrum[round(freq * x.shape[-1] / RATE)])


def test_draws_are_reproducible_per_track_and_independent_of_other_tracks():
    a = draw_production(0, "bach/bwv269.mxl")
    assert a == draw_production(0, "bach/bwv269.mxl")
    assert a != draw_production(0, "bach/bwv270.mxl") and a != draw_production(1, "bach/bwv269.mxl")
    draws = [draw_production(0, f"w{i}") for i in range(200)]
    for field, low, high in [("reverb_rt60_s", 0.25, 2.5), ("reverb_wet", 0.03, 0.3), ("ratio", 1.5, 6.0),
                             ("width", 0.6, 1.5), ("peak_dbfs", -6.0, -1.0), ("high_shelf_db", -5.0, 4.0)]:  # fmt: skip
        values = [getattr(d, field) for d in draws]
        assert low <= min(values) and max(values) <= high, field
        assert max(values) - min(values) > 0.5 * (high - low), field  # the range is used, not one corner
    assert Production(**dataclasses.asdict(a)) == a  # a record that round-trips through JSON-able dicts


def test_a_neutral_chain_only_sets_the_peak():
    audio = _tones(220, 3000)
    out = apply_production(audio, RATE, dataclasses.replace(NEUTRAL, peak_dbfs=-3.0))
    assert out.dtype == np.float32 and out.shape == audio.shape
    assert np.abs(out).max() == pytest.approx(10 ** (-3 / 20), rel=1e-6)
    body = slice(0, RATE // 2)  # before the fade-out: the input times one gain
    gain = np.sum(out[:, body] * audio[:, body]) / np.sum(audio[:, body] ** 2)
    np.testing.assert_allclose(out[:, body], audio[:, body] * gain, atol=1e-6)


def test_the_shelves_and_the_bell_move_their_bands_by_their_gain():
    audio = _tones(60, 1000, 15000, seconds=2.0)
    eq = dataclasses.replace(NEUTRAL, low_shelf_hz=200, low_shelf_db=4, peak_hz=1000, peak_db=-3, high_shelf_db=-5)
    out = equalise(audio, RATE, eq)
    changes = [_level_db(out, f) - _level_db(audio, f) for f in (60, 1000, 15000)]
    np.testing.assert_allclose(changes, [4, -3, -5], atol=0.3)


def test_compression_narrows_the_gap_between_loud_and_quiet_passages():
    audio = _tones(440, seconds=2.0)
    audio[:, RATE:] *= 0.1  # loud second, then 20 dB quieter
    out = compress(audio, RATE, dataclasses.replace(NEUTRAL, threshold_db=-10, ratio=4, attack_ms=2))

    def rms_db(x):
        return 10 * np.log10(np.mean(x**2))

    gap_in = rms_db(audio[:, RATE // 2 : RATE]) - rms_db(audio[:, -RATE // 2 :])
    gap_out = rms_db(out[:, RATE // 2 : RATE]) - rms_db(out[:, -RATE // 2 :])
    assert gap_in == pytest.approx(20, abs=0.1)
    assert gap_out == pytest.approx(20 - 10 * (1 - 1 / 4), abs=0.5)  # 10 dB over the threshold at 4:1


def test_the_room_decays_by_60_db_at_its_rt60_after_the_predelay():
    room = dataclasses.replace(NEUTRAL, reverb_rt60_s=0.8, reverb_predelay_ms=20, reverb_seed=3)
    ir = room_impulse(RATE, room)
    assert np.all(ir[:, : round(0.02 * RATE)] == 0)
    np.testing.assert_allclose(np.sum(ir**2, axis=-1), 1.0)

    def energy_db(start_s):
        x = ir[:, round(start_s * RATE) : round((start_s + 0.05) * RATE)]
        return 10 * np.log10(np.mean(x**2))

    assert energy_db(0.02) - energy_db(0.82) == pytest.approx(60, abs=3)
    assert abs(np.corrcoef(ir[0], ir[1])[0, 1]) < 0.1  # a stereo room, not a mono copy
    np.testing.assert_array_equal(ir, room_impulse(RATE, room))


def test_width_scales_the_side_signal_only():
    audio = _tones(440)
    out = widen(audio, 1.5)
    np.testing.assert_allclose(out[0] + out[1], audio[0] + audio[1], atol=1e-12)
    np.testing.assert_allclose(out[0] - out[1], 1.5 * (audio[0] - audio[1]), atol=1e-12)


def test_a_drawn_chain_is_deterministic_and_ends_faded_out():
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal((2, 2 * RATE)) * 0.1).astype(np.float32)
    chain = draw_production(0, "x")
    out = apply_production(audio, RATE, chain)
    np.testing.assert_array_equal(out, apply_production(audio, RATE, chain))
    assert np.abs(out).max() == pytest.approx(10 ** (chain.peak_dbfs / 20), rel=1e-6)
    assert np.abs(out[:, -10:]).max() < 1e-3
