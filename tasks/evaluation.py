"""Prefect tasks of `evaluate-ladle`: thin wrappers around ladle_model/evaluation/evaluate.py and its report.

- `evaluate_preset_task`: one run on one preset's whole test tracks; retried once. Not in Prefect's
  result cache: RUN_DIR/eval/{preset}/eval.json is the cache, keyed by the checkpoint's and the
  tracks' content, so a re-run with nothing changed returns at once;
- `publish_evaluation_report_task`: the mean table, the per-track table and the report as artifacts.
"""

from __future__ import annotations

import re

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from ladle_model.evaluation.evaluate import EvalConfig, evaluate_run
from ladle_model.reports.evaluation import evaluation_report_markdown
from tasks.training import artifact_slug


@task(name="evaluate-preset", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def evaluate_preset_task(run_dir: str, data: str, preset: str | None, config: dict, progress: bool = False) -> dict:
    """Evaluate the run's checkpoint on `preset` (None: the run's own) against the lossless tracks and its lossy input."""
    return evaluate_run(run_dir, data, preset, EvalConfig.from_dict(config), progress=progress)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def evaluation_artifact_keys(run_dir: str, preset: str) -> dict[str, str]:
    base = f"eval-{artifact_slug(run_dir)}-{_slug(preset)}"
    return {"summary": f"{base}-summary", "tracks": f"{base}-tracks", "report": f"{base}-report"}


@task(name="publish-evaluation-report", cache_policy=NO_CACHE)
def publish_evaluation_report_task(report: dict) -> dict[str, str]:
    """Mean and per-track metrics as table artifacts, the report (spectrograms embedded) as Markdown; returns their keys."""
    keys = evaluation_artifact_keys(report["run_dir"], report["preset"])
    what = f"{report['run_dir']} on {report['preset']} ({report['split']} split)"
    summary = [
        {k: s[k] for k in ("name", "better_when", "lossy_input", "model", "difference", "relative", "verdict")}
        for s in report["summary"]
    ]
    create_table_artifact(
        table=summary, key=keys["summary"], description=f"Mean metrics, model vs its lossy input: {what}"
    )
    create_table_artifact(table=report["rows"], key=keys["tracks"], description=f"Per-track metrics: {what}")
    create_markdown_artifact(
        markdown=evaluation_report_markdown(report, embed_images=True),
        key=keys["report"],
        description=f"Evaluation report: {what}",
    )
    return keys
