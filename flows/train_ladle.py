"""The `train-ladle` flow: pre-train the feature net, train (or resume) a model, publish the losses.

    ladle train data --run runs/default --model ladle --max-steps 1000
    prefect deployment run train-ladle/default

A run folder is resumable: running the flow again on it continues from its last checkpoint (and a
failed training task is retried once, which does the same). `data` and `run_dir` may be
`s3://bucket/prefix` URLs: shards are read straight from the bucket; the run folder is worked on in
a local mirror, pulled first (so another machine resumes it) and pushed back at the end, also
when training fails.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger

from ladle_model.train import EPOCH_LOG, LOSS_CURVE, STEP_LOG, train_config_from_args
from storage import fs
from tasks.training import publish_training_report_task, pretrain_feature_net_task, train_task


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
    preset: str | None = None,
    overrides: dict | None = None,
    progress: bool = False,
) -> dict:
    """Train `model` on a dataset version under `data` in `run_dir`; `overrides` are TrainConfig keys."""
    logger = get_run_logger()
    cfg = train_config_from_args(model, epochs, max_steps, batch_size, segment_seconds, overrides)  # ConfigError before any work
    config = cfg.to_dict()

    local_run = str(fs.mirror_folder(run_dir)) if fs.is_remote(run_dir) else run_dir
    if fs.is_remote(run_dir):
        logger.info("pulled %d files of %s", len(fs.pull(run_dir, Path(local_run))), run_dir)
    try:
        feature_net = pretrain_feature_net_task(data, local_run, config, dataset_version, preset)
        result = train_task(data, local_run, config, dataset_version, preset, progress)
        artifacts = publish_training_report_task(local_run, result)
    finally:
        if fs.is_remote(run_dir):
            logger.info("pushed %d files to %s", len(fs.push(Path(local_run), run_dir)), run_dir)

    logger.info("trained %s to step %d (%d epochs) on %s: last loss %s, best val %s",
                model, result["step"], result["epochs"], result["dataset_version"], result["last_train_loss"], result["best_val_loss"])
    return {
        **result,
        "run_dir": run_dir,
        "model": model,
        "feature_net": feature_net,
        "log_steps": fs.join(run_dir, STEP_LOG),
        "log_epochs": fs.join(run_dir, EPOCH_LOG),
        "loss_curve": fs.join(run_dir, LOSS_CURVE),
        "artifacts": artifacts,
        "config": config,
    }
