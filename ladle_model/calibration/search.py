"""Scoring fill-gain settings on val excerpts (ViSQOL, LSD and SNR), as a race over the excerpts, within a deadline.

    result = calibrate_fill_gain(model, segments, 44100, labels=presets)                   # Calibration(table=[...])
    result = calibrate_fill_gain(model, segments, 44100, labels=presets, deadline=t + 300)  # the same, by t + 300 s

ViSQOL is the cost: every setting scored on every excerpt is most of a calibration's time. So each preset's
excerpts are raced: every setting is scored on a third of them first (spread over its val tracks), and only
the settings within DROP_BELOW of that preset's best there are scored on the rest, the most promising first.
A setting so far below on a third of the music would have to beat the best by more than ViSQOL's noise on the
rest to be chosen, so the race chooses what scoring every setting on everything chose, for about half the
ViSQOL time. Then each preset's best pair with less of the mask term, then the table's own score.

With a deadline (on `clock`), the time each excerpt took so far predicts the next call's; a call that would end
past the deadline is not started. The choice is then made among the settings scored on all of a preset's
excerpts, and the record says what was left (`cut_short`); when a preset has none, nothing is chosen.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn as nn

from ladle_model.calibration.gains import bandwidth_table, best_setting, setting_key
from ladle_model.calibration.record import Calibration
from ladle_model.evaluation.metrics import lsd, snr_db
from ladle_model.evaluation.visqol import VISQOL_MIN_SECONDS, visqol_available, visqol_moslqo
from ladle_model.models.gain_table import GainRow, GainTable

# (gain below the cut, gain above it): no fill at all (the mask term alone), the full fill, and a quarter, a half
# or all of it in band with a quarter or a half above the cut (on held-out music the full fill above the cut
# lost ViSQOL on every preset: BENCHMARKS.md, "Fill gain").
SETTINGS: tuple[tuple[float, float], ...] = (
    (0.0, 0.0),
    (1.0, 1.0),
    *((a, b) for a in (0.25, 0.5, 1.0) for b in (0.25, 0.5)),
)
# Then, on each preset's own excerpts, its best pair with the mask term at these gains too: the mask term raises
# SNR but can cost ViSQOL (BENCHMARKS.md, "Fill gain").
MASK_GAINS: tuple[float, ...] = (0.5, 0.0)
FIRST_ROUND_SHARE = 1 / 3  # of each preset's excerpts, every setting is scored on; the rest only by those still in
DROP_BELOW = 0.05  # ViSQOL (five times its noise) under a preset's best in the first round: out of the race

Scores = tuple[np.ndarray, np.ndarray, np.ndarray]  # (ViSQOL, LSD, SNR) of each excerpt scored


@contextlib.contextmanager
def fill_setting(model: nn.Module, gain: float, table: GainTable | list | None = None) -> Iterator[nn.Module]:
    """`model` with its fill gain (and gain table, None: `gain` for every input) set inside the block, restored after it."""
    config = model.config
    saved = (config.fill_gain, config.fill_gain_table)
    config.fill_gain = gain
    config.fill_gain_table = table.to_list() if isinstance(table, GainTable) else table
    try:
        yield model
    finally:
        config.fill_gain, config.fill_gain_table = saved


def visqol_scores(lossless: torch.Tensor, estimate: torch.Tensor, sample_rate: int) -> np.ndarray:
    """(N,) ViSQOL of each restored segment against its original, each whole segment one excerpt.

    Scored by one process per core (ladle_model/evaluation/visqol.py `measure_all`)."""
    seconds = lossless.shape[-1] / sample_rate
    return np.asarray(
        visqol_moslqo(lossless, estimate, sample_rate, n_excerpts=1, excerpt_seconds=seconds), dtype=float
    ).reshape(-1)


def one_row(below: float, above: float, mask: float = 1.0) -> GainTable:
    """A table of one setting for every input."""
    return GainTable((GainRow(1.0, below, above, mask),))


def spread(rows: list[int], share: float) -> list[int]:
    """`share` of `rows` (at least two, or all of them), evenly spread from the first."""
    k = min(len(rows), max(2, math.ceil(len(rows) * share)))
    return [rows[i * len(rows) // k] for i in range(k)]


class Scorer:
    """Restores excerpts with a gain table and scores them; times itself to tell whether a call fits the deadline."""

    def __init__(
        self,
        model: nn.Module,
        lossless: torch.Tensor,  # (N, 2, L)
        lossy: torch.Tensor,  # (N, 2, L)
        at_width: torch.Tensor | None,  # (N,): each excerpt's track's cut, on the model's device (None: its own)
        sample_rate: int,
        clock: Callable[[], float],
        deadline: float | None,
    ) -> None:
        self.model, self.lossless, self.lossy, self.at_width = model, lossless, lossy, at_width
        self.sample_rate, self.clock, self.deadline = sample_rate, clock, deadline
        self.device = next(model.parameters()).device
        self.seconds, self.excerpts = 0.0, 0  # spent scoring so far, and on how many excerpts

    def fits(self, n_excerpts: int) -> bool:
        """Whether scoring `n_excerpts` more, at the time each took so far, ends by the deadline."""
        if self.deadline is None:
            return True
        each = self.seconds / self.excerpts if self.excerpts else 0.0
        return self.clock() + n_excerpts * each <= self.deadline

    def __call__(self, table: GainTable | None, rows: list[int]) -> Scores:
        """ViSQOL, LSD and SNR of the excerpts `rows` restored with `table` (None: the input itself), (len(rows),) each."""
        started = self.clock()
        if table is None:
            estimate = self.lossy[rows]
        else:
            with fill_setting(self.model, 1.0, table):
                width = None if self.at_width is None else self.at_width[rows]
                estimate = self.model(self.lossy[rows].to(self.device), bandwidth=width).float().cpu()
        reference = self.lossless[rows].numpy()
        scores = (
            visqol_scores(self.lossless[rows], estimate, self.sample_rate),
            np.asarray(lsd(reference, estimate.numpy()), dtype=float).reshape(-1),
            np.asarray(snr_db(reference, estimate.numpy()), dtype=float).reshape(-1),
        )
        self.seconds += self.clock() - started
        self.excerpts += len(rows)
        return scores


class ScoreSheet:
    """ViSQOL, LSD and SNR per setting key and excerpt, and which excerpts each key was scored on."""

    def __init__(self, n: int) -> None:
        self.n, self.scores, self.done = n, ({}, {}, {}), {}

    def add(self, key: str, rows: list[int], scores: Scores) -> None:
        for sheet, values in zip(self.scores, scores):
            sheet.setdefault(key, np.full(self.n, np.nan))[rows] = values
        self.done.setdefault(key, np.zeros(self.n, bool))[rows] = True

    def means(self, rows: list[int], keys: list[str] | None = None) -> tuple[dict[str, float], ...]:
        """Mean ViSQOL, LSD and SNR over `rows` of every key (of `keys`) scored on all of them."""
        keys = [k for k in (keys if keys is not None else self.done) if k in self.done and self.done[k][rows].all()]
        return tuple({k: float(np.nanmean(sheet[k][rows])) for k in keys} for sheet in self.scores)


def race(score: Scorer, sheet: ScoreSheet, groups: dict[str, list[int]], settings) -> str:
    """Score `settings` on each group's excerpts into `sheet`: all on a first share, those still in the race on the
    rest, the most promising first. Returns what the deadline cut short ("": nothing)."""
    first = {name: spread(rows, FIRST_ROUND_SHARE) for name, rows in groups.items()}
    firsts = sorted({i for rows in first.values() for i in rows})
    keys = [setting_key(s) for s in settings]
    for setting, key in zip(settings, keys):
        if not score.fits(len(firsts)):
            return f"the first round stopped before {key}"
        sheet.add(key, firsts, score(one_row(*setting), firsts))
    # each group's settings still in the race, best first, and the best place each setting holds in any group
    alive: dict[str, list[str]] = {}
    for name, rows in first.items():
        visqol, *_ = sheet.means(rows, keys)
        top = max(visqol.values())
        alive[name] = sorted((k for k in visqol if visqol[k] >= top - DROP_BELOW), key=lambda k: -visqol[k])
    place = {k: min(a.index(k) for a in alive.values() if k in a) for k in keys if any(k in a for a in alive.values())}
    for key in sorted(place, key=lambda k: (place[k], keys.index(k))):
        rows = sorted({i for name in groups if key in alive[name] for i in groups[name] if i not in first[name]})
        if not rows:
            continue
        if not score.fits(len(rows)):
            return f"the second round stopped before {key}"
        sheet.add(key, rows, score(one_row(*settings[keys.index(key)]), rows))
    return ""


def choose_mask_gains(score: Scorer, sheet: ScoreSheet, groups: dict[str, list[int]], keys, mask_gains) -> str:
    """Score each group's best pair with a fill at each of `mask_gains` on its own excerpts; what the deadline cut."""
    for name, rows in groups.items():
        visqol, distance, _ = sheet.means(rows, keys)  # the pair ViSQOL and LSD like best, its SNR aside: the
        below, above, _ = best_setting(visqol, distance)  # mask term may be what costs it SNR
        for mask in mask_gains if below or above else ():
            if not score.fits(len(rows)):
                return f"the mask gains stopped at {name}"
            sheet.add(setting_key((below, above, mask)), rows, score(one_row(below, above, mask), rows))
    return ""


