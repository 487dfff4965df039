"""Excerpt choice: active passages only, shared out between tracks, spread over each, always the same."""

from __future__ import annotations

import numpy as np
import pytest

from ladle_model.listening.excerpts import Excerpt, choose_excerpts, share_out, spread

RATE = 1000  # excerpt choice looks only at RMS: a low rate keeps the arrays tiny


def track(pattern: list[float], seconds_each: float = 6.0, seed: int = 0) -> np.ndarray:
    """(2, T): one stretch of noise per entry of `pattern`, at that amplitude (0: digital silence)."""
    rng = np.random.default_rng(seed)
    n = round(seconds_each * RATE)
    return np.concatenate([a * rng.standard_normal((2, n)) for a in pattern], axis=1).astype(np.float32)


def test_only_active_excerpts_are_chosen_spread_over_the_track():
    # 6-s excerpts: silence, loud x4, a fade-out tail 30 dB down, loud
    audio = track([0, 0.5, 0.5, 0.5, 0.5, 0.5 * 10 ** (-30 / 20), 0.5])
    picks = choose_excerpts({"a": audio}, RATE, n_excerpts=3, excerpt_seconds=6.0)
    starts = [p.start // (6 * RATE) for p in picks]
    assert starts == [1, 3, 6]  # first, middle and last of the active excerpts 1-4 and 6; never 0 (silent) or 5 (quiet)
    assert all(p.stop - p.start == 6 * RATE for p in picks)


def test_excerpts_are_shared_out_between_tracks_in_turn():
    tracks = {"b": track([0.5] * 5, seed=1), "a": track([0.5] * 2, seed=2), "c": track([0.5], seconds_each=5.0, seed=3)}
    picks = choose_excerpts(tracks, RATE, n_excerpts=5, excerpt_seconds=6.0)
    assert [p.track_id for p in picks] == ["a", "a", "b", "b", "b"]  # c is shorter than one excerpt; a has only two
    assert picks == choose_excerpts(tracks, RATE, n_excerpts=5, excerpt_seconds=6.0)  # the same every time
    assert choose_excerpts(tracks, RATE, n_excerpts=2, excerpt_seconds=6.0) == [
        Excerpt("a", 0, 6000),
        Excerpt("b", 12000, 18000),
    ]


def test_excerpt_length_must_be_six_to_ten_seconds():
    with pytest.raises(ValueError, match="6-10 s"):
        choose_excerpts({"a": track([0.5] * 3)}, RATE, 2, excerpt_seconds=3.0)
    with pytest.raises(ValueError, match="6-10 s"):
        choose_excerpts({"a": track([0.5] * 3)}, RATE, 2, excerpt_seconds=12.0)


def test_share_out_and_spread():
    assert share_out([5, 1, 0], 4) == [3, 1, 0]
    assert share_out([1, 1], 5) == [1, 1]  # fewer candidates than asked: all of them
    assert spread(list(range(10)), 3) == [0, 4, 9]
    assert spread(list(range(5)), 1) == [2]
    assert spread([], 3) == []
