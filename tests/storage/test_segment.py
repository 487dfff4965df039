import numpy as np
import pytest

from storage.config import SegmentConfig
from storage.segment import Pair, cut_segments, make_pair, n_windows


def _pair(lossy_rate, n=1000, rate=1000):
    t = np.arange(n, dtype=np.float32)
    lossless = np.stack([t + 1, -(t + 1)]) / n
    n_lossy = n * lossy_rate // rate
    lossy = np.stack([np.arange(n_lossy) + 1, -(np.arange(n_lossy) + 1)]).astype(np.float32)
    return Pair(lossless, lossy, rate, lossy_rate, 2)


def test_n_windows():
    assert n_windows(100, 10, 10) == 10
    assert n_windows(105, 10, 5) == 20
    assert n_windows(9, 10, 10) == 0


def test_resample_strategy_cuts_both_sides_at_the_same_offsets():
    cfg = SegmentConfig(strategy="resample", segment_seconds=0.01, hop_seconds=0.005, sample_rate=8000)
    pair = Pair(*(np.tile(np.arange(1, 801, dtype=np.float32), (2, 1)) for _ in range(2)), 8000, 8000, 2)
    segments = list(cut_segments(pair, cfg, range(n_windows(800, cfg.segment_samples, cfg.hop_samples))))
    assert [s.offset_samples for s in segments] == list(range(0, 721, 40))
    assert all(np.array_equal(s.lossless, s.lossy) and s.lossless.shape == (2, 80) for s in segments)
    assert segments[3].lossless[0, 0] == 121


def test_pad_edges_centres_the_lossy_samples():
    cfg = SegmentConfig(strategy="pad-edges", segment_seconds=0.1, sample_rate=8000)
    pair = _pair(lossy_rate=6000, n=1600, rate=8000)
    (segment,) = list(cut_segments(pair, cfg, [1]))
    length, lossy_length = 800, 600
    left = (length - lossy_length) // 2
    assert segment.offset_samples == 800
    assert not segment.lossy[:, :left].any() and not segment.lossy[:, left + lossy_length :].any()
    np.testing.assert_array_equal(segment.lossy[0, left : left + lossy_length], np.arange(600, 1200) + 1)


def test_spread_zeros_spreads_evenly():
    cfg = SegmentConfig(strategy="spread-zeros", segment_seconds=0.01, sample_rate=8000)
    pair = _pair(lossy_rate=4000, n=800, rate=8000)
    (segment,) = list(cut_segments(pair, cfg, [0]))
    assert segment.lossy.shape == (2, 80)
    np.testing.assert_array_equal(segment.lossy[0, ::2], np.arange(40) + 1)
    assert not segment.lossy[:, 1::2].any()


def test_silent_windows_are_skipped():
    cfg = SegmentConfig(segment_seconds=0.01, sample_rate=8000)
    lossless = np.ones((2, 400), np.float32)
    lossless[:, 80:160] = 0
    pair = Pair(lossless, lossless.copy(), 8000, 8000, 2)
    kept = [s.index for s in cut_segments(pair, cfg, range(5))]
    assert kept == [0, 2, 3, 4]
    assert (
        len(
            list(
                cut_segments(pair, SegmentConfig(segment_seconds=0.01, sample_rate=8000, skip_silence=False), range(5))
            )
        )
        == 5
    )


@pytest.mark.parametrize("lag_samples", [0, 3, 40, -3, 200])
def test_make_pair_lays_the_lossy_side_out_as_shift_to_does(lag_samples):
    from storage.align import Alignment, shift_to
    from storage.encode import Encoded
    from storage.ingest import Track

    track = Track("t", "t.flac", "flac", 8000, 2, 16, 800, 0.1, "md5")
    encoded = Encoded("t", "p", "t.ogg", 1, 1.0, 8000, "key")
    alignment = Alignment("t", "p", lag_samples, 840, 1.0, 60.0, True, "key")
    lossless = np.tile(np.arange(800, dtype=np.float32), (2, 1))
    lossy = np.tile(np.arange(1, 841, dtype=np.float32), (2, 1))
    for strategy in ("resample", "pad-edges"):
        cfg = SegmentConfig(strategy=strategy, segment_seconds=0.01, sample_rate=8000)
        pair = make_pair(track, encoded, alignment, cfg, lossless, lossy)
        assert np.array_equal(pair.lossy, shift_to(lossy, lag_samples, 800)) and pair.lossy.dtype == np.float32
        assert np.array_equal(pair.lossless, lossless)


def test_config_rejects_bad_values():
    from storage.config import ConfigError, CorpusConfig

    with pytest.raises(ConfigError, match="unknown strategy"):
        SegmentConfig(strategy="zero-order-hold")
    with pytest.raises(ConfigError, match="unknown key"):
        CorpusConfig.from_dict({"presetz": ["vorbis-160"]})
    with pytest.raises(ConfigError, match="expected float"):
        CorpusConfig.from_dict({"segment": {"segment_seconds": "long"}})
    with pytest.raises(ConfigError, match="unknown preset"):
        CorpusConfig.from_dict({"presets": ["wma-64"]})