def stack_scorable(
    segments: list[tuple[torch.Tensor, torch.Tensor]], sample_rate: int
) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """The segments ViSQOL can score (active, at least VISQOL_MIN_SECONDS long): their indices, and their lossless and
    lossy audio (N, 2, L) cut to their common length (a val track shorter than an excerpt gives a shorter one)."""
    kept = [
        i
        for i, (y, _) in enumerate(segments)
        if y.shape[-1] >= VISQOL_MIN_SECONDS * sample_rate and bool(y.abs().max() > 0)
    ]
    if not kept:
        return [], torch.empty(0), torch.empty(0)
    length = min(segments[i][0].shape[-1] for i in kept)
    return (
        kept,
        torch.stack([segments[i][0][..., :length] for i in kept]),
        torch.stack([segments[i][1][..., :length] for i in kept]),
    )


@torch.no_grad()
def calibrate_fill_gain(
    model: nn.Module,
    segments: list[tuple[torch.Tensor, torch.Tensor]],
    sample_rate: int,
    settings: tuple[tuple[float, float], ...] = SETTINGS,
    labels: list[str] | None = None,
    bandwidths: list[float] | None = None,
    mask_gains: tuple[float, ...] = MASK_GAINS,
    deadline: float | None = None,
    clock: Callable[[], float] = time.time,
) -> Calibration:
    """The fill gains (below and above each input's cut, per input bandwidth) whose restorations of `segments` score best.

    "Best" is `best_setting`'s: the lowest LSD among the settings not worse than the input that ViSQOL cannot tell
    from its best, found by `race`; each group's best pair with a fill is then scored with the mask term at each of `mask_gains`.
    `labels` name each segment's group (its preset; None: one group). `bandwidths` are the codec cuts of the
    segments' whole tracks (ladle_model/models/bandwidth.py), which the model is run at, as `ladle enhance` runs
    it; None: each segment's own reading. Each group's best setting becomes a row of a table over the groups'
    median input bandwidths (`bandwidth_table`), whose score is recorded as "table". No call is started that would
    end past `deadline` (on `clock`, seconds). The model is left as it was. One function, as its stages (the
    input, the race, the mask gains, the table) read in order over one score sheet.
    """
    labels = list(labels) if labels is not None else ["all"] * len(segments)
    if len(labels) != len(segments):
        raise ValueError(f"{len(labels)} labels for {len(segments)} segments")
    if bandwidths is not None and len(bandwidths) != len(segments):
        raise ValueError(f"{len(bandwidths)} bandwidths for {len(segments)} segments")
    current = float(model.config.fill_gain)
    if not visqol_available():
        return Calibration(current, skipped="visqol-python is not installed")
    kept, lossless, lossy = stack_scorable(segments, sample_rate)  # (N, 2, L) each
    if not kept:
        return Calibration(current, skipped=f"no active validation segment of at least {VISQOL_MIN_SECONDS:.2f} s")
    started = clock()
    labels = [labels[i] for i in kept]
    device = next(model.parameters()).device
    widths = (
        torch.tensor([bandwidths[i] for i in kept], dtype=torch.float32)
        if bandwidths is not None
        else model.input_bandwidths(lossy.to(device)).cpu()
    )  # (N,)
    at_width = widths.to(device) if bandwidths is not None else None  # the model reads each segment's own otherwise
    score = Scorer(model, lossless, lossy, at_width, sample_rate, clock, deadline)
    groups = {name: [i for i, label in enumerate(labels) if label == name] for name in sorted(set(labels))}
    everything, keys = list(range(len(kept))), [setting_key(s) for s in settings]
    sheet = ScoreSheet(len(kept))
    was_training = model.training
    model.eval()
    try:
        if not score.fits(len(kept)):
            return Calibration(current, skipped="the time budget ran out before any excerpt was scored")
        sheet.add("input", everything, score(None, everything))
        cut_short = race(score, sheet, groups, settings)
        if any(not sheet.means(rows, keys)[0] for rows in groups.values()):
            return Calibration(
                current, skipped=f"the time budget ran out before every preset had a setting ({cut_short})"
            )
        cut_short = cut_short or choose_mask_gains(score, sheet, groups, keys, mask_gains)
        result = pooled_result(sheet, groups, keys, widths, sample_rate, current)
        if score.fits(len(kept)):  # the whole table's own score, for the record
            result.scores["table"], result.lsd["table"], result.snr["table"] = (
                float(np.nanmean(m)) for m in score(GainTable.from_list(result.table), everything)
            )
        else:
            cut_short = cut_short or "the table's own score"
    finally:
        model.train(was_training)
    result.cut_short, result.seconds = cut_short, round(clock() - started, 1)
    return result


def pooled_result(
    sheet: ScoreSheet, groups: dict[str, list[int]], keys: list[str], widths: torch.Tensor, sample_rate: int, current
) -> Calibration:
    """The record of a scored sheet: pooled scores of the settings scored on every excerpt, each group's own, and the
    table over the groups' bandwidths."""
    everything = list(range(sheet.n))
    scores, lsds, snrs = sheet.means(everything, ["input", *keys])
    pooled = [k for k in scores if k != "input"]
    gain = best_setting(scores, lsds, snrs)[0] if pooled else current
    result = Calibration(gain, scores, sheet.n, sample_rate=sample_rate, lsd=lsds, snr=snrs)
    for name, rows in groups.items():
        group, group_lsd, group_snr = sheet.means(rows)
        result.groups[name] = {
            "bandwidth": float(widths[rows].median()),
            "widest": float(widths[rows].max()),
            "segments": len(rows),
            "scores": group,
            "lsd": group_lsd,
            "snr": group_snr,
            "setting": list(best_setting(group, group_lsd, group_snr)),
            "dropped": [k for k in keys if k not in group],
        }
    result.table = bandwidth_table(result.groups).to_list()
    return result
