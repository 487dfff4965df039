"""Prefect tasks of `train-ladle`: thin wrappers around ladle_model/training/loop.py.

- `pretrain_feature_net_task`: phi for the perceptual loss, cached by dataset version + its config,
  offered from the cache only while RUN_DIR/feature_net.pt is complete on disk;
- `train_task`: retried once; a retry resumes from RUN_DIR/checkpoints/last.pt;
- `calibrate_task`: the fill gains of best.pt chosen on the val split, retried on its own (a finished
  calibration is reused from best.pt itself);
  both stop by the command's deadline, on one clock (ladle_model/calibration/budget.py);
- `publish_training_report_task`: the per-epoch table and the loss curve as Prefect artifacts, and
  the report as RUN_DIR/training_report.md.
"""

from __future__ import annotations

import re
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from ladle_model.calibration import budget as time_budget
from ladle_model.calibration.data import calibrate_after_training
from ladle_model.data.loader import seconds_to_samples
from ladle_model.data.selection import resolve_training_data
from ladle_model.reports.training import epoch_table, training_report_markdown, write_training_report
from ladle_model.runs.folder import RunDir
from ladle_model.training.config import TrainConfig
from ladle_model.training.feature_net import ensure_feature_net, feature_net_cache_key, feature_net_cached
from ladle_model.training.loop import train
from storage.config import stable_hash


def _feature_net_key(context, parameters) -> str | None:
    cfg = TrainConfig.from_dict(parameters["config"])
    if cfg.loss.lambda_perc <= 0:
        return None
    data = resolve_training_data(
        parameters["data"],
        parameters["run_dir"],
        cfg.segment_seconds,
        parameters["dataset_version"],
        parameters["preset"],
    )
    key = feature_net_cache_key(data, cfg)
    if not feature_net_cached(parameters["run_dir"], key):
        return None
    return stable_hash(["feature-net", key, str(Path(parameters["run_dir"]).resolve())])


@task(name="pretrain-feature-net", cache_key_fn=_feature_net_key, retries=1, retry_delay_seconds=10)
def pretrain_feature_net_task(
    data: str, run_dir: str, config: dict, dataset_version: str | None, preset: str | list[str] | None
) -> str | None:
    """Pre-train phi on the train split(s) (lossless vs lossy), or reuse the run folder's."""
    cfg = TrainConfig.from_dict(config)
    path = ensure_feature_net(
        run_dir, resolve_training_data(data, run_dir, cfg.segment_seconds, dataset_version, preset), cfg
    )
    return str(path) if path else None


# No Prefect result cache: the run folder's checkpoint is the cache, and a finished run re-run returns at once.
@task(name="train-model", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=30)
def train_task(
    data: str,
    run_dir: str,
    config: dict,
    dataset_version: str | None,
    preset: str | list[str] | None,
    progress: bool = False,
    deadline: float | None = None,
) -> dict:
    """Train (or resume) the model in `run_dir`, stopping by `deadline` (on `wall_clock`); returns TrainResult as a dict."""
    cfg = TrainConfig.from_dict(config)
    clock = time_budget.wall_clock  # read at call time: one clock for the whole command
    return train(data, run_dir, cfg, dataset_version, preset, progress, clock=clock, deadline=deadline).to_dict()


@task(name="calibrate", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def calibrate_task(
    data: str,
    run_dir: str,
    config: dict,
    dataset_version: str | None,
    preset: str | list[str] | None,
    deadline: float | None = None,
) -> dict | None:
    """Choose best.pt's fill gains on the val split by `deadline` (on `wall_clock`); None for a model without them."""
    cfg = TrainConfig.from_dict(config)
    training_data = resolve_training_data(data, run_dir, cfg.segment_seconds, dataset_version, preset)
    crop = seconds_to_samples(cfg.segment_seconds, training_data.sample_rate, training_data.segment_samples)
    return calibrate_after_training(
        run_dir, data, training_data, cfg.batch_size, crop, deadline=deadline, clock=time_budget.wall_clock
    )


def artifact_slug(run_dir: str) -> str:
    """An artifact key part from the run folder's name (keys allow lowercase letters, digits and dashes)."""
    return re.sub(r"[^a-z0-9]+", "-", Path(run_dir).resolve().name.lower()).strip("-") or "run"


@task(name="publish-training-report", cache_policy=NO_CACHE)
def publish_training_report_task(run_dir: str, result: dict) -> dict:
    """Per-epoch losses as a table artifact, the loss curve in a Markdown artifact; returns their keys."""
    run = RunDir(run_dir)
    slug = artifact_slug(run_dir)
    keys = {"epochs": f"train-{slug}-epochs", "report": f"train-{slug}-report"}
    write_training_report(run, result)
    create_table_artifact(table=epoch_table(run), key=keys["epochs"], description=f"Per-epoch losses of {run_dir}")
    create_markdown_artifact(
        markdown=training_report_markdown(run, result), key=keys["report"], description=f"Loss curve of {run_dir}"
    )
    return keys
