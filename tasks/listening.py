"""Prefect tasks around the listening test's results (ladle_model/listening/results.py)."""

from __future__ import annotations

from prefect import task

from ladle_model.listening.results import publish_results, summarise_results


@task(name="summarise-listening")
def summarise_listening_task(
    run_dir: str, exclude_flagged: bool = False, screen_threshold: float | None = None
) -> dict:
    """Per-condition statistics of RUN/listening/ratings.parquet (also writes the box plot)."""
    return summarise_results(run_dir, exclude_flagged, screen_threshold)


@task(name="publish-listening")
def publish_listening_results_task(summary: dict) -> str:
    """The summary's table as a Prefect table artifact; returns its key."""
    return publish_results(summary)
