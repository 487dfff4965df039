"""The training report: the CSV logs a run appends to, its loss curve, the epoch table and a Markdown summary.

    append_log_row(run.step_log, {"step": 1, "loss/total": 0.12})
    plot_loss_curves(run)                              # RUN/loss_curve.png
    text = training_report_markdown(run, result)       # for a Prefect artifact and RUN/training_report.md
    format_loss(0.00019112999143544585)                # "0.0001911": losses are printed with 4 significant digits

`run` is a `ladle_model.runs.folder.RunDir` (or a run folder path): it names the files.
"""

from __future__ import annotations

import base64
import csv
import math
from pathlib import Path

import numpy as np

from ladle_model.runs.folder import RunDir
from storage.atomic import atomic_path, write_bytes_atomic


def _run(run: RunDir | str | Path) -> RunDir:
    return run if isinstance(run, RunDir) else RunDir(Path(run))


def format_loss(value: float | None) -> str:
    """A loss for people: 4 significant digits ("0.0001911", "12.35"), "n/a" when there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4g}"


# ----------------------------------------------------------------------------- CSV logs


def append_log_row(path: Path, row: dict) -> None:
    """Append one CSV row; the header is written with the first row and kept after."""
    fieldnames = list(row)
    exists = path.is_file() and path.stat().st_size > 0
    if exists:
        with open(path, newline="") as f:
            fieldnames = next(csv.reader(f), fieldnames)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames, extrasaction="ignore", restval="")
        if not exists:
            writer.writeheader()
        writer.writerow(row)


def truncate_log(path: Path, max_step: int) -> None:
    """Keep only rows with step <= max_step (and well-formed): steps redone after a resume are not duplicated."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fieldnames = reader.fieldnames or []
        rows = []
        for row in reader:
            try:
                keep = None not in row.values() and int(row["step"]) <= max_step  # a torn last line has missing fields
            except (TypeError, ValueError):
                keep = False
            if keep:
                rows.append(row)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)


def read_log(path: str | Path) -> list[dict]:
    """Rows of a CSV log with numbers as floats (empty cells as None)."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _number(v: str | None) -> float | str | None:
    if v is None or v == "":
        return None
    try:
        return float(v)
    except ValueError:
        return v


# ----------------------------------------------------------------------------- plot and tables


def plot_loss_curves(run: RunDir | str | Path) -> Path:
    """RUN/loss_curve.png: train loss per step and validation loss per evaluation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = _run(run)
    steps, epochs = read_log(run.step_log), read_log(run.epoch_log)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if steps:
        x = [r["step"] for r in steps]
        y = [r["loss/total"] for r in steps]
        ax.plot(x, y, lw=0.8, alpha=0.5, label="train loss/total")
        if len(y) >= 20:  # a running mean shows the trend under the per-step noise
            w = max(len(y) // 20, 2)
            ax.plot(x[w - 1 :], np.convolve(y, np.ones(w) / w, mode="valid"), lw=1.5, label=f"train (mean of {w})")
    val = [r for r in epochs if r.get("val/loss/total") is not None]
    if val:
        ax.plot([r["step"] for r in val], [r["val/loss/total"] for r in val], "o-", label="val loss/total")
        lossy = [r for r in val if r.get("val/mse_lossy_input") is not None]
        if lossy:
            ax.axhline(
                lossy[-1]["val/mse_lossy_input"], color="gray", ls="--", lw=1, label="val MSE of the lossy input"
            )
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if all(r["loss/total"] > 0 for r in steps) and steps:
        ax.set_yscale("log")
    ax.set_title(run.name)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(run.loss_curve) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return run.loss_curve


def epoch_table(run: RunDir | str | Path) -> list[dict]:
    """The per-epoch log as rows of plain numbers (NaN as None), for a report table."""
    return [
        {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
        for row in read_log(_run(run).epoch_log)
    ]


# ----------------------------------------------------------------------------- the report


def training_report_markdown(run: RunDir | str | Path, result: dict) -> str:
    """A short Markdown report of a run with the loss curve embedded (a data: URI: the UI has no file access)."""
    run = _run(run)
    lines = [
        f"# Training run `{run.name}`",
        "",
        f"- dataset version: `{result.get('dataset_version')}`",
        f"- steps: {result.get('step')}, epochs completed: {result.get('epochs')}",
        f"- last train loss: {format_loss(result.get('last_train_loss'))}",
        f"- best validation loss: {format_loss(result.get('best_val_loss'))}",
        f"- checkpoint: `{result.get('checkpoint')}`",
        "",
    ]
    rows = epoch_table(run)
    if rows and rows[-1].get("val/mse_lossy_input") is not None:
        lines += [
            f"Validation MSE of the untouched lossy input (the baseline to beat): {rows[-1]['val/mse_lossy_input']:.4g}",
            "",
        ]
    png = run.loss_curve
    if png.is_file():
        lines += [f"![loss curve](data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()})", "", f"`{png}`"]
    return "\n".join(lines)


def write_training_report(run: RunDir | str | Path, result: dict) -> Path:
    """RUN/training_report.md: `training_report_markdown`, written atomically."""
    run = _run(run)
    write_bytes_atomic(run.training_report, training_report_markdown(run, result).encode())
    return run.training_report
