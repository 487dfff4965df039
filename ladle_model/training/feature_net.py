"""phi for the perceptual loss, pre-trained once per run folder and reused while its cache key matches.

    path = ensure_feature_net("runs/ladle", data, cfg)    # RUN/feature_net.pt, or None without a perceptual term

`data` is the run's ladle_model.data.selection.TrainingData: phi learns on every dataset the model does.

The key (RUN/feature_net.json) is what phi depends on: the dataset version and the config of its
pre-training. It is written after the weights, so a key on disk means finished weights.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from ladle_model.data.loader import infinite_batches, seconds_to_samples
from ladle_model.data.selection import TrainingData
from ladle_model.losses.perceptual import pretrain_feature_net, save_feature_net
from ladle_model.runs.folder import RunDir
from ladle_model.runs.resume import canonical
from ladle_model.training.config import TrainConfig
from storage.atomic import write_json_atomic


def feature_net_cache_key(data: TrainingData, cfg: TrainConfig) -> dict:
    """What phi depends on: the dataset version(s) and the config of its pre-training."""
    return {
        "dataset_version": data.version,
        "feature_net": dataclasses.asdict(cfg.feature_net),
        "steps": cfg.feature_net_steps,
        "lr": cfg.feature_net_lr,
        "seed": cfg.seed,
        "batch_size": cfg.batch_size,
        "crop_samples": seconds_to_samples(cfg.segment_seconds, data.sample_rate, data.segment_samples),
    }


def feature_net_cached(run_dir: str | Path | RunDir, key: dict) -> bool:
    """Is RUN/feature_net.pt complete and made under `key`?"""
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    return (
        run.feature_net.is_file()
        and run.feature_net_key.is_file()
        and canonical(json.loads(run.feature_net_key.read_text())) == canonical(key)
    )


def ensure_feature_net(
    run_dir: str | Path | RunDir, data: TrainingData, cfg: TrainConfig, device: torch.device | str = "cpu"
) -> Path | None:
    """RUN/feature_net.pt pre-trained on the train split (on `device`), reused when its cache key matches.

    None when the loss has no perceptual term.
    """
    if cfg.loss.lambda_perc <= 0:
        return None
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    key = feature_net_cache_key(data, cfg)
    if feature_net_cached(run, key):
        return run.feature_net
    batches = infinite_batches(
        data.shard_paths("train"),
        cfg.batch_size,
        seed=cfg.seed,
        crop_samples=key["crop_samples"],
        shuffle_buffer=cfg.shuffle_buffer,
        num_workers=cfg.num_workers,
    )
    on_device = (
        (lossless.to(device), lossy.to(device)) for lossless, lossy in batches
    )  # phi trains where its batches are
    net = pretrain_feature_net(
        on_device, steps=cfg.feature_net_steps, seed=cfg.seed, lr=cfg.feature_net_lr, config=cfg.feature_net
    )
    on_device.close()
    batches.close()  # stops the loader's workers
    save_feature_net(net, run.feature_net)
    write_json_atomic(run.feature_net_key, key)  # last: a key on disk means finished weights
    return run.feature_net
