"""Submissions: checked against the test, appended atomically (nothing lost when two arrive at once)."""

from __future__ import annotations

import datetime
import threading

import pytest

from ladle_model.listening.layout import ListeningFiles, read_test
from ladle_model.listening.ratings import SubmissionError, append_ratings, latest_ratings, read_ratings, submission_rows


def body(test, excerpt="e01", listener="alice", value=1.5):
    return {
        "listener": listener,
        "excerpt": excerpt,
        "ratings": {s.id: value for s in test.trial(excerpt).stimuli.values()},
    }


def test_manifest_round_trip(prepared):
    run, test = prepared
    again = read_test(ListeningFiles.of(run))
    assert again == test and again.test_id == "k" * 12
    assert len(again.files_by_id()) == 2 * (3 + 2)  # per trial: three hidden stimuli, two labelled copies


def test_a_submission_becomes_one_row_per_condition(prepared):
    _, test = prepared
    now = datetime.datetime(2026, 1, 2, tzinfo=datetime.timezone.utc)
    rows = submission_rows(test, body(test, value=-2), now=now)
    assert [(r["condition"], r["rating"], r["excerpt"], r["listener_id"], r["test_id"]) for r in rows] == [
        ("lossy", -2.0, "e01", "alice", "k" * 12),
        ("model", -2.0, "e01", "alice", "k" * 12),
        ("reference", -2.0, "e01", "alice", "k" * 12),
    ]
    assert all(r["time"] == now and r["preset"] == "paper-32k" and r["scale"] == "ladle" for r in rows)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda b, t: b.update(excerpt="e99"), "unknown excerpt"),
        (lambda b, t: b["ratings"].update({"0" * 20: 1}), "unknown stimulus"),
        (lambda b, t: b["ratings"].popitem(), "every stimulus"),
        (lambda b, t: b["ratings"].update({next(iter(b["ratings"])): 5.5}), "outside"),
        (lambda b, t: b["ratings"].update({next(iter(b["ratings"])): "3"}), "number"),
        (lambda b, t: b["ratings"].update({next(iter(b["ratings"])): True}), "number"),
        (lambda b, t: b.update(listener="../etc"), "listener"),
        (lambda b, t: b.update(extra=1), "exactly"),
    ],
)
def test_malformed_submissions_are_refused(prepared, change, message):
    _, test = prepared
    b = body(test)
    change(b, test)
    with pytest.raises(SubmissionError, match=message):
        submission_rows(test, b)


def test_concurrent_appends_lose_nothing(prepared):
    run, test = prepared
    files = ListeningFiles.of(run)
    threads = [
        threading.Thread(target=lambda i=i: append_ratings(files, submission_rows(test, body(test, listener=f"l{i}"))))
        for i in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    table = read_ratings(files)
    assert len(table) == 6 * 3 and sorted(set(table["listener_id"])) == [f"l{i}" for i in range(6)]
    assert not [p for p in files.root.iterdir() if ".tmp-" in p.name]  # no temporary left behind


def test_the_latest_submission_counts(prepared):
    run, test = prepared
    files = ListeningFiles.of(run)
    t0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    append_ratings(files, submission_rows(test, body(test, value=1), now=t0))
    append_ratings(files, submission_rows(test, body(test, value=3), now=t0 + datetime.timedelta(minutes=1)))
    assert len(read_ratings(files)) == 6
    latest = latest_ratings(read_ratings(files))
    assert len(latest) == 3 and set(latest["rating"]) == {3.0}
