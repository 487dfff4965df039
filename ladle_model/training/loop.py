"""Train a restoration model on a dataset version's shards: one visible loop, resumable, DDP-ready.

    cfg = TrainConfig.from_dict({"model": "ladle", "model_overrides": {"stride": 4}, "max_steps": 1000})
    result = train("data", "runs/ladle-s4", cfg, preset="vorbis-160", progress=True)
    result = train("data", "runs/multi", cfg, preset=["paper-32k", "mp3-64"])   # one model, the union of two presets

`cfg.max_minutes` caps one call's wall time: the run stops at a step boundary with a checkpoint,
and the next call continues exactly where it stopped.

Several GPUs (WORLD_SIZE > 1 starts DDP; rank 0 alone writes checkpoints and logs):

    torchrun --nproc-per-node 4 -m ladle_model.training data runs/ladle-ddp --config '{"model_overrides": {"stride": 4}}'

Here: one optimizer step and the loop; validation is ladle_model/training/validate.py's. The run folder's layout and the
checkpoint format are ladle_model/runs/checkpoint.py's; the state and opening a run
ladle_model/training/state.py's; logs, the loss curve and the report ladle_model/reports/training.py's.
Because an epoch's batches are a function of (seed, epoch) (ladle_model/data/loader.py) and a checkpoint
holds every rank's RNG state, a resumed run replays the epoch, skips the batches it already trained
on and ends with the same weights as a run that was never interrupted.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from ladle_model.data.augment import clean_inputs
from ladle_model.data.loader import iterate_epoch
from ladle_model.losses.perceptual import FeatureNet
from ladle_model.losses.spectral import training_losses
from ladle_model.reports.training import append_log_row, format_loss, plot_loss_curves, truncate_log
from ladle_model.runs.folder import RunDir
from ladle_model.training.config import TrainConfig
from ladle_model.training.distributed import (
    Distributed,
    any_rank,
    autocast_context,
    setup_distributed,
    teardown_distributed,
    wrap_model,
)
from ladle_model.training.state import (
    RunContext,
    TrainState,
    init_state,
    open_run,
    prepare_feature_net,
    restore_state,
    save_checkpoint,
)
from ladle_model.training.validate import validate_and_log

# A validation batch costs about half a training step (forward only; measured: 0.11 s against 0.22 s on
# 2 CPU cores): what the end-of-run validation is reserved by before one was timed.
VAL_BATCH_SHARE = 0.5

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    step: int  # optimizer steps taken in the run so far
    epochs: int  # epochs completed
    last_train_loss: float | None  # "loss/total" of the last step
    best_val_loss: float | None  # lowest validation "loss/total" seen
    checkpoint: str  # RUN_DIR/checkpoints/last.pt
    run_dir: str
    dataset_version: str = ""  # several datasets: their versions joined by "+"
    presets: list[str] = field(default_factory=list)  # the presets of the datasets trained on
    start_step: int = 0  # the step this call started from (> 0: it resumed)
    stopped_by: str = ""  # "max_epochs", "max_steps" or "max_minutes" (the time budget; a re-run continues)
    dataset_history: list[dict] = field(default_factory=list)  # every version trained on, in order
    warm_start: bool = False  # this call continued a checkpoint of another version on this one

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- one step


def train_step(
    state: TrainState,
    train_model: nn.Module,
    lossless: torch.Tensor,
    lossy: torch.Tensor,
    feature_net: FeatureNet | None,
    cfg: TrainConfig,
    device: torch.device | str = "cpu",
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One optimizer step on a (lossless, lossy) batch; returns the detached loss terms and the grad norm.

    `train_model` is `state.model` or its DDP wrapper (whose backward all-reduces the gradients).
    """
    device = torch.device(device)
    # ---- forward/backward: the model under bf16 autocast on CUDA, the losses in float32
    lossless = lossless.to(device, non_blocking=True)  # (B, 2, L) target
    lossy = lossy.to(device, non_blocking=True)  # (B, 2, L) input
    lossy = clean_inputs(lossless, lossy, cfg.clean_input_fraction, cfg.seed, state.step)  # some: the target
    with autocast_context(device, cfg.precision):
        pred = train_model(lossy)  # (B, 2, L)
    losses = training_losses(pred.float(), lossless, lossy, feature_net, cfg.loss, cfg.spectral)
    state.optimizer.zero_grad(set_to_none=True)
    losses["loss/total"].backward()

    # ---- clip: the global gradient norm (measured either way, for the log)
    max_norm = cfg.grad_clip if cfg.grad_clip is not None else float("inf")
    grad_norm = torch.nn.utils.clip_grad_norm_(state.model.parameters(), max_norm)

    # ---- step, then the weights' moving average (identical on every rank: DDP keeps the weights in step)
    state.optimizer.step()
    if state.ema is not None:
        state.ema.update_parameters(state.model)
    state.step += 1
    return {k: v.detach() for k, v in losses.items()}, grad_norm.detach()


