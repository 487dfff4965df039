"""Loudness matching: every stimulus within 0.5 LU of the others, by a pure gain, never clipping."""

from __future__ import annotations

import numpy as np
import pytest

from ladle_model.listening.loudness import PEAK_CEILING_DBFS, fade_edges, integrated_loudness, match_loudness, peak_dbfs

RATE = 16000


def sine(freq: float, amplitude: float, seconds: float = 2.0, channels: int = 2) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return np.tile(amplitude * np.sin(2 * np.pi * freq * t), (channels, 1)).astype(np.float32)


def test_bs1770_reads_a_full_scale_sine_on_one_channel_at_minus_3_lufs():
    # ITU-R BS.1770-4: a 0 dBFS 997 Hz sine in one channel reads -3.01 LKFS
    assert integrated_loudness(sine(997, 1.0, channels=1), RATE) == pytest.approx(-3.01, abs=0.1)
    # twice the amplitude on both channels is 6 dB louder, plus 3 dB for the second channel
    assert integrated_loudness(sine(997, 0.5), RATE) - integrated_loudness(
        sine(997, 0.25, channels=1), RATE
    ) == pytest.approx(9.03, abs=0.1)


def test_matched_stimuli_are_within_half_an_lu_by_a_pure_gain():
    rng = np.random.default_rng(0)
    stimuli = {
        "quiet tone": sine(440, 0.02),
        "loud tone": sine(3000, 0.6),
        "noise": (0.1 * rng.standard_normal((2, 2 * RATE))).astype(np.float32),
        "dull noise": np.cumsum(0.01 * rng.standard_normal((2, 2 * RATE)), axis=1).astype(np.float32) * 0.05,
    }
    matched, report = match_loudness(stimuli, RATE)
    after = {name: integrated_loudness(x, RATE) for name, x in matched.items()}
    assert max(after.values()) - min(after.values()) < 0.5
    assert all(abs(v - report["target_lufs"]) < 0.5 for v in after.values())
    for name, x in matched.items():  # a pure gain: relative quality is untouched
        np.testing.assert_allclose(x, stimuli[name] * 10 ** (report["gain_db"][name] / 20), rtol=1e-5, atol=1e-7)
    assert report["loudness_lufs"]["loud tone"] > report["loudness_lufs"]["quiet tone"] + 20


def test_the_whole_trial_comes_down_when_one_stimulus_would_clip():
    # a sparse click train is quiet by BS.1770 but has full-scale peaks: matching it to -23 LUFS would clip
    clicks = np.zeros((2, 2 * RATE), np.float32)
    clicks[:, :: RATE // 4] = 0.9
    matched, report = match_loudness({"clicks": clicks, "tone": sine(440, 0.1)}, RATE)
    assert report["target_lufs"] < -23.0
    assert max(peak_dbfs(x) for x in matched.values()) == pytest.approx(PEAK_CEILING_DBFS, abs=0.01)
    assert abs(integrated_loudness(matched["clicks"], RATE) - integrated_loudness(matched["tone"], RATE)) < 0.5


def test_fade_edges_starts_and_ends_near_silence_and_keeps_the_middle():
    x = sine(440, 0.5, seconds=1.0) + 0.5
    faded = fade_edges(x, RATE, fade_s=0.02)
    assert abs(faded[0, 0]) < 0.01 and abs(faded[0, -1]) < 0.01
    np.testing.assert_array_equal(faded[:, 400:-400], x[:, 400:-400])
