"""Which passages a listening test plays: active excerpts of whole test tracks, spread over tracks and time.

    picks = choose_excerpts({"trackA": lossless_a, "trackB": lossless_b}, 44100, n_excerpts=8, excerpt_seconds=8.0)
    picks[0]   # Excerpt(track_id="trackA", start=..., stop=...)
    pick_excerpts({"trackA": candidate_excerpts(lossless_a, 44100, 8.0), ...}, 8)   # the same, one track in memory at a time

Each track is cut into back-to-back excerpts; the active ones (RMS within 20 dB of the track's
loudest excerpt: no silence, no fade-out; ladle_model/evaluation/metrics.py `active_excerpts`) are candidates.
The N excerpts are shared out between tracks in turn (one each, then a second each, ... while a
track has candidates left), and each track's share is spread evenly over its candidates. Tracks
shorter than one excerpt give none. The same audio and settings always give the same excerpts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ladle_model.evaluation.metrics import active_excerpts

MIN_EXCERPT_SECONDS = 6.0  # long enough for ViSQOL and for a listener to loop a phrase
MAX_EXCERPT_SECONDS = (
    10.0  # short enough to hold in auditory memory while switching (ITU-R BS.1534-3 advises about 10 s)
)


@dataclass(frozen=True)
class Excerpt:
    track_id: str
    start: int  # samples at the lossless rate
    stop: int


def candidate_excerpts(lossless: np.ndarray, sample_rate: int, excerpt_seconds: float) -> list[tuple[int, int]]:
    """Every active back-to-back excerpt of one (C, T) track; none when the track is shorter than one."""
    if lossless.shape[-1] < round(excerpt_seconds * sample_rate):
        return []
    n_total = lossless.shape[-1] // round(excerpt_seconds * sample_rate)
    return active_excerpts(lossless, sample_rate, n_total, excerpt_seconds)


def share_out(counts: list[int], n: int) -> list[int]:
    """How many of `n` picks each of len(counts) sources gives: one each in turn while it has any left."""
    shares = [0] * len(counts)
    while sum(shares) < n and any(s < c for s, c in zip(shares, counts)):
        for i, c in enumerate(counts):
            if shares[i] < c and sum(shares) < n:
                shares[i] += 1
    return shares


def spread(items: list, k: int) -> list:
    """k of `items` at even spacing, first and last included when k > 1 (the middle one when k == 1)."""
    if k <= 0 or not items:
        return []
    if k == 1:
        return [items[(len(items) - 1) // 2]]
    picks = np.unique(np.round(np.linspace(0, len(items) - 1, min(k, len(items)))).astype(int))
    return [items[i] for i in picks]


def check_excerpt_seconds(excerpt_seconds: float) -> None:
    if not MIN_EXCERPT_SECONDS <= excerpt_seconds <= MAX_EXCERPT_SECONDS:
        raise ValueError(
            f"excerpts must be {MIN_EXCERPT_SECONDS:g}-{MAX_EXCERPT_SECONDS:g} s long, got {excerpt_seconds:g}"
        )


def pick_excerpts(candidates: dict[str, list[tuple[int, int]]], n_excerpts: int) -> list[Excerpt]:
    """Up to `n_excerpts` of the tracks' candidate excerpts (id -> (start, stop) list), shared out in turn, by track id."""
    if n_excerpts < 1:
        raise ValueError(f"need at least one excerpt, got {n_excerpts}")
    ids = sorted(candidates)
    shares = share_out([len(candidates[tid]) for tid in ids], n_excerpts)
    return [Excerpt(tid, start, stop) for tid, k in zip(ids, shares) for start, stop in spread(candidates[tid], k)]


def choose_excerpts(
    tracks: dict[str, np.ndarray], sample_rate: int, n_excerpts: int = 8, excerpt_seconds: float = 8.0
) -> list[Excerpt]:
    """Up to `n_excerpts` excerpts of `excerpt_seconds` from the (C, T) lossless `tracks` (id -> audio), in track order."""
    check_excerpt_seconds(excerpt_seconds)
    return pick_excerpts(
        {tid: candidate_excerpts(x, sample_rate, excerpt_seconds) for tid, x in tracks.items()}, n_excerpts
    )
