"""Segmentation strategies: rates, lengths, layouts, and that they are what the shard writer does."""

import numpy as np
import pytest

from storage.config import STRATEGIES, ConfigError, CorpusConfig, SegmentConfig
from storage.segment import Pair, cut_segments
from storage.strategy import get_strategy


def test_known_names_and_a_clear_error_for_others():
    assert STRATEGIES == ("resample", "pad-edges", "spread-zeros")
    with pytest.raises(ConfigError, match="known: resample, pad-edges, spread-zeros"):
        get_strategy("zero-order-hold")


@pytest.mark.parametrize(
    "name,rate,length,start,output",
    [
        ("resample", 44100, 4410, 8820, 4410),
        ("pad-edges", 32000, 3200, 6400, 4410),
        ("spread-zeros", 32000, 3200, 6400, 4410),
    ],
)
def test_rates_and_rounding(name, rate, length, start, output):
    strategy = get_strategy(name)
    r = strategy.lossy_rate(44100, 32000)
    assert r == rate
    assert strategy.lossy_length(4410, 44100, r) == length
    assert strategy.lossy_start(8820, 44100, r) == start
    assert strategy.output_length(length, 44100, r) == output


def test_layouts_put_every_lossy_sample_where_the_paper_says():
    lossy = np.arange(1, 7, dtype=np.float32)[None].repeat(2, 0)  # (2, 6)
    padded = get_strategy("pad-edges").layout(lossy, 10)
    np.testing.assert_array_equal(padded[0], [0, 0, 1, 2, 3, 4, 5, 6, 0, 0])
    spread = get_strategy("spread-zeros").layout(lossy, 12)
    np.testing.assert_array_equal(spread[1], [1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0])
    same = get_strategy("resample").layout(lossy, 6)
    np.testing.assert_array_equal(same, lossy)
    assert padded.dtype == spread.dtype == same.dtype == np.float32
    with pytest.raises(ValueError):
        get_strategy("pad-edges").layout(lossy, 5)  # more lossy samples than positions


@pytest.mark.parametrize("name", STRATEGIES)
def test_layout_is_what_cut_segments_writes(name):
    """Inference lays windows out through the strategy: it must match the training segments exactly."""
    rng = np.random.default_rng(0)
    rate, lossy_rate = 8000, 6000
    strategy = get_strategy(name)
    r = strategy.lossy_rate(rate, lossy_rate)
    lossless = rng.standard_normal((2, 2000)).astype(np.float32)
    lossy = rng.standard_normal((2, round(2000 * r / rate))).astype(np.float32)
    cfg = SegmentConfig(strategy=name, segment_seconds=0.05, hop_seconds=0.03, sample_rate=rate)
    length = cfg.segment_samples
    segments = list(cut_segments(Pair(lossless, lossy, rate, r, 2), cfg, range(4)))
    assert len(segments) == 4
    for segment in segments:
        start = strategy.lossy_start(segment.offset_samples, rate, r)
        piece = lossy[:, start : start + strategy.lossy_length(length, rate, r)]
        np.testing.assert_array_equal(segment.lossy, strategy.layout(piece, length))
        np.testing.assert_array_equal(
            segment.lossless, lossless[:, segment.offset_samples : segment.offset_samples + length]
        )


def test_a_codec_above_the_dataset_rate_is_refused_for_strategies_that_keep_its_rate():
    with pytest.raises(ConfigError, match="opus-96 runs at 48000 Hz > 44100 Hz"):
        CorpusConfig.from_dict({"presets": ["opus-96"], "segment": {"strategy": "pad-edges"}})
    assert CorpusConfig.from_dict({"presets": ["opus-96"], "segment": {"strategy": "resample"}}).presets == ("opus-96",)
    cfg = CorpusConfig.from_dict(
        {"presets": ["opus-96"], "segment": {"strategy": "spread-zeros", "sample_rate": 48000}}
    )
    assert cfg.segment.sample_rate == 48000
