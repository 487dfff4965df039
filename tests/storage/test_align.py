import dataclasses

import numpy as np
import pytest

from storage.align import (
    QUALITY_CHUNK_SAMPLES,
    align_pair,
    measure_lag,
    pair_quality,
    resample,
    resampled_length,
    shift_to,
    shifted_quality,
)
from storage.config import PRESETS, AlignConfig
from storage.encode import encode_track
from tests.conftest import tone_pcm


@pytest.mark.parametrize("true_lag", [-300, 0, 17, 1000])
def test_measure_lag_recovers_a_known_shift(true_lag):
    x = tone_pcm(1.0).T.astype(np.float32) / 32768
    rng = np.random.default_rng(0)
    x = x + 0.05 * rng.standard_normal(x.shape).astype(np.float32)  # broadband, so the peak is sharp
    delayed = np.zeros_like(x)
    if true_lag >= 0:
        delayed[:, true_lag:] = x[:, : x.shape[1] - true_lag]
    else:
        delayed[:, :true_lag] = x[:, -true_lag:]
    lag, corr = measure_lag(x, delayed, max_lag=2000, analysis_frames=20000)
    assert lag == true_lag and corr > 0.95
    aligned = shift_to(delayed, lag, x.shape[1])
    inner = slice(2000, x.shape[1] - 2000)
    np.testing.assert_array_equal(aligned[:, inner], x[:, inner])


def test_pair_quality_of_known_noise():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 50000))
    noise = rng.standard_normal((2, 50000)) * 0.1
    corr, snr_db = pair_quality(x, x + noise)
    assert snr_db == pytest.approx(20.0, abs=0.2)
    assert corr == pytest.approx(1 / np.sqrt(1.01), abs=0.002)


def test_pair_quality_agrees_with_float64_over_many_chunks():
    # Longer than several chunks and not a multiple of one; a DC offset tests the centring.
    rng = np.random.default_rng(2)
    n = 5 * QUALITY_CHUNK_SAMPLES + 123
    x = (0.3 * rng.standard_normal((2, n)) + 0.05).astype(np.float32)
    y = (0.9 * x + 0.02 * rng.standard_normal((2, n)) - 0.01).astype(np.float32)
    x64, y64 = x.astype(np.float64).ravel(), y.astype(np.float64).ravel()
    expected_corr = np.corrcoef(x64, y64)[0, 1]
    expected_snr = 10 * np.log10(np.sum(x64**2) / np.sum((x64 - y64) ** 2))
    corr, snr_db = pair_quality(x, y)
    assert corr == pytest.approx(expected_corr, abs=1e-7)
    assert snr_db == pytest.approx(expected_snr, abs=1e-5)
    assert pair_quality(x, x) == (pytest.approx(1.0, abs=1e-7), float("inf"))
    assert pair_quality(x[:, :0], x[:, :0]) == (0.0, float("inf"))


@pytest.mark.parametrize("lag", [0, 37, -37, 70000, -70000, 400000, -400000])
def test_shifted_quality_is_the_quality_of_the_shifted_copy(lag):
    # Lags inside one chunk, across chunks, and past either end of the lossy audio.
    rng = np.random.default_rng(3)
    x = (0.3 * rng.standard_normal((2, 3 * QUALITY_CHUNK_SAMPLES + 11))).astype(np.float32)
    y = (0.3 * rng.standard_normal((2, 3 * QUALITY_CHUNK_SAMPLES - 500))).astype(np.float32)
    y[:, 1000:] += np.roll(x, 1000, axis=1)[:, 1000 : y.shape[1]]
    corr, snr_db = shifted_quality(x, y, lag)
    x64, y64 = x.astype(np.float64).ravel(), shift_to(y, lag, x.shape[1]).astype(np.float64).ravel()
    expected_corr = np.corrcoef(x64, y64)[0, 1] if y64.any() else 0.0
    assert corr == pytest.approx(expected_corr, abs=1e-7)
    assert snr_db == pytest.approx(10 * np.log10(np.sum(x64**2) / np.sum((x64 - y64) ** 2)), abs=1e-5)


def test_resampled_length_matches_resample():
    for n in (1, 999, 44100, 123457):
        out = resample(np.zeros((2, n), np.float32), 32000, 44100)
        assert out.shape[1] == resampled_length(n, 32000, 44100)


@pytest.mark.parametrize("preset", ["vorbis-160", "paper-32k", "mp3-128", "aac-128", "opus-96"])
def test_real_codecs_align_at_lag_zero_and_pass(tmp_path, make_tracks, preset):
    (track,) = make_tracks([2.0])
    encoded = encode_track(track, PRESETS[preset], tmp_path)
    alignment = align_pair(track, encoded, AlignConfig(), tmp_path)
    assert alignment.passed, alignment.reason
    assert alignment.lag_samples == 0  # FFmpeg trims codec delay (docs/design.md)
    assert alignment.correlation > 0.95 and alignment.snr_db > 10
    assert align_pair(track, encoded, AlignConfig(), tmp_path) == alignment  # cached sidecar


def test_mismatched_pair_fails_the_gate(tmp_path, make_tracks):
    a, b = make_tracks([1.5, 1.5])
    encoded_b = encode_track(b, PRESETS["vorbis-160"], tmp_path)
    wrong = dataclasses.replace(encoded_b, track_id=a.track_id)
    alignment = align_pair(a, wrong, AlignConfig(), tmp_path)
    assert not alignment.passed and "correlation" in alignment.reason


def test_a_source_changed_since_ingest_is_refused(tmp_path, make_tracks):
    from pathlib import Path

    from storage.ingest import Quarantined
    from tests.conftest import write_pcm

    (track,) = make_tracks([1.0])
    encoded = encode_track(track, PRESETS["vorbis-160"], tmp_path)
    write_pcm(Path(track.path), tone_pcm(0.7, seed=42))  # edited in place after the ingest
    result = align_pair(track, encoded, AlignConfig(), tmp_path)
    assert isinstance(result, Quarantined) and result.stage == "align" and "changed since ingest" in result.reason
