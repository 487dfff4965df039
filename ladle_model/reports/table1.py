"""Table I of the LadLe paper: one row per preprocessing approach, plus the untouched lossy input.

    rows = table1_rows([("1-s pad-edges", report_a), ("0.1-s resample", report_b)])   # evaluation reports
    write_table1("table1/", rows, {"preset": "paper-32k", "model": "ladle", "steps": 2000, "n_tracks": 5, "split": "test"})

The paper's table has MSE and the perceptual loss; every other metric of the registry marked
`in_table1` (ladle_model/evaluation/metrics.py) is a further column, in registry order.
"""

from __future__ import annotations

from pathlib import Path

from ladle_model.evaluation import metrics as M
from ladle_model.evaluation.verdict import BASELINE, fmt_value
from ladle_model.reports.evaluation import write_rows_parquet
from storage.atomic import write_bytes_atomic


def table1_metrics() -> list[M.Metric]:
    return [metric for metric in M.METRICS.values() if metric.in_table1]


def table1_rows(evaluations: list[tuple[str, dict]]) -> list[dict]:
    """One row per preprocessing approach (the model's means) and one for the lossy input (the baseline).

    `evaluations` pairs an approach's label with its evaluation report. Every approach is evaluated on
    the same tracks and preset, so the baseline is the same for all; it is taken from the first.
    """
    columns = [metric.key for metric in table1_metrics()]
    rows = []
    for label, report in evaluations:
        means = {s["metric"]: s["model"] for s in report["summary"]}
        rows.append(
            {
                "approach": label,
                "strategy": report["dataset"].get("strategy"),
                "segment_seconds": report["dataset"].get("segment_seconds"),
                "steps": report["step"],
                **{c: means.get(c) for c in columns},
            }
        )
    if evaluations:
        base = {s["metric"]: s["lossy_input"] for s in evaluations[0][1]["summary"]}
        rows.append(
            {
                "approach": f"{BASELINE} (identity)",
                "strategy": None,
                "segment_seconds": None,
                "steps": 0,
                **{c: base.get(c) for c in columns},
            }
        )
    return rows


def _names(metrics: list[M.Metric]) -> str:
    labels = [metric.label for metric in metrics]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def table1_markdown(rows: list[dict], context: dict) -> str:
    """Table I as the LadLe paper lays it out (approach, MSE, perceptual loss), then the other metrics and the baseline row."""
    metrics = table1_metrics()
    lower = [m for m in metrics if m.better == "lower"]
    higher = [m for m in metrics if m.better == "higher"]
    better = "; ".join(
        part
        for part in (
            f"lower is better for {_names(lower)}" if lower else "",
            f"higher for {_names(higher)}" if higher else "",
        )
        if part
    )
    lines = [
        "# Table I: preprocessing approaches (LadLe paper), on whole test tracks",
        "",
        f"- preset {context.get('preset')}, model {context.get('model')}, {context.get('steps')} training steps each, "
        f"{context.get('n_tracks')} {context.get('split')} track(s)",
        "- perceptual loss: every row scored with the same feature net phi (the resample run's), so the column compares",
        f"- {better}",
        "",
        "| approach | " + " | ".join(m.label for m in metrics) + " |",
        "|---|" + "---|" * len(metrics),
    ]
    for r in rows:
        lines.append(f"| {r['approach']} | " + " | ".join(fmt_value(r.get(m.key)) for m in metrics) + " |")
    return "\n".join(lines) + "\n"


def write_table1(out_dir: str | Path, rows: list[dict], context: dict) -> dict[str, str]:
    """OUT/table1.md and OUT/table1.parquet; returns their paths."""
    out_dir = Path(out_dir)
    markdown_text = table1_markdown(rows, context)
    write_bytes_atomic(out_dir / "table1.md", markdown_text.encode())
    write_rows_parquet(out_dir / "table1.parquet", rows)
    return {"markdown": str(out_dir / "table1.md"), "parquet": str(out_dir / "table1.parquet")}
