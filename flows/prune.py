"""The `prune-datasets` flow: retention for dataset versions, after each night's build.

    prefect deployment run prune-datasets/default
    ladle prune --data data --keep 3 --protect-run runs/champion      # the same, without Prefect

Keeps each preset's `keep` newest versions, every version named in `protect_versions`, every
version the run folders in `protect_runs` trained on, and every version the champion
(DATA/models/champion/, ladle_model/runs/champion.py) names (storage/versions.py); deletes the rest
and the pooled shards no remaining version lists, and reports what it freed. `data` may be an s3://
URL: then a pooled shard younger than `grace_minutes` (default 60) stays, since a build on another
machine may be uploading it (docs/dataset-versions.md, "Latest and retention").
"""

from __future__ import annotations

import dataclasses

from prefect import flow, get_run_logger

from tasks.corpus import prune_versions_task


@flow(name="prune-datasets", log_prints=True)
def prune_datasets(
    data: str = "data",
    keep: int = 3,
    protect_runs: list[str] | None = None,
    protect_versions: list[str] | None = None,
    wait_for_lock_seconds: float = 600.0,
    grace_minutes: float | None = None,
) -> dict:
    """Remove old dataset versions of a data folder (local or s3://) and the shards only they used."""
    report = prune_versions_task(
        data, keep, protect_runs or [], protect_versions or [], wait_for_lock_seconds, grace_minutes
    )
    get_run_logger().info("%s", report.summary())
    return dataclasses.asdict(report)
