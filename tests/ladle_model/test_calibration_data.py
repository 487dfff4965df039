"""Which val music the fill gains are calibrated on: how a preset's excerpts are spread over its val tracks."""

import pytest

from ladle_model.calibration.data import EXCERPTS_PER_PRESET, EXCERPTS_PER_TRACK, excerpt_counts


def test_excerpts_spread_over_as_many_val_tracks_as_there_are():
    assert excerpt_counts(4) == [3, 3, 3, 3]  # four tracks: three of each, as before method 12
    assert excerpt_counts(8) == [2, 2, 2, 2, 1, 1, 1, 1]  # the same 12, over twice the pieces
    assert excerpt_counts(12) == [1] * 12
    assert excerpt_counts(15) == [1] * 12 + [0, 0, 0]  # no more than 12 in all: the ViSQOL time stays
    assert excerpt_counts(2) == [3, 3] and excerpt_counts(1) == [3]  # few tracks: at most three of one
    assert excerpt_counts(0) == []
    assert sum(excerpt_counts(5)) == EXCERPTS_PER_PRESET and max(excerpt_counts(5)) <= EXCERPTS_PER_TRACK


def test_excerpt_counts_follow_both_limits():
    assert excerpt_counts(4, per_preset=5) == [2, 1, 1, 1]
    assert excerpt_counts(3, per_preset=12, per_track=1) == [1, 1, 1]
    assert excerpt_counts(6, per_preset=3, per_track=3) == [1, 1, 1, 0, 0, 0]
    with pytest.raises(ValueError, match="at least 1"):
        excerpt_counts(3, per_preset=0)
    with pytest.raises(ValueError, match="at least 1"):
        excerpt_counts(3, per_track=0)


def test_the_excerpts_scored_per_preset_follow_the_time_left():
    from ladle_model.calibration.budget import CALLS_PER_EXCERPT, VISQOL_CPU_S, excerpts_within

    each = CALLS_PER_EXCERPT * VISQOL_CPU_S * 5.0 / 2  # seconds one 5-s excerpt costs on 2 ViSQOL processes
    assert excerpts_within(3 * each + 1, n_presets=1, workers=2) == 3
    assert excerpts_within(3 * each + 1, n_presets=3, workers=2) == 1
    assert excerpts_within(6 * each, n_presets=3, workers=4) == 4  # twice the processes: twice the excerpts
    assert excerpts_within(10, n_presets=15, workers=2) == 1  # never none: the race stops at the deadline instead
    assert excerpts_within(1e6, n_presets=1, workers=2) == 12  # at most EXCERPTS_PER_PRESET
