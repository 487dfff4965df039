"""The state a training run carries, its checkpoints, and opening a run folder to start or resume it.

    ctx, ckpt = open_run("data", RunDir("runs/x"), cfg, None, None, setup_distributed("cpu"))
    state = init_state(cfg)                       # seeded model, Adam, ReduceLROnPlateau at step 0
    if ckpt is not None:
        restore_state(state, ckpt, ctx.ddp, ctx.warm_start)   # weights, optimizer, counters, this rank's RNG
    save_checkpoint(ctx, state)                   # RUN/checkpoints/step-N.pt + last.pt

A run folder follows its presets' newest versions (docs/nightly.md, "Warm start"): asked to train on
another version of the same presets than its checkpoint's, it continues from the checkpoint's weights
on the new one. Kept: the weights, Adam's moments, the weights' average and the step count (the new
version mostly holds the old one's tracks, so the moments and the average stay valid and no second
warm-up is needed; logs and step checkpoints stay in step order). Reset: the epoch counters (an epoch
is a pass over the new version), best_val_loss and the plateau scheduler's memory (the val split
changed, so old losses compare with nothing), and max_steps / max_epochs count from the warm start.
The checkpoint's `dataset_history` lists every version in order with the step it began at.

The checkpoint's format and the folder's layout are ladle_model/runs/checkpoint.py's; this module fills
them from a TrainState. ladle_model/training/loop.py runs the loop over it.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torch.optim.swa_utils import AveragedModel

from ladle_model.data.loader import seconds_to_samples
from ladle_model.data.selection import TrainingData, resolve_training_data
from ladle_model.losses.perceptual import FeatureNet, load_feature_net
from ladle_model.models.build import build_model
from ladle_model.runs.checkpoint import PROGRESS_KEYS, checkpoint_payload, load_checkpoint, served_weights
from ladle_model.runs.folder import RunDir
from ladle_model.runs.resume import (
    capture_rng_state,
    check_resumable,
    dataset_history,
    restore_rng_state,
    warm_start_history,
)
from ladle_model.training.config import TrainConfig
from ladle_model.training.distributed import Distributed, barrier, gather_objects
from ladle_model.training.feature_net import ensure_feature_net, feature_net_cache_key
from storage.atomic import write_json_atomic
from storage.config import code_version

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- state and checkpoints


@dataclass
class TrainState:
    model: nn.Module  # the bare model (DDP wraps it separately)
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau
    step: int = 0  # optimizer steps taken
    epoch: int = 0  # the epoch in progress (= epochs completed)
    batch_in_epoch: int = 0  # batches of `epoch` already trained on
    epoch_loss_sum: float = 0.0  # sum of "loss/total" over this epoch's steps on this rank
    best_val_loss: float | None = None
    last_train_loss: float | None = None
    last_eval_step: int = -1
    ema: AveragedModel | None = None  # the weights' moving average (cfg.ema_decay); None: the raw weights serve

    @property
    def served_model(self) -> nn.Module:
        """The network validation scores and a checkpoint serves to enhance: the moving average when kept."""
        return self.ema.module if self.ema is not None else self.model


@dataclass
class RunContext:
    """What stays fixed during one call of `train`: where, what, on which ranks."""

    run: RunDir
    cfg: TrainConfig
    data: TrainingData  # the dataset version(s) trained on
    ddp: Distributed
    feature_key: dict | None  # phi's cache key; None without a perceptual term
    code_version: str
    crop_samples: int | None = None  # training crop (None: whole segments)
    n_batches_per_epoch: int | None = None  # fixed under DDP, else the loader decides
    history: list[dict] | None = None  # every version trained on, in order (checkpoint.dataset_history)
    warm_start: bool = False  # this call continues a checkpoint of another version on `data`

    @property
    def start_step(self) -> int:
        """The step training on this version began at: max_steps counts from it."""
        return int(self.history[-1]["start_step"]) if self.history else 0

    @property
    def run_dir(self) -> Path:
        return self.run.root


def init_state(cfg: TrainConfig, device: torch.device | str = "cpu") -> TrainState:
    """Seeded model (the same initial weights on every rank), Adam and ReduceLROnPlateau, at step 0."""
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    random.seed(cfg.seed)
    model = build_model(cfg.model, **cfg.model_overrides).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience
    )
    # use_buffers: the average copies buffers along, so the served model is whole; its first update copies the weights
    ema = (
        AveragedModel(model, multi_avg_fn=ema_update(cfg.ema_decay), use_buffers=True)
        if cfg.ema_decay is not None
        else None
    )
    return TrainState(model, optimizer, scheduler, ema=ema)


def ema_decay_at(decay: float, n_averaged: int) -> float:
    """The decay of the update after `n_averaged` ones: min(decay, (1 + n) / (10 + n)), TensorFlow's
    ExponentialMovingAverage with num_updates. A short run (make demo's 800 steps) so averages its
    recent weights, not the untrained ones a fixed 0.999 would still hold at ~45 %."""
    return min(decay, (1 + n_averaged) / (10 + n_averaged))


def ema_update(decay: float):
    """AveragedModel's multi_avg_fn for `ema_decay_at`: every averaged tensor moves 1 - decay toward the weights."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n_averaged: torch.Tensor) -> None:
        # as torch's own get_ema_multi_avg_fn updates, with the decay of this update
        torch._foreach_lerp_(averaged, current, 1.0 - ema_decay_at(decay, int(n_averaged)))

    return update


def restore_state(state: TrainState, ckpt: dict, ddp: Distributed, warm_start: bool = False) -> None:
    """The checkpoint's state on top of `state`; a warm start on a new version resets what the module docstring says."""
    state.model.load_state_dict(ckpt["model"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    state.scheduler.load_state_dict(ckpt["scheduler"])
    if state.ema is not None:
        # A checkpoint saved without an average (ema_decay added on resume) starts it from its weights, as a first update would.
        state.ema.module.load_state_dict(served_weights(ckpt))
        state.ema.n_averaged.fill_(int(ckpt.get("ema_updates", 0)))
    for name in PROGRESS_KEYS:
        setattr(state, name, ckpt[name])
    if warm_start:
        state.scheduler._reset()  # ReduceLROnPlateau's best and bad-epoch count; the lr it reached is kept
        state.epoch, state.batch_in_epoch, state.epoch_loss_sum = 0, 0, 0.0
        state.best_val_loss, state.last_eval_step = None, -1
    rng = ckpt["rng"]
    # Same world size: each rank gets its own stream back. Otherwise ranks reuse the saved ones.
    restore_rng_state(rng[ddp.rank % len(rng)])


def save_checkpoint(ctx: RunContext, state: TrainState, best: bool = False) -> Path:
    """RUN/checkpoints/step-{step}.pt and last.pt (and best.pt), each written atomically by rank 0.

    Every rank must call it: the RNG states of all ranks are gathered into the checkpoint.
    """
    rng_states = gather_objects(capture_rng_state(), ctx.ddp)
    if ctx.ddp.is_main:
        payload = checkpoint_payload(
            state.model,
            state.optimizer,
            state.scheduler,
            {k: getattr(state, k) for k in PROGRESS_KEYS},
            rng_states,
            ctx.cfg.model,
            ctx.cfg.to_dict(),
            ctx.cfg.model_config(),
            ctx.data.records(),
            ctx.feature_key,
            ctx.code_version,
            ema=state.ema,
            history=ctx.history,
        )
        ctx.run.write_checkpoint(payload, best=best)
    return ctx.run.last


# ----------------------------------------------------------------------------- setting up a run


def open_run(
    data_dir: str | Path,
    run: RunDir,
    cfg: TrainConfig,
    dataset_version: str | None,
    presets: str | list[str] | None,
    ddp: Distributed,
) -> tuple[RunContext, dict | None]:
    """The datasets, the checks, RUN/config.json, and the checkpoint to resume from (None: a new run).

    Nothing named and RUN holds a checkpoint: a bare re-run continues on the run's own datasets.
    """
    if ddp.is_main:
        n_swept = run.sweep_temporaries()  # half-written checkpoints of a killed run
        if n_swept:
            log.info("removed %d half-written files a killed run left in %s", n_swept, run.root)
    last = run.resume_checkpoint()
    ckpt = load_checkpoint(last, map_location="cpu") if last is not None else None
    data = resolve_training_data(data_dir, run.root, cfg.segment_seconds, dataset_version, presets)
    train_shards = data.shard_paths("train")
    n_train_segments = data.n_segments("train")
    if not train_shards or n_train_segments == 0:
        raise ValueError(f"dataset {data.version} has no training segments")
    if ddp.world_size > 1 and len(train_shards) < ddp.world_size:
        raise ValueError(
            f"dataset {data.version} has {len(train_shards)} train shards for {ddp.world_size} ranks; "
            "every rank needs at least one (build the corpus with smaller shards)"
        )
    # DDP: every rank takes the same number of steps per epoch, or the gradient all-reduce hangs.
    n_batches_per_epoch = max(n_train_segments // (cfg.batch_size * ddp.world_size), 1) if ddp.world_size > 1 else None
    feature_key = feature_net_cache_key(data, cfg) if cfg.loss.lambda_perc > 0 else None
    warm, history = False, [{"version": data.version, "start_step": 0}]
    if ckpt is not None:
        warm = check_resumable(ckpt, cfg.model, cfg.model_config(), data.version, feature_key, run.root, data.presets)
        history = warm_start_history(ckpt, data.version) if warm else dataset_history(ckpt)
        if warm:
            log.info("warm start: %s continues from step %d on dataset %s", run.root, ckpt["step"], data.version)
    crop_samples = seconds_to_samples(cfg.segment_seconds, data.sample_rate, data.segment_samples)
    ctx = RunContext(run, cfg, data, ddp, feature_key, code_version(), crop_samples, n_batches_per_epoch, history, warm)
    if ddp.is_main:
        run.root.mkdir(parents=True, exist_ok=True)
        write_json_atomic(
            run.config,
            {
                "train": cfg.to_dict(),
                "model": cfg.model_config(),
                "dataset_version": data.version,
                "presets": data.presets,
                "dataset_history": history,
            },
        )
    return ctx, ckpt


def prepare_feature_net(ctx: RunContext) -> FeatureNet | None:
    """phi: pre-trained once on rank 0 (cached in the run folder), then loaded by every rank."""
    if ctx.ddp.is_main:
        ensure_feature_net(ctx.run, ctx.data, ctx.cfg, ctx.ddp.device)
    barrier(ctx.ddp)
    return load_feature_net(ctx.run.feature_net, map_location=ctx.ddp.device) if ctx.feature_key else None
