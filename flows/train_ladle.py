"""The `train-ladle` flow: pre-train the feature net, train (or resume), calibrate, publish the report.

    ladle train --data data --run runs/default --preset mp3-64 --max-minutes 20
    ladle train --data data --run runs/paper --recipe paper --max-steps 1000
    prefect deployment run train-ladle/default

The run's config is `TrainConfig.from_recipe(recipe, overrides)`, the one way every route (the CLI, this
flow's deployments, torchrun's entry, the benchmarks) makes it, so the same recipe and overrides train the
same model. `max_minutes` bounds the whole flow: training stops by a deadline that leaves the calibration a
share of the budget, and the calibration stops by the budget's end (ladle_model/calibration/budget.py). Each
stage is its own task, cached or resumed and retried on its own: a failed calibration
is retried without training again. A run folder is resumable: running the flow again on it continues from
its last checkpoint. Several presets train one model on the union of their datasets. `data` and `run_dir`
may be `s3://bucket/prefix` URLs: shards are read straight from the bucket; the run folder is worked on in
a local mirror (storage/fs.py `local_mirror`), pulled first and pushed back at the end, also on failure.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from ladle_model.calibration import budget as time_budget
from ladle_model.reports.training import format_loss
from ladle_model.runs.folder import RunDir
from ladle_model.training.config import TrainConfig
from ladle_model.training.recipes import DEFAULT_RECIPE
from storage import fs
from tasks.training import calibrate_task, pretrain_feature_net_task, publish_training_report_task, train_task


@flow(name="train-ladle", log_prints=True)
def train_ladle(
    data: str,
    run_dir: str,
    recipe: str = DEFAULT_RECIPE,
    overrides: dict | None = None,
    preset: str | list[str] | None = None,
    dataset_version: str | None = None,
    progress: bool = False,
    started: float | None = None,
) -> dict:
    """Train recipe `recipe` with `overrides` (TrainConfig keys) on the datasets of `preset` (or `dataset_version`)
    under `data`, in `run_dir`. `max_minutes` bounds the whole flow, calibration included, from `started` (on
    `wall_clock`; None: now)."""
    logger = get_run_logger()
    cfg = TrainConfig.from_recipe(recipe, overrides)  # ConfigError before any work
    config = cfg.to_dict()
    budget = None
    if cfg.max_minutes is not None:
        started = time_budget.wall_clock() if started is None else started
        calibrated = time_budget.calibrates(cfg.model, cfg.model_overrides, cfg.calibrate)
        budget = time_budget.TimeBudget.of(cfg.max_minutes, started, calibrated)

    with fs.local_mirror(run_dir, pull=True, push=True, push_on_error=True, log=logger.info) as local_run:
        feature_net = pretrain_feature_net_task(data, str(local_run), config, dataset_version, preset)
        until = budget.training_deadline if budget else None
        result = train_task(data, str(local_run), config, dataset_version, preset, progress, until)
        calibration, calibration_s = None, 0.0
        if cfg.calibrate:
            t0 = time_budget.wall_clock()
            until = budget.deadline if budget else None
            calibration = calibrate_task(data, str(local_run), config, dataset_version, preset, until)
            calibration_s = time_budget.wall_clock() - t0
        result = {**result, "calibration": calibration, "calibration_s": calibration_s}
        if budget is not None and calibration is not None:  # a model without fill gains spends nothing on it
            result["budget_text"] = budget.share_text(calibration_s)
            logger.info("%s", result["budget_text"])
        artifacts = publish_training_report_task(str(local_run), result)

    logger.info(
        "trained %s to step %d (%d epochs) on %s: last loss %s, best val %s",
        cfg.model,
        result["step"],
        result["epochs"],
        result["dataset_version"],
        format_loss(result["last_train_loss"]),
        format_loss(result["best_val_loss"]),
    )
    run = RunDir(run_dir)  # for the paths only: a URL's are rebuilt with fs.join
    return {
        **result,
        "run_dir": run_dir,
        "model": cfg.model,
        "recipe": recipe,
        "feature_net": feature_net,
        "log_steps": fs.join(run_dir, run.step_log.name),
        "log_epochs": fs.join(run_dir, run.epoch_log.name),
        "loss_curve": fs.join(run_dir, run.loss_curve.name),
        "artifacts": artifacts,
        "config": config,
    }
