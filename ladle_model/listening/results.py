"""The results of a listening test: statistics per condition next to the objective metrics of the same excerpts.

    summary = summarise_results("runs/ladle")                 # reads RUN/listening/, writes the box plot
    print(format_results(summary))
    publish_results(summary)                                  # the table as a Prefect artifact

Only the ratings of the test prepared now (test.json's id) count, the latest submission of each
listener per excerpt. Listeners flagged by the post-screening rule (stats.py) are listed, and left
out when `exclude_flagged`. Each condition's row carries the mean over the test's excerpts of the
metrics computed when the stimuli were prepared (LSD, SNR, ViSQOL against the lossless reference;
ladle_model/evaluation/metrics.py), so ears and metrics can be read side by side.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ladle_model.listening.layout import ListeningFiles, ListeningTest, read_test
from ladle_model.listening.ratings import latest_ratings, read_ratings
from ladle_model.listening.stats import SCREEN_FRACTION, condition_stats, plot_ratings, screen_listeners

METRIC_KEYS = ("lsd", "snr_db", "visqol")


def excerpt_metric_means(test: ListeningTest) -> dict[tuple[str, str], dict[str, float | None]]:
    """(preset, condition) -> mean over the test's excerpts of each objective metric (None where not computed)."""
    values: dict[tuple[str, str], dict[str, list[float]]] = {}
    for trial in test.trials:
        for condition, row in trial.metrics.items():
            slot = values.setdefault((trial.preset, condition), {k: [] for k in METRIC_KEYS})
            for k in METRIC_KEYS:
                if row.get(k) is not None:
                    slot[k].append(row[k])
    return {key: {k: (float(np.mean(v)) if v else None) for k, v in d.items()} for key, d in values.items()}


def summarise_results(
    run_dir: str | Path,
    exclude_flagged: bool = False,
    screen_threshold: float | None = None,
    screen_fraction: float = SCREEN_FRACTION,
) -> dict:
    """Statistics of RUN's ratings (see the module's docstring); writes RUN/listening/ratings.png when there are any."""
    files = ListeningFiles.of(run_dir)
    test = read_test(files)
    if test is None:
        raise FileNotFoundError(f"no listening test in {files.root}")
    everything = read_ratings(files)
    ratings = latest_ratings(everything[everything["test_id"] == test.test_id]) if not everything.empty else everything
    flagged = screen_listeners(ratings, test.scale, screen_threshold, screen_fraction) if not ratings.empty else {}
    used = ratings[~ratings["listener_id"].isin(list(flagged))] if exclude_flagged and flagged else ratings
    metrics = excerpt_metric_means(test)
    table = []
    for row in condition_stats(used, test.conditions):
        table.append({**row, **(metrics.get((row["preset"], row["condition"])) or {k: None for k in METRIC_KEYS})})
    boxplot = None
    if not used.empty:
        title = f"{Path(run_dir).name}: {used['listener_id'].nunique()} listener(s), {test.scale} scale"
        boxplot = plot_ratings(used, files.boxplot, test.scale, test.conditions, title)
    return {
        "run_dir": str(run_dir),
        "test_id": test.test_id,
        "scale": test.scale,
        "n_excerpts": len(test.trials),
        "n_listeners": int(used["listener_id"].nunique()) if not used.empty else 0,
        "n_ratings": int(len(used)),
        "n_other_tests": int(len(everything) - (everything["test_id"] == test.test_id).sum())
        if not everything.empty
        else 0,
        "flagged": flagged,
        "excluded": sorted(flagged) if exclude_flagged else [],
        "table": table,
        "boxplot": boxplot,
    }


def _num(v, fmt: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def format_results(summary: dict) -> str:
    """The summary as a plain-text table for the terminal."""
    sign = "+" if summary["scale"] == "ladle" else ""
    lines = [
        f"listening test {summary['test_id']} ({summary['scale']} scale): {summary['n_listeners']} listener(s), "
        f"{summary['n_ratings']} rating(s) over {summary['n_excerpts']} excerpt(s)"
    ]
    for listener, why in summary["flagged"].items():
        lines.append(
            f"  flagged {listener}: {why}"
            + (" (excluded)" if listener in summary["excluded"] else " (kept; --exclude-flagged)")
        )
    if not summary["table"]:
        return "\n".join([*lines, "no ratings yet"])
    lines.append(
        f"{'preset':<12} {'condition':<16} {'n':>4} {'mean':>7} {'95% CI':>17} {'LSD':>6} {'SNR dB':>7} {'ViSQOL':>6}"
    )
    for r in summary["table"]:
        ci = (
            f"[{_num(r['ci95_low'], sign + '.2f')}, {_num(r['ci95_high'], sign + '.2f')}]"
            if not math.isnan(r["ci95_low"])
            else "-"
        )
        lines.append(
            f"{r['preset']:<12} {r['condition']:<16} {r['n']:>4} {_num(r['mean'], sign + '.2f'):>7} {ci:>17} "
            f"{_num(r['lsd'], '.3f'):>6} {_num(r['snr_db'], '.1f'):>7} {_num(r['visqol'], '.2f'):>6}"
        )
    if summary["boxplot"]:
        lines.append(f"box plot: {summary['boxplot']}")
    return "\n".join(lines)


def artifact_key(run_dir: str | Path) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", Path(run_dir).resolve().name.lower()).strip("-") or "run"
    return f"listening-{slug}"


def publish_results(summary: dict) -> str:
    """Publish the per-condition table (ratings and objective metrics) as a Prefect table artifact; returns its key."""
    from prefect.artifacts import create_table_artifact

    def clean(v):
        return None if isinstance(v, float) and math.isnan(v) else v

    key = artifact_key(summary["run_dir"])
    table = [{k: clean(v) for k, v in row.items()} for row in summary["table"]]
    create_table_artifact(
        table=table,
        key=key,
        description=f"Listening test {summary['test_id']} of {summary['run_dir']} ({summary['scale']} scale, "
        f"{summary['n_listeners']} listeners): mean rating, 95 % CI, n, and LSD/SNR/ViSQOL of the same excerpts",
    )
    return key
