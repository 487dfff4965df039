"""The `train-ladle` flow: pre-train the feature net, train (or resume) a model, publish the losses.

    ladle train data --run runs/default --model ladle --max-steps 1000
    ladle train data --run runs/multi --preset paper-32k --preset mp3-64 --max-minutes 20
    prefect deployment run train-ladle/default

A run folder is resumable: running the flow again on it continues from its last checkpoint (and a
failed training task is retried once, which does the same). Several presets train one model on the
union of their datasets; `max_minutes` stops the training task at that budget with a checkpoint.
`data` and `run_dir` may be `s3://bucket/prefix` URLs: shards are read straight from the bucket; the
run folder is worked on in a local mirror (storage/fs.py `local_mirror`), pulled first (so another
machine resumes it) and pushed back at the end, also when training fails.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from ladle_model.checkpoint import RunDir
from ladle_model.reports.training import format_loss
from ladle_model.train import train_config_from_args
from storage import fs
from tasks.training import pretrain_feature_net_task, publish_training_report_task, train_task


@flow(name="train-ladle", log_prints=True)
def train_ladle(
    data: str,
    run_dir: str,
    model: str = "ladle",
    epochs: int = 20,
    max_steps: int | None = None,
    batch_size: int = 4,
    segment_seconds: float | None = None,
    dataset_version: str | None = None,
    preset: str | list[str] | None = None,
    overrides: dict | None = None,
    progress: bool = False,
    max_minutes: float | None = None,
) -> dict:
    """Train `model` on a dataset version under `data` (or on the union of several presets') in `run_dir`;
    `overrides` are TrainConfig keys."""
    logger = get_run_logger()
    cfg = train_config_from_args(
        model, epochs, max_steps, batch_size, segment_seconds, overrides, max_minutes
    )  # ConfigError before any work
    config = cfg.to_dict()

    with fs.local_mirror(run_dir, pull=True, push=True, push_on_error=True, log=logger.info) as local_run:
        feature_net = pretrain_feature_net_task(data, str(local_run), config, dataset_version, preset)
        result = train_task(data, str(local_run), config, dataset_version, preset, progress)
        artifacts = publish_training_report_task(str(local_run), result)

    logger.info(
        "trained %s to step %d (%d epochs) on %s: last loss %s, best val %s",
        model,
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
        "model": model,
        "feature_net": feature_net,
        "log_steps": fs.join(run_dir, run.step_log.name),
        "log_epochs": fs.join(run_dir, run.epoch_log.name),
        "loss_curve": fs.join(run_dir, run.loss_curve.name),
        "artifacts": artifacts,
        "config": config,
    }
