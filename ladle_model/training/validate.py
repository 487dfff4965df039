"""Validation during training: every loss term's mean over the val split, an epoch-log row, and whether best.pt improves.

    metrics, train_loss, improved = validate_and_log(ctx, state, feature_net, complete=True)

The loop (ladle_model/training/loop.py) calls it at each epoch's end and once where a run stops mid-epoch.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ladle_model.data.loader import make_loader
from ladle_model.losses.perceptual import FeatureNet, LossConfig
from ladle_model.losses.spectral import SpectralLossConfig, training_losses
from ladle_model.reports.training import append_log_row
from ladle_model.training.config import TrainConfig
from ladle_model.training.distributed import Distributed, autocast_context, mean_over_ranks, sum_over_ranks
from ladle_model.training.state import RunContext, TrainState


def validation_keys(loss_cfg: LossConfig, spectral_cfg: SpectralLossConfig | None = None) -> list[str]:
    """The keys `validate` reports: training_losses reports a term exactly when its lambda is > 0."""
    terms = ["loss/total", "loss/mse"]
    terms += ["loss/perceptual"] if loss_cfg.lambda_perc > 0 else []
    terms += ["loss/stft"] if loss_cfg.lambda_stft > 0 else []
    terms += spectral_cfg.keys() if spectral_cfg is not None else []
    return [f"val/{t}" for t in terms] + ["val/mse_lossy_input"]


@torch.no_grad()
def validate(
    model: nn.Module,
    val_shards: list,
    cfg: TrainConfig,
    crop_samples: int | None,
    feature_net: FeatureNet | None,
    ddp: Distributed,
) -> dict[str, float]:
    """Mean of every loss term over the validation split ("val/loss/total", ...), plus the MSE of the
    untouched lossy input ("val/mse_lossy_input"), the baseline the model must beat (docs/design.md).

    Each rank validates on its share of the shards; sums are all-reduced. Call with the bare model.
    """
    model.eval()
    sums: dict[str, float] = {}
    n_examples = 0
    loader = make_loader(
        val_shards, cfg.batch_size, train=False, crop_samples=crop_samples, num_workers=cfg.num_workers
    )
    for i, (lossless, lossy) in enumerate(loader):
        if cfg.eval_max_batches is not None and i >= cfg.eval_max_batches:
            break
        lossless, lossy = lossless.to(ddp.device), lossy.to(ddp.device)  # (B, 2, L)
        with autocast_context(ddp.device, cfg.precision):
            pred = model(lossy)  # (B, 2, L)
        losses = training_losses(pred.float(), lossless, lossy, feature_net, cfg.loss, cfg.spectral)
        losses["mse_lossy_input"] = F.mse_loss(lossy, lossless)
        b = lossless.shape[0]
        for k, v in losses.items():
            sums[f"val/{k}"] = sums.get(f"val/{k}", 0.0) + v.item() * b
        n_examples += b
    model.train()
    keys = validation_keys(cfg.loss, cfg.spectral)
    totals = sum_over_ranks([sums.get(k, 0.0) for k in keys] + [float(n_examples)], ddp)
    n_examples = int(totals[-1])
    if n_examples == 0:
        return {}
    return {k: total / n_examples for k, total in zip(keys, totals[:-1])}


def validate_and_log(
    ctx: RunContext, state: TrainState, feature_net: FeatureNet | None, complete: bool
) -> tuple[dict, float, bool]:
    """Validation losses and the mean train loss so far, one epoch-log row, and whether best.pt improves.

    What is validated is the model a checkpoint serves: the weights' moving average when the run keeps one.

    `complete`: the epoch ran to its end, so the plateau scheduler steps on the validation loss (or the
    train loss without a val split). A run stopped mid-epoch
    (max_steps, the time budget) is validated for the record only.
    """
    val_shards = ctx.data.shard_paths("val")
    metrics = (
        validate(state.served_model, val_shards, ctx.cfg, ctx.crop_samples, feature_net, ctx.ddp) if val_shards else {}
    )
    train_loss = mean_over_ranks(state.epoch_loss_sum, state.batch_in_epoch, ctx.ddp)
    if complete:
        state.scheduler.step(metrics.get("val/loss/total", train_loss))
    improved = "val/loss/total" in metrics and (
        state.best_val_loss is None or metrics["val/loss/total"] < state.best_val_loss
    )
    if improved:
        state.best_val_loss = metrics["val/loss/total"]
    if ctx.ddp.is_main:
        append_log_row(
            ctx.run.epoch_log,
            {
                "epoch": state.epoch,
                "step": state.step,
                "complete": int(complete),
                "train/loss/total": train_loss,
                "lr": state.optimizer.param_groups[0]["lr"],
                **metrics,
            },
        )
    return metrics, train_loss, improved
