"""Submissions of a listening test: checked against the prepared test, then appended atomically to ratings.parquet.

    rows = submission_rows(test, {"listener": "l-1", "excerpt": "e01", "ratings": {"5b1d...": 2.5, ...}})
    append_ratings(ListeningFiles.of("runs/ladle"), rows)      # read + append + temp file + rename, under a lock
    read_ratings(ListeningFiles.of("runs/ladle"))              # a DataFrame, empty when nobody has rated

A submission names the trial and rates every one of its hidden stimuli by opaque id, each once, on
the test's scale. Anything else (an unknown excerpt or stimulus, a missing or extra one, a rating out
of range or not a number, an unknown field) raises SubmissionError and nothing is recorded. A
listener may submit a trial again; the latest submission counts (`latest_ratings`).
"""

from __future__ import annotations

import datetime
import math

import pandas as pd

from ladle_model.listening.blind import valid_listener_id
from ladle_model.listening.layout import SCALES, ListeningFiles, ListeningTest
from storage.atomic import atomic_path
from storage.lock import data_lock

COLUMNS = ("listener_id", "test_id", "excerpt", "preset", "condition", "rating", "scale", "time")
LOCK_WAIT_SECONDS = 30.0


class SubmissionError(ValueError):
    """A submission that does not fit the prepared test; the message says why (sent back with status 400)."""


def submission_rows(test: ListeningTest, body: object, now: datetime.datetime | None = None) -> list[dict]:
    """The ratings.parquet rows of one submission, or SubmissionError."""
    if not isinstance(body, dict) or set(body) != {"listener", "excerpt", "ratings"}:
        raise SubmissionError("a submission is a JSON object with exactly: listener, excerpt, ratings")
    listener, excerpt, ratings = body["listener"], body["excerpt"], body["ratings"]
    if not valid_listener_id(listener):
        raise SubmissionError("listener must be 1-64 letters, digits, '-' or '_'")
    trial = test.trial(excerpt) if isinstance(excerpt, str) else None
    if trial is None:
        raise SubmissionError(f"unknown excerpt {excerpt!r}")
    if not isinstance(ratings, dict):
        raise SubmissionError("ratings must map each stimulus id to a number")
    condition_of = {s.id: c for c, s in trial.stimuli.items()}
    if set(ratings) != set(condition_of):
        unknown = sorted(set(ratings) - set(condition_of))
        raise SubmissionError(
            f"unknown stimulus {unknown[0]!r}" if unknown else f"every stimulus of {excerpt} must be rated"
        )
    scale = SCALES[test.scale]
    for value in ratings.values():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SubmissionError("every rating must be a number")
        if not scale["min"] <= value <= scale["max"]:
            raise SubmissionError(f"rating {value} outside the {test.scale} scale [{scale['min']:g}, {scale['max']:g}]")
    when = now or datetime.datetime.now(datetime.timezone.utc)
    return [
        {
            "listener_id": listener,
            "test_id": test.test_id,
            "excerpt": excerpt,
            "preset": trial.preset,
            "condition": condition_of[sid],
            "rating": float(value),
            "scale": test.scale,
            "time": when,
        }
        for sid, value in sorted(ratings.items(), key=lambda kv: condition_of[kv[0]])
    ]


def read_ratings(files: ListeningFiles) -> pd.DataFrame:
    if not files.ratings.is_file():
        return pd.DataFrame({c: pd.Series(dtype="float64" if c == "rating" else "object") for c in COLUMNS})
    return pd.read_parquet(files.ratings)


def append_ratings(files: ListeningFiles, rows: list[dict]) -> int:
    """Append `rows` to ratings.parquet: read, append, write a temporary file, rename; under the folder's lock.

    The rename makes each submission appear whole or not at all; the lock keeps two submissions at
    the same moment (two listeners, or two threads of the server) from losing one another's rows.
    Returns the number of rows in the file afterwards.
    """
    if not rows:
        return len(read_ratings(files))
    with data_lock(files.lock_dir, wait_seconds=LOCK_WAIT_SECONDS, poll_seconds=0.02):
        new = pd.DataFrame(rows, columns=list(COLUMNS))
        old = read_ratings(files)
        table = new if old.empty else pd.concat([old, new], ignore_index=True)
        with atomic_path(files.ratings) as tmp:
            table.to_parquet(tmp, index=False)
    return len(table)


def latest_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """One rating per (listener, test, excerpt, condition): the latest submission's."""
    if ratings.empty:
        return ratings
    ordered = ratings.sort_values("time", kind="stable")
    return ordered.drop_duplicates(["listener_id", "test_id", "excerpt", "condition"], keep="last").reset_index(
        drop=True
    )


def submitted_excerpts(ratings: pd.DataFrame, test_id: str, listener_id: str) -> list[str]:
    """The trials this listener has submitted in this test (the page resumes after them)."""
    if ratings.empty:
        return []
    mine = ratings[(ratings["test_id"] == test_id) & (ratings["listener_id"] == listener_id)]
    return sorted(set(mine["excerpt"]))
