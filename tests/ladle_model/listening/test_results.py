"""`ladle listen --results`: per-condition statistics of the current test, next to its excerpts' metrics; the box plot."""

from __future__ import annotations

import argparse
import datetime

import pandas as pd
import pytest

from flows.cli.listen import add_listen as add_parser
from ladle_model.listening.layout import ListeningFiles
from ladle_model.listening.ratings import append_ratings, submission_rows
from ladle_model.listening.results import format_results, summarise_results


def rate(test, files, listener, values: dict[str, float], minute: int = 0):
    now = datetime.datetime(2026, 1, 1, 12, minute, tzinfo=datetime.timezone.utc)
    for trial in test.trials:
        body = {
            "listener": listener,
            "excerpt": trial.excerpt,
            "ratings": {s.id: values[c] for c, s in trial.stimuli.items()},
        }
        append_ratings(files, submission_rows(test, body, now=now))


@pytest.fixture
def rated(prepared):
    run, test = prepared
    files = ListeningFiles.of(run)
    rate(test, files, "alice", {"reference": 4.0, "lossy": 0.0, "model": 1.0})
    rate(test, files, "bob", {"reference": 5.0, "lossy": 0.5, "model": 2.0})
    rate(
        test, files, "carol", {"reference": -3.0, "lossy": 0.0, "model": -1.0}
    )  # the hidden reference worse than the lossy input
    # ratings of an older test in the same file are left out
    old = pd.read_parquet(files.ratings).head(3).assign(test_id="older")
    pd.concat([pd.read_parquet(files.ratings), old]).to_parquet(files.ratings)
    return run, test


def test_statistics_per_condition_with_the_excerpts_metrics(rated):
    run, _ = rated
    summary = summarise_results(run)
    assert summary["n_listeners"] == 3 and summary["n_ratings"] == 3 * 2 * 3 and summary["n_other_tests"] == 3
    assert (
        summary["flagged"] == {"carol": "rated the hidden reference below 0 in 2 of 2 trials"}
        and summary["excluded"] == []
    )
    table = {r["condition"]: r for r in summary["table"]}
    assert [r["condition"] for r in summary["table"]] == ["reference", "lossy", "model"]
    assert table["model"]["n"] == 6 and table["model"]["mean"] == pytest.approx((1 + 2 - 1) * 2 / 6)
    assert table["model"]["ci95_low"] < table["model"]["mean"] < table["model"]["ci95_high"]
    assert table["model"]["lsd"] == pytest.approx(1.0) and table["lossy"]["lsd"] == pytest.approx(
        1.5
    )  # (0.5+1.5)/2, (1+2)/2
    assert table["reference"]["lsd"] is None
    png = ListeningFiles.of(run).boxplot
    assert summary["boxplot"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    excluded = summarise_results(run, exclude_flagged=True)
    assert excluded["excluded"] == ["carol"] and excluded["n_listeners"] == 2
    assert {r["condition"]: r["mean"] for r in excluded["table"]}["model"] == pytest.approx(1.5)
    text = format_results(excluded)
    assert "flagged carol" in text and "(excluded)" in text and "model" in text and "+1.50" in text


def test_the_command_prints_the_table(rated, capsys):
    run, _ = rated
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["listen", "--run", str(run), "--results", "--no-artifact"])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert "3 listener(s), 18 rating(s) over 2 excerpt(s)" in out and "box plot:" in out


def test_user_errors_are_one_line(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    for argv, message in (
        (["listen", "--run", str(tmp_path / "nope"), "--results"], "no run folder"),
        (["listen", "--run", str(tmp_path), "--results"], "no listening test"),
        (["listen", "--run", str(tmp_path)], "give --run RUN --data DATA"),
        (["listen", "--run", str(tmp_path), "--data", str(tmp_path / "nope")], "--data: no folder"),
    ):
        args = parser.parse_args(argv)
        assert args.handler(args) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_ladle_listen_is_a_command_of_ladle(rated, capsys):
    from flows.cli import main

    run, _ = rated
    assert main(["listen", "--run", str(run), "--results", "--no-artifact", "--exclude-flagged"]) == 0
    assert "2 listener(s), 12 rating(s)" in capsys.readouterr().out