# ----------------------------------------------------------------------------- the loop


def train(
    data_dir: str | Path,
    run_dir: str | Path,
    cfg: TrainConfig,
    dataset_version: str | None = None,
    preset: str | list[str] | None = None,
    progress: bool = False,
    clock: Callable[[], float] = time.monotonic,
    deadline: float | None = None,
) -> TrainResult:
    """Train `cfg.model` on a dataset version under DATA (or on the union of several presets'), in RUN_DIR;
    resume from RUN_DIR's last checkpoint. `clock` (seconds) measures `cfg.max_minutes`, and `deadline` (on
    `clock`) stops the run too: the time budget of a whole command (ladle_model/calibration/budget.py).
    """
    ddp = setup_distributed(cfg.device)
    try:
        return _train(data_dir, RunDir(run_dir), cfg, dataset_version, preset, progress, ddp, clock, deadline)
    finally:
        teardown_distributed(ddp)


def _train(
    data_dir: str | Path,
    run: RunDir,
    cfg: TrainConfig,
    dataset_version: str | None,
    preset: str | list[str] | None,
    progress: bool,
    ddp: Distributed,
    clock: Callable[[], float],
    deadline: float | None,
) -> TrainResult:
    """`train`'s body: setup, the epochs with their labelled stages, the end. One function, as nanoGPT's loop is:
    the stages share the state, and reading the loop top to bottom is the point."""
    t_start, out_of_time = clock(), False
    if cfg.max_minutes is not None:
        deadline = min(t_start + 60 * cfg.max_minutes, deadline if deadline is not None else float("inf"))
    # ---- setup: the datasets, the run folder, a checkpoint to resume from, phi
    ctx, ckpt = open_run(data_dir, run, cfg, dataset_version, preset, ddp)
    feature_net = prepare_feature_net(ctx)

    # ---- model, optimizer, scheduler; then the checkpoint's state on top
    state = init_state(cfg, ddp.device)
    if ckpt is not None:
        restore_state(state, ckpt, ddp, ctx.warm_start)
        log.info("resuming %s at step %d (epoch %d, batch %d)", run.root, state.step, state.epoch, state.batch_in_epoch)
    del ckpt
    start_step = state.step
    train_model = wrap_model(state.model, ddp)
    if ddp.is_main:
        # Rows past the checkpoint were written by a run that died before saving: they are redone now.
        truncate_log(run.step_log, state.step)
        truncate_log(run.epoch_log, state.step)

    def done() -> bool:
        # max_steps counts from the step this version's training began at (a warm start's; 0 otherwise)
        return state.epoch >= cfg.max_epochs or (
            cfg.max_steps is not None and state.step - ctx.start_step >= cfg.max_steps
        )

    # The validation that ends a run counts in the training's share of a time budget, so training stops early
    # enough for it: by the last validation's measured time, or before one ran, by its batches at
    # VAL_BATCH_SHARE of a training step each.
    timing = {"step": 0.0, "validation": None}
    val_batches = math.ceil(ctx.data.n_segments("val") / (cfg.batch_size * ddp.world_size))
    if cfg.eval_max_batches is not None:
        val_batches = min(val_batches, cfg.eval_max_batches)

    def budget_spent() -> bool:
        # rank 0's clock decides for all: every rank must stop at the same step, or DDP hangs
        nonlocal out_of_time
        if deadline is not None and not out_of_time:
            reserve = timing["validation"]
            if reserve is None:
                reserve = VAL_BATCH_SHARE * timing["step"] * val_batches
            out_of_time = any_rank(ddp.is_main and clock() + reserve >= deadline, ddp)
        return out_of_time

    bar = progress_bar(ctx, state.step) if progress and ddp.is_main else None
    state.model.train()
    t_last = time.perf_counter()
    while not done() and not budget_spent():
        batches = iterate_epoch(
            ctx.data.shard_paths("train"),
            cfg.batch_size,
            cfg.seed,
            state.epoch,
            ctx.crop_samples,
            cfg.shuffle_buffer,
            cfg.num_workers,
            skip_batches=state.batch_in_epoch,
            n_batches=ctx.n_batches_per_epoch,
            pin_memory=ddp.device.type == "cuda",
        )
        stopped_in_epoch = False
        for lossless, lossy in batches:
            if done() or budget_spent():
                stopped_in_epoch = True  # max_steps or the time budget reached before the epoch ran out
                break
            # ---- lr: a linear warm-up over the first warmup_steps (nanoGPT), then ReduceLROnPlateau's changes at
            # epoch ends (below)
            if state.step < cfg.warmup_steps:
                for group in state.optimizer.param_groups:
                    group["lr"] = scheduled_lr(cfg, state.step)
            lr = state.optimizer.param_groups[0]["lr"]

            # ---- forward/backward, clip, step
            t_step = clock()
            losses, grad_norm = train_step(state, train_model, lossless, lossy, feature_net, cfg, ddp.device)
            took = clock() - t_step
            timing["step"] = took if not timing["step"] else 0.9 * timing["step"] + 0.1 * took
            state.batch_in_epoch += 1
            loss_total = losses["loss/total"].item()
            state.epoch_loss_sum += loss_total
            state.last_train_loss = loss_total

            # ---- log (rank 0's own batch, as nanoGPT does: no all-reduce for a log line)
            if ddp.is_main and state.step % cfg.log_every_steps == 0:
                now = time.perf_counter()
                append_log_row(
                    run.step_log,
                    {
                        "step": state.step,
                        "epoch": state.epoch,
                        "lr": lr,
                        "grad_norm": grad_norm.item(),
                        **{k: v.item() for k, v in losses.items()},
                        "seconds": now - t_last,
                    },
                )
                t_last = now
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_total:.3g}", lr=f"{lr:.2g}", epoch=state.epoch)

            # ---- checkpoint every N steps
            if state.step % cfg.checkpoint_every_steps == 0:
                save_checkpoint(ctx, state)

        if stopped_in_epoch:
            break

        # ---- validate at the epoch end: the validation loss drives ReduceLROnPlateau and picks best.pt
        t_val = clock()
        metrics, train_loss, improved = validate_and_log(ctx, state, feature_net, complete=True)
        timing["validation"] = clock() - t_val
        state.epoch += 1
        state.batch_in_epoch = 0
        state.epoch_loss_sum = 0.0
        state.last_eval_step = state.step
        save_checkpoint(ctx, state, best=improved)
        if ddp.is_main:
            plot_loss_curves(run)
            log.info(
                "epoch %d done at step %d: train %s, val %s",
                state.epoch - 1,
                state.step,
                format_loss(train_loss),
                format_loss(metrics.get("val/loss/total")),
            )

    # ---- end (max_steps or the budget inside an epoch): validate for the record, without touching the scheduler
    if state.last_eval_step != state.step:
        _, _, improved = validate_and_log(ctx, state, feature_net, complete=False)
        state.last_eval_step = state.step
        save_checkpoint(ctx, state, best=improved)
    if ddp.is_main:
        plot_loss_curves(run)
    if bar is not None:
        bar.close()
    stopped_by = "max_minutes" if out_of_time else "max_epochs" if state.epoch >= cfg.max_epochs else "max_steps"
    return TrainResult(
        state.step,
        state.epoch,
        state.last_train_loss,
        state.best_val_loss,
        str(run.last),
        str(run.root),
        ctx.data.version,
        ctx.data.presets,
        start_step,
        stopped_by,
        list(ctx.history or []),
        ctx.warm_start,
    )


def scheduled_lr(cfg: TrainConfig, step: int) -> float:
    """The lr of optimizer step `step` during the linear warm-up over cfg.warmup_steps (cfg.lr after it)."""
    return cfg.lr * (min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0)


def planned_steps(ctx: RunContext) -> int:
    """The steps the run will have taken at its end by max_steps and max_epochs (an estimate with several loader workers)."""
    cfg = ctx.cfg
    n_steps_per_epoch = ctx.n_batches_per_epoch or math.ceil(ctx.data.n_segments("train") / cfg.batch_size)
    return ctx.start_step + min(cfg.max_steps or 2**62, cfg.max_epochs * n_steps_per_epoch)


def progress_bar(ctx: RunContext, initial_step: int):
    """A tqdm bar over the steps this run will take in total."""
    from tqdm.auto import tqdm

    total_steps = planned_steps(ctx)
    return tqdm(total=total_steps, initial=min(initial_step, total_steps), unit="step", dynamic_ncols=True)
