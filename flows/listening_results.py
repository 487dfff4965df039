"""The `listening-results` flow: summarise a run's listening-test ratings and publish them as an artifact.

    ladle listen --results runs/drrn1d            # runs this flow (unless --no-artifact)

The summary (per condition: mean rating, 95 % CI, n, and the objective metrics of the same excerpts)
is computed by ladle_model/listening/results.py; the flow publishes it as a table artifact, so it sits
in the Prefect UI next to the evaluation reports of the same run.
"""

from __future__ import annotations

from prefect import flow

from tasks.listening import publish_listening_results_task, summarise_listening_task


@flow(name="listening-results", log_prints=False)
def listening_results(run_dir: str, exclude_flagged: bool = False, screen_threshold: float | None = None) -> dict:
    """Summarise RUN/listening/ratings.parquet and publish the table; returns the summary (with its artifact key)."""
    summary = summarise_listening_task(run_dir, exclude_flagged, screen_threshold)
    if summary["table"]:
        summary["artifact"] = publish_listening_results_task(summary)
    return summary
