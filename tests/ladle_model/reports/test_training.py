"""The training report: CSV logs round trip, a torn or redone tail is cut, the report names the run and embeds the curve."""

from __future__ import annotations

import base64
import math

from ladle_model.reports.training import (
    append_log_row,
    epoch_table,
    plot_loss_curves,
    read_log,
    training_report_markdown,
    truncate_log,
    write_training_report,
)
from ladle_model.runs.folder import RunDir


def test_log_rows_round_trip_and_keep_the_first_header(tmp_path):
    path = tmp_path / "log.csv"
    append_log_row(path, {"step": 1, "loss/total": 0.5, "note": "a"})
    append_log_row(path, {"step": 2, "loss/total": 0.25, "extra": 9.0})  # a key the header lacks is dropped
    assert read_log(path) == [
        {"step": 1.0, "loss/total": 0.5, "note": "a"},
        {"step": 2.0, "loss/total": 0.25, "note": None},
    ]
    assert read_log(tmp_path / "missing.csv") == []


def test_truncate_cuts_redone_steps_and_a_torn_last_line(tmp_path):
    path = tmp_path / "log.csv"
    for step in (1, 2, 3):
        append_log_row(path, {"step": step, "loss/total": 1.0 / step})
    with open(path, "a") as f:
        f.write("4")  # a crash mid-row: the line has no loss cell
    truncate_log(path, max_step=2)
    assert [r["step"] for r in read_log(path)] == [1.0, 2.0]
    truncate_log(tmp_path / "missing.csv", 2)  # nothing to cut: no file appears
    assert not (tmp_path / "missing.csv").exists()


def test_report_names_the_run_and_embeds_the_curve(tmp_path):
    run = RunDir(tmp_path / "my-run")
    run.root.mkdir()
    for step in range(1, 4):
        append_log_row(run.step_log, {"step": step, "epoch": 0, "loss/total": 1.0 / step})
    append_log_row(
        run.epoch_log,
        {
            "epoch": 0,
            "step": 3,
            "train/loss/total": 0.6,
            "val/loss/total": float("nan"),
            "val/mse_lossy_input": 0.0123456,
        },
    )
    assert plot_loss_curves(run) == run.loss_curve and run.loss_curve.read_bytes()[:4] == b"\x89PNG"
    rows = epoch_table(run.root)
    assert rows[0]["val/loss/total"] is None and math.isclose(rows[0]["val/mse_lossy_input"], 0.0123456)
    result = {
        "dataset_version": "v9",
        "step": 3,
        "epochs": 1,
        "last_train_loss": 0.3333333333333333,
        "best_val_loss": None,
        "checkpoint": str(run.last),
    }
    text = training_report_markdown(run, result)
    assert text.startswith("# Training run `my-run`") and "`v9`" in text and "steps: 3, epochs completed: 1" in text
    assert "the baseline to beat): 0.01235" in text
    assert "- last train loss: 0.3333\n" in text and "- best validation loss: n/a" in text
    assert f"data:image/png;base64,{base64.b64encode(run.loss_curve.read_bytes()).decode()}" in text
    assert write_training_report(run, result) == run.training_report and run.training_report.read_text() == text


def test_losses_are_printed_with_four_significant_digits():
    from ladle_model.reports.training import format_loss

    assert [format_loss(v) for v in (0.00019112999143544585, 12.3456789, 3.0, None, float("nan"))] == [
        "0.0001911",
        "12.35",
        "3",
        "n/a",
        "n/a",
    ]
