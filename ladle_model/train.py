"""Train a restoration model on a dataset version's shards: one visible loop, resumable, DDP-ready.

    cfg = TrainConfig.from_dict({"model": "ladle", "model_overrides": {"stride": 4}, "max_steps": 1000})
    result = train("data", "runs/ladle-s4", cfg, preset="vorbis-160", progress=True)

Several GPUs (WORLD_SIZE > 1 starts DDP; rank 0 alone writes checkpoints and logs):

    torchrun --nproc-per-node 4 -m ladle_model.train data runs/ladle-ddp --config '{"model_overrides": {"stride": 4}}'

The run folder holds everything the run made:

    RUN_DIR/feature_net.pt (+ .json)     phi for the perceptual loss, pre-trained on the train split
    RUN_DIR/checkpoints/step-00001000.pt every `checkpoint_every_steps` and at each epoch end
    RUN_DIR/checkpoints/last.pt          the newest of them; a re-run resumes from it
    RUN_DIR/checkpoints/best.pt          lowest validation loss at an epoch end
    RUN_DIR/log_steps.csv                per step: lr, grad norm, every loss term
    RUN_DIR/log_epochs.csv               per epoch: mean train loss, validation losses, lr
    RUN_DIR/loss_curve.png

A checkpoint holds the model, optimizer, scheduler, step/epoch/batch counters, the RNG states of
every rank, the resolved configs (TrainConfig and the model's), the dataset version and the code
version, and loads with `torch.load(path, weights_only=True)`. Because an epoch's batches are a
function of (seed, epoch) (ladle_model/data.py), a resumed run replays the epoch, skips the batches
it already trained on and ends with the same weights as a run that was never interrupted.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from ladle_model.data import infinite_batches, iterate_epoch, make_loader, seconds_to_samples
from ladle_model.losses import FeatureNet, FeatureNetConfig, LossConfig, compute_losses, load_feature_net, pretrain_feature_net, save_feature_net
from ladle_model.models import build_model, model_config_dict
from storage.atomic import atomic_path, write_json_atomic
from storage.config import ConfigError, code_version, config_from_dict
from storage.manifest import DatasetManifest, find_dataset, list_datasets

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "ladle-checkpoint/1"
STEP_LOG = "log_steps.csv"
EPOCH_LOG = "log_epochs.csv"
LOSS_CURVE = "loss_curve.png"
FEATURE_NET = "feature_net.pt"
FEATURE_NET_KEY = "feature_net.json"
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")


# ----------------------------------------------------------------------------- config


@dataclass
class TrainConfig:
    """Everything that decides a training run. Defaults follow the LadLe paper where it says."""

    # model: a name from ladle_model.models and overrides of its config dataclass
    model: str = "ladle"
    model_overrides: dict = field(default_factory=dict)
    # optimisation, LadLe paper: Adam, lr 1e-4, weight decay 1e-5, batch 4, at most 20 epochs,
    # ReduceLROnPlateau on the validation loss with factor 0.5 and patience 5
    lr: float = 1e-4
    weight_decay: float = 1e-5
    batch_size: int = 4
    max_epochs: int = 20
    max_steps: int | None = None  # a cap on optimizer steps across epochs (None: epochs decide)
    plateau_factor: float = 0.5
    plateau_patience: int = 5
    grad_clip: float | None = 1.0  # max global grad norm; not in the paper (nanoGPT's default); None = off
    # data
    segment_seconds: float | None = None  # random crop shorter than the shards' segments (None: whole segments)
    shuffle_buffer: int = 256  # samples per worker; 256 one-second stereo pairs are ~180 MB
    num_workers: int = 2
    eval_max_batches: int | None = None  # cap on validation batches per evaluation (None: the whole val split)
    # loss: LossConfig terms and phi, the feature net of the perceptual term, pre-trained on the train split
    loss: LossConfig = field(default_factory=LossConfig)
    feature_net: FeatureNetConfig = field(default_factory=FeatureNetConfig)
    feature_net_steps: int = 500
    feature_net_lr: float = 1e-3
    # bookkeeping
    seed: int = 0
    checkpoint_every_steps: int = 1000
    log_every_steps: int = 1
    device: str = "auto"  # "auto": CUDA when present, else CPU
    precision: str = "auto"  # "auto": bf16 autocast on CUDA, fp32 on CPU

    def __post_init__(self) -> None:
        if not isinstance(self.model_overrides, dict):
            raise ConfigError(f"TrainConfig.model_overrides: expected a mapping, got {type(self.model_overrides).__name__}")
        positive = {"batch_size": self.batch_size, "max_epochs": self.max_epochs, "checkpoint_every_steps": self.checkpoint_every_steps,
                    "log_every_steps": self.log_every_steps, "shuffle_buffer": self.shuffle_buffer, "lr": self.lr}
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"TrainConfig.{name} must be > 0, got {value}")
        for name in ("max_steps", "eval_max_batches", "grad_clip", "segment_seconds"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"TrainConfig.{name} must be > 0 or None, got {value}")
        if self.num_workers < 0 or self.feature_net_steps < 0 or self.weight_decay < 0 or self.plateau_patience < 0:
            raise ConfigError("num_workers, feature_net_steps, weight_decay and plateau_patience must be >= 0")
        if not 0 < self.plateau_factor < 1:
            raise ConfigError(f"TrainConfig.plateau_factor must be in (0, 1), got {self.plateau_factor}")
        if self.device not in DEVICES:
            raise ConfigError(f"TrainConfig.device must be one of {DEVICES}, got {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"TrainConfig.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.loss.lambda_perc > 0 and self.feature_net_steps == 0:
            raise ConfigError("loss.lambda_perc > 0 needs feature_net_steps > 0 (phi must be pre-trained)")
        model_config_dict(self.model, **self.model_overrides)  # unknown model, key or type: ValueError now, not mid-run

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Build from plain data (JSON, CLI); unknown keys and wrong types are errors."""
        return config_from_dict(cls, d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def model_config(self) -> dict:
        """The model's resolved config (every field, defaults included)."""
        return model_config_dict(self.model, **self.model_overrides)


def train_config_from_args(
    model: str = "ladle",
    epochs: int = 20,
    max_steps: int | None = None,
    batch_size: int = 4,
    segment_seconds: float | None = None,
    overrides: dict | None = None,
) -> TrainConfig:
    """TrainConfig from the flow's/CLI's named options, then `overrides` (any TrainConfig key) on top."""
    d = {"model": model, "max_epochs": epochs, "max_steps": max_steps, "batch_size": batch_size, "segment_seconds": segment_seconds}
    return TrainConfig.from_dict({**d, **(overrides or {})})


@dataclass
class TrainResult:
    step: int  # optimizer steps taken in the run so far
    epochs: int  # epochs completed
    last_train_loss: float | None  # "loss/total" of the last step
    best_val_loss: float | None  # lowest validation "loss/total" seen
    checkpoint: str  # RUN_DIR/checkpoints/last.pt
    run_dir: str
    dataset_version: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- environment


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False  # we started the process group, so we end it

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_pref: str) -> Distributed:
    """One process (WORLD_SIZE unset or 1), or one rank of a torchrun job: nccl on CUDA, gloo on CPU."""
    use_cuda = device_pref != "cpu" and torch.cuda.is_available()
    if device_pref == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' asked for but no CUDA device is visible")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed(device=torch.device("cuda") if use_cuda else torch.device("cpu"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    owns = not dist.is_initialized()
    if owns:
        # A long timeout: rank 0 pre-trains the feature net while the others wait at a barrier.
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=datetime.timedelta(hours=2))
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    return Distributed(dist.get_rank(), dist.get_world_size(), local_rank, device, owns)


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA ("auto"/"bf16"), nothing on CPU: bf16 matmuls on CPU are slow, not fast."""
    use_bf16 = device.type == "cuda" and precision in ("auto", "bf16") and torch.cuda.is_bf16_supported()
    return torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()


def resolve_dataset(data_dir: str | Path, version: str | None, preset: str | None, segment_seconds: float | None = None) -> DatasetManifest:
    """The dataset to train on. Several match: the one whose segments already have `segment_seconds`."""
    try:
        return find_dataset(data_dir, version=version, preset=preset)
    except ValueError:
        if segment_seconds is None:
            raise
        matches = [m for m in list_datasets(data_dir) if (preset is None or m.preset == preset) and m.segment_seconds == segment_seconds]
        if len(matches) != 1:
            raise
        return matches[0]


def resolve_run_dataset(data_dir: str | Path, run_dir: str | Path, cfg: TrainConfig, version: str | None = None,
                        preset: str | None = None) -> DatasetManifest:
    """`resolve_dataset`, except that a run folder with a checkpoint and no version/preset asked keeps its own dataset."""
    last = Path(run_dir) / "checkpoints" / "last.pt"
    if version is None and preset is None and last.is_file():
        version = load_checkpoint(last)["dataset_version"]
    return resolve_dataset(data_dir, version, preset, cfg.segment_seconds)


def segment_samples(manifest: DatasetManifest) -> int:
    return round(manifest.segment_seconds * manifest.sample_rate)


# ----------------------------------------------------------------------------- feature net (cached step)


def feature_net_cache_key(manifest: DatasetManifest, cfg: TrainConfig) -> dict:
    """What phi depends on: the dataset version and the config of its pre-training."""
    return {
        "dataset_version": manifest.version,
        "feature_net": dataclasses.asdict(cfg.feature_net),
        "steps": cfg.feature_net_steps,
        "lr": cfg.feature_net_lr,
        "seed": cfg.seed,
        "batch_size": cfg.batch_size,
        "crop_samples": seconds_to_samples(cfg.segment_seconds, manifest.sample_rate, segment_samples(manifest)),
    }


def feature_net_cached(run_dir: str | Path, key: dict) -> bool:
    """Is RUN_DIR/feature_net.pt complete and made under `key`?"""
    run_dir = Path(run_dir)
    key_path = run_dir / FEATURE_NET_KEY
    return (run_dir / FEATURE_NET).is_file() and key_path.is_file() and _canonical(json.loads(key_path.read_text())) == _canonical(key)


def ensure_feature_net(run_dir: str | Path, manifest: DatasetManifest, cfg: TrainConfig,
                       device: torch.device | str = "cpu") -> Path | None:
    """RUN_DIR/feature_net.pt pre-trained on the train split (on `device`), reused when its cache key matches.

    None when the loss has no perceptual term. The key file is written after the weights, so a
    key on disk means finished weights.
    """
    if cfg.loss.lambda_perc <= 0:
        return None
    run_dir = Path(run_dir)
    path, key_path = run_dir / FEATURE_NET, run_dir / FEATURE_NET_KEY
    key = feature_net_cache_key(manifest, cfg)
    if feature_net_cached(run_dir, key):
        return path
    batches = infinite_batches(manifest.shard_paths("train"), cfg.batch_size, seed=cfg.seed, crop_samples=key["crop_samples"],
                               shuffle_buffer=cfg.shuffle_buffer, num_workers=cfg.num_workers)
    on_device = ((lossless.to(device), lossy.to(device)) for lossless, lossy in batches)  # phi trains where its batches are
    net = pretrain_feature_net(on_device, steps=cfg.feature_net_steps, seed=cfg.seed, lr=cfg.feature_net_lr, config=cfg.feature_net)
    on_device.close()
    batches.close()  # stops the loader's workers
    save_feature_net(net, path)
    write_json_atomic(key_path, key)
    return path


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


@dataclass
class RunContext:
    """What stays fixed during one call of `train`: where, what, on which ranks."""

    run_dir: Path
    cfg: TrainConfig
    manifest: DatasetManifest
    ddp: Distributed
    feature_key: dict | None  # phi's cache key; None without a perceptual term
    code_version: str


def capture_rng_state() -> dict:
    """torch (+CUDA), numpy and python RNG states as tensors and plain lists (weights_only-loadable)."""
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
        "numpy": {"name": np_name, "keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(np_pos),
                  "has_gauss": int(np_has_gauss), "cached_gaussian": float(np_gauss)},
        "python": {"version": py_version, "internal": list(py_internal), "gauss_next": py_gauss},
    }


def restore_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    if s["cuda"] and torch.cuda.is_available() and len(s["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(s["cuda"])
    n = s["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = s["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))


def checkpoint_payload(ctx: RunContext, state: TrainState, rng_states: list[dict]) -> dict:
    manifest = ctx.manifest
    return {
        "format": CHECKPOINT_FORMAT,
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "step": state.step,
        "epoch": state.epoch,
        "batch_in_epoch": state.batch_in_epoch,
        "epoch_loss_sum": state.epoch_loss_sum,
        "best_val_loss": state.best_val_loss,
        "last_train_loss": state.last_train_loss,
        "last_eval_step": state.last_eval_step,
        "rng": rng_states,  # one per rank
        "model_name": ctx.cfg.model,
        "config": {"train": ctx.cfg.to_dict(), "model": ctx.cfg.model_config()},
        "dataset_version": manifest.version,
        "dataset": {k: getattr(manifest, k) for k in ("preset", "strategy", "segment_seconds", "hop_seconds", "sample_rate", "lossy_sample_rate")},
        "feature_net": ctx.feature_key,
        "code_version": ctx.code_version,
    }


def save_checkpoint(ctx: RunContext, state: TrainState, best: bool = False) -> Path:
    """RUN_DIR/checkpoints/step-{step}.pt and last.pt (and best.pt), each written atomically by rank 0.

    Every rank must call it: the RNG states of all ranks are gathered into the checkpoint.
    """
    rng_states = [capture_rng_state()]
    if ctx.ddp.world_size > 1:
        rng_states = [None] * ctx.ddp.world_size
        dist.all_gather_object(rng_states, capture_rng_state())
    folder = ctx.run_dir / "checkpoints"
    if ctx.ddp.is_main:
        payload = checkpoint_payload(ctx, state, rng_states)
        for name in [f"step-{state.step:08d}.pt", "last.pt"] + (["best.pt"] if best else []):
            with atomic_path(folder / name) as tmp:
                torch.save(payload, tmp)
    return folder / "last.pt"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a LadLe training checkpoint (format {ckpt.get('format')!r})")
    return ckpt


def _canonical(obj: object) -> str:
    """JSON text of plain data, so a dict read back from JSON (lists) equals one with tuples."""
    return json.dumps(obj, sort_keys=True, default=str)


def check_resumable(ckpt: dict, cfg: TrainConfig, manifest: DatasetManifest, feature_key: dict | None, run_dir: Path) -> None:
    """Refuse to continue a run folder with another model, model config, dataset or feature net."""
    where = f"run folder {run_dir} holds a checkpoint at step {ckpt['step']}"
    if ckpt["model_name"] != cfg.model or _canonical(ckpt["config"]["model"]) != _canonical(cfg.model_config()):
        raise ValueError(f"{where} of model {ckpt['model_name']!r} {ckpt['config']['model']}, not {cfg.model!r} {cfg.model_config()}; "
                         "use another run folder")
    if ckpt["dataset_version"] != manifest.version:
        raise ValueError(f"{where} trained on dataset {ckpt['dataset_version']!r}, not {manifest.version!r}; use another run folder")
    if _canonical(ckpt["feature_net"]) != _canonical(feature_key):
        raise ValueError(f"{where} with feature net {ckpt['feature_net']}, not {feature_key}: the perceptual loss would change mid-run")


def restore_state(state: TrainState, ckpt: dict, ddp: Distributed) -> None:
    state.model.load_state_dict(ckpt["model"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    state.scheduler.load_state_dict(ckpt["scheduler"])
    for name in ("step", "epoch", "batch_in_epoch", "epoch_loss_sum", "best_val_loss", "last_train_loss", "last_eval_step"):
        setattr(state, name, ckpt[name])
    rng = ckpt["rng"]
    # Same world size: each rank gets its own stream back. Otherwise ranks reuse the saved ones.
    restore_rng_state(rng[ddp.rank % len(rng)])


def init_state(cfg: TrainConfig, device: torch.device | str = "cpu") -> TrainState:
    """Seeded model (the same initial weights on every rank), Adam and ReduceLROnPlateau, at step 0."""
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    random.seed(cfg.seed)
    model = build_model(cfg.model, **cfg.model_overrides).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience)
    return TrainState(model, optimizer, scheduler)


def train_step(state: TrainState, train_model: nn.Module, lossless: torch.Tensor, lossy: torch.Tensor,
               feature_net: FeatureNet | None, cfg: TrainConfig, device: torch.device | str = "cpu") -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One optimizer step on a (lossless, lossy) batch; returns the detached loss terms and the grad norm.

    `train_model` is `state.model` or its DDP wrapper (whose backward all-reduces the gradients).
    """
    device = torch.device(device)
    # ---- forward/backward: the model under bf16 autocast on CUDA, the losses in float32
    lossless = lossless.to(device, non_blocking=True)  # (B, 2, L) target
    lossy = lossy.to(device, non_blocking=True)  # (B, 2, L) input
    with autocast_context(device, cfg.precision):
        pred = train_model(lossy)  # (B, 2, L)
    losses = compute_losses(pred.float(), lossless, feature_net, cfg.loss)
    state.optimizer.zero_grad(set_to_none=True)
    losses["loss/total"].backward()

    # ---- clip: the global gradient norm (measured either way, for the log)
    max_norm = cfg.grad_clip if cfg.grad_clip is not None else float("inf")
    grad_norm = torch.nn.utils.clip_grad_norm_(state.model.parameters(), max_norm)

    # ---- step
    state.optimizer.step()
    state.step += 1
    return {k: v.detach() for k, v in losses.items()}, grad_norm.detach()


# ----------------------------------------------------------------------------- logs and plot


def append_log_row(path: Path, row: dict) -> None:
    """Append one CSV row; the header is written with the first row and kept after."""
    fieldnames = list(row)
    exists = path.is_file() and path.stat().st_size > 0
    if exists:
        with open(path, newline="") as f:
            fieldnames = next(csv.reader(f), fieldnames)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames, extrasaction="ignore", restval="")
        if not exists:
            writer.writeheader()
        writer.writerow(row)


def truncate_log(path: Path, max_step: int) -> None:
    """Keep only rows with step <= max_step (and well-formed): steps redone after a resume are not duplicated."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fieldnames = reader.fieldnames or []
        rows = []
        for row in reader:
            try:
                keep = None not in row.values() and int(row["step"]) <= max_step  # a torn last line has missing fields
            except (TypeError, ValueError):
                keep = False
            if keep:
                rows.append(row)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)


def read_log(path: str | Path) -> list[dict]:
    """Rows of a CSV log with numbers as floats (empty cells as None)."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _number(v: str | None) -> float | str | None:
    if v is None or v == "":
        return None
    try:
        return float(v)
    except ValueError:
        return v


def plot_loss_curves(run_dir: str | Path) -> Path:
    """RUN_DIR/loss_curve.png: train loss per step and validation loss per evaluation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    steps, epochs = read_log(run_dir / STEP_LOG), read_log(run_dir / EPOCH_LOG)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if steps:
        x = [r["step"] for r in steps]
        y = [r["loss/total"] for r in steps]
        ax.plot(x, y, lw=0.8, alpha=0.5, label="train loss/total")
        if len(y) >= 20:  # a running mean shows the trend under the per-step noise
            w = max(len(y) // 20, 2)
            ax.plot(x[w - 1:], np.convolve(y, np.ones(w) / w, mode="valid"), lw=1.5, label=f"train (mean of {w})")
    val = [r for r in epochs if r.get("val/loss/total") is not None]
    if val:
        ax.plot([r["step"] for r in val], [r["val/loss/total"] for r in val], "o-", label="val loss/total")
        lossy = [r for r in val if r.get("val/mse_lossy_input") is not None]
        if lossy:
            ax.axhline(lossy[-1]["val/mse_lossy_input"], color="gray", ls="--", lw=1, label="val MSE of the lossy input")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if all(r["loss/total"] > 0 for r in steps) and steps:
        ax.set_yscale("log")
    ax.set_title(run_dir.name)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = run_dir / LOSS_CURVE
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


def epoch_table(run_dir: str | Path) -> list[dict]:
    """The per-epoch log as rows of plain numbers (NaN as None), for a report table."""
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
            for row in read_log(Path(run_dir) / EPOCH_LOG)]


def report_markdown(run_dir: str | Path, result: dict) -> str:
    """A short Markdown report of a run with the loss curve embedded (a data: URI: the UI has no file access)."""
    import base64

    run_dir = Path(run_dir)
    lines = [f"# Training run `{run_dir.name}`", "",
             f"- dataset version: `{result.get('dataset_version')}`",
             f"- steps: {result.get('step')}, epochs completed: {result.get('epochs')}",
             f"- last train loss: {result.get('last_train_loss')}",
             f"- best validation loss: {result.get('best_val_loss')}",
             f"- checkpoint: `{result.get('checkpoint')}`", ""]
    rows = epoch_table(run_dir)
    if rows and rows[-1].get("val/mse_lossy_input") is not None:
        lines += [f"Validation MSE of the untouched lossy input (the baseline to beat): {rows[-1]['val/mse_lossy_input']:.4g}", ""]
    png = run_dir / LOSS_CURVE
    if png.is_file():
        lines += [f"![loss curve](data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()})", "", f"`{png}`"]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- evaluation


def validation_keys(loss_cfg: LossConfig) -> list[str]:
    """The keys `evaluate` reports: compute_losses reports a term exactly when its lambda is > 0."""
    terms = ["loss/total", "loss/mse"]
    terms += ["loss/perceptual"] if loss_cfg.lambda_perc > 0 else []
    terms += ["loss/stft"] if loss_cfg.lambda_stft > 0 else []
    return [f"val/{t}" for t in terms] + ["val/mse_lossy_input"]


@torch.no_grad()
def evaluate(model: nn.Module, val_shards: list, cfg: TrainConfig, crop_samples: int | None, feature_net: FeatureNet | None,
             ddp: Distributed) -> dict[str, float]:
    """Mean of every loss term over the validation split ("val/loss/total", ...), plus the MSE of the
    untouched lossy input ("val/mse_lossy_input"), the baseline the model must beat (DESIGN.md).

    Each rank evaluates its share of the shards; sums are all-reduced. Call with the bare model.
    """
    model.eval()
    sums: dict[str, float] = {}
    n_examples = 0
    loader = make_loader(val_shards, cfg.batch_size, train=False, crop_samples=crop_samples, num_workers=cfg.num_workers)
    for i, (lossless, lossy) in enumerate(loader):
        if cfg.eval_max_batches is not None and i >= cfg.eval_max_batches:
            break
        lossless, lossy = lossless.to(ddp.device), lossy.to(ddp.device)  # (B, 2, L)
        with autocast_context(ddp.device, cfg.precision):
            pred = model(lossy)  # (B, 2, L)
        losses = compute_losses(pred.float(), lossless, feature_net, cfg.loss)
        losses["mse_lossy_input"] = F.mse_loss(lossy, lossless)
        b = lossless.shape[0]
        for k, v in losses.items():
            sums[f"val/{k}"] = sums.get(f"val/{k}", 0.0) + v.item() * b
        n_examples += b
    model.train()
    keys = validation_keys(cfg.loss)
    if ddp.world_size > 1:
        totals = torch.tensor([sums.get(k, 0.0) for k in keys] + [float(n_examples)], dtype=torch.float64, device=ddp.device)
        dist.all_reduce(totals)
        n_examples = int(totals[-1].item())
        sums = dict(zip(keys, totals[:-1].tolist()))
    if n_examples == 0:
        return {}
    return {k: sums.get(k, 0.0) / n_examples for k in keys}


# ----------------------------------------------------------------------------- the loop


def train(
    data_dir: str | Path,
    run_dir: str | Path,
    cfg: TrainConfig,
    dataset_version: str | None = None,
    preset: str | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train `cfg.model` on a dataset version under DATA, in RUN_DIR; resume from RUN_DIR's last checkpoint."""
    run_dir = Path(run_dir)
    ddp = setup_distributed(cfg.device)
    try:
        return _train(data_dir, run_dir, cfg, dataset_version, preset, progress, ddp)
    finally:
        if ddp.owns_group:
            dist.destroy_process_group()


def _train(data_dir: str | Path, run_dir: Path, cfg: TrainConfig, dataset_version: str | None, preset: str | None,
           progress: bool, ddp: Distributed) -> TrainResult:
    # ---- setup: the dataset, the run folder, a checkpoint to resume from
    last_path = run_dir / "checkpoints" / "last.pt"
    ckpt = load_checkpoint(last_path, map_location="cpu") if last_path.is_file() else None
    if ckpt is not None and dataset_version is None and preset is None:
        dataset_version = ckpt["dataset_version"]  # a bare re-run continues on the run's own dataset
    manifest = resolve_dataset(data_dir, dataset_version, preset, cfg.segment_seconds)
    crop_samples = seconds_to_samples(cfg.segment_seconds, manifest.sample_rate, segment_samples(manifest))
    train_shards, val_shards = manifest.shard_paths("train"), manifest.shard_paths("val")
    n_train_segments = manifest.splits["train"].segments if "train" in manifest.splits else 0
    if not train_shards or n_train_segments == 0:
        raise ValueError(f"dataset {manifest.version} has no training segments")
    if ddp.world_size > 1 and len(train_shards) < ddp.world_size:
        raise ValueError(f"dataset {manifest.version} has {len(train_shards)} train shards for {ddp.world_size} ranks; "
                         "every rank needs at least one (build the corpus with smaller shards)")
    # DDP: every rank takes the same number of steps per epoch, or the gradient all-reduce hangs.
    n_batches_per_epoch = max(n_train_segments // (cfg.batch_size * ddp.world_size), 1) if ddp.world_size > 1 else None
    feature_key = feature_net_cache_key(manifest, cfg) if cfg.loss.lambda_perc > 0 else None
    if ckpt is not None:
        check_resumable(ckpt, cfg, manifest, feature_key, run_dir)
    ctx = RunContext(run_dir, cfg, manifest, ddp, feature_key, code_version())
    if ddp.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(run_dir / "config.json", {"train": cfg.to_dict(), "model": cfg.model_config(), "dataset_version": manifest.version})

    # ---- feature net phi: pre-trained once on rank 0 (cached in the run folder), loaded by all
    if ddp.is_main:
        ensure_feature_net(run_dir, manifest, cfg, ddp.device)
    if ddp.world_size > 1:
        dist.barrier()
    feature_net = load_feature_net(run_dir / FEATURE_NET, map_location=ddp.device) if feature_key else None

    # ---- model, optimizer, scheduler; then the checkpoint's state on top
    state = init_state(cfg, ddp.device)
    model = state.model
    if ckpt is not None:
        restore_state(state, ckpt, ddp)
        log.info("resuming %s at step %d (epoch %d, batch %d)", run_dir, state.step, state.epoch, state.batch_in_epoch)
    del ckpt
    if ddp.device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    train_model = DDP(model, device_ids=[ddp.local_rank] if ddp.device.type == "cuda" else None) if ddp.world_size > 1 else model
    if ddp.is_main:
        # Rows past the checkpoint were written by a run that died before saving: they are redone now.
        truncate_log(run_dir / STEP_LOG, state.step)
        truncate_log(run_dir / EPOCH_LOG, state.step)

    def done() -> bool:
        return state.epoch >= cfg.max_epochs or (cfg.max_steps is not None and state.step >= cfg.max_steps)

    n_steps_per_epoch = n_batches_per_epoch or math.ceil(n_train_segments / cfg.batch_size)  # estimate with several workers
    total_steps = min(cfg.max_steps or 2**62, cfg.max_epochs * n_steps_per_epoch)
    bar = None
    if progress and ddp.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=min(state.step, total_steps), unit="step", dynamic_ncols=True)
    model.train()
    t_last = time.perf_counter()
    while not done():
        batches = iterate_epoch(train_shards, cfg.batch_size, cfg.seed, state.epoch, crop_samples, cfg.shuffle_buffer,
                                cfg.num_workers, skip_batches=state.batch_in_epoch, n_batches=n_batches_per_epoch,
                                pin_memory=ddp.device.type == "cuda")
        stopped_in_epoch = False
        for lossless, lossy in batches:
            if done():
                stopped_in_epoch = True  # max_steps reached before the epoch ran out
                break
            # ---- lr: ReduceLROnPlateau changes it at epoch ends only (below); here it is read for the log
            lr = state.optimizer.param_groups[0]["lr"]

            # ---- forward/backward, clip, step
            losses, grad_norm = train_step(state, train_model, lossless, lossy, feature_net, cfg, ddp.device)
            state.batch_in_epoch += 1
            loss_total = losses["loss/total"].item()
            state.epoch_loss_sum += loss_total
            state.last_train_loss = loss_total

            # ---- log (rank 0's own batch, as nanoGPT does: no all-reduce for a log line)
            if ddp.is_main and state.step % cfg.log_every_steps == 0:
                now = time.perf_counter()
                row = {"step": state.step, "epoch": state.epoch, "lr": lr, "grad_norm": grad_norm.item(),
                       **{k: v.item() for k, v in losses.items()}, "seconds": now - t_last}
                append_log_row(run_dir / STEP_LOG, row)
                t_last = now
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_total:.3g}", lr=f"{lr:.2g}", epoch=state.epoch)

            # ---- checkpoint every N steps
            if state.step % cfg.checkpoint_every_steps == 0:
                save_checkpoint(ctx, state)

        if stopped_in_epoch:
            break

        # ---- eval at the epoch end: the validation loss drives ReduceLROnPlateau and picks best.pt
        metrics, train_loss, improved = evaluate_and_log(model, val_shards, cfg, crop_samples, feature_net, ddp, state,
                                                         run_dir, complete=True)
        state.epoch += 1
        state.batch_in_epoch = 0
        state.epoch_loss_sum = 0.0
        state.last_eval_step = state.step
        save_checkpoint(ctx, state, best=improved)
        if ddp.is_main:
            plot_loss_curves(run_dir)
            log.info("epoch %d done at step %d: train %.4g, val %s", state.epoch - 1, state.step, train_loss, metrics.get("val/loss/total"))

    # ---- end (max_steps inside an epoch): evaluate for the record, without touching the scheduler
    if state.last_eval_step != state.step:
        _, _, improved = evaluate_and_log(model, val_shards, cfg, crop_samples, feature_net, ddp, state, run_dir, complete=False)
        state.last_eval_step = state.step
        save_checkpoint(ctx, state, best=improved)
    if ddp.is_main:
        plot_loss_curves(run_dir)
    if bar is not None:
        bar.close()
    return TrainResult(state.step, state.epoch, state.last_train_loss, state.best_val_loss, str(last_path), str(run_dir), manifest.version)


def evaluate_and_log(model: nn.Module, val_shards: list, cfg: TrainConfig, crop_samples: int | None,
                     feature_net: FeatureNet | None, ddp: Distributed, state: TrainState, run_dir: Path,
                     complete: bool) -> tuple[dict, float, bool]:
    """Validation losses and the mean train loss so far, one epoch-log row, and whether best.pt improves.

    `complete`: the epoch ran to its end, so the scheduler steps on the validation loss (or the train
    loss without a val split). A run stopped by max_steps mid-epoch is evaluated for the record only.
    """
    metrics = evaluate(model, val_shards, cfg, crop_samples, feature_net, ddp) if val_shards else {}
    train_loss = _mean_over_ranks(state.epoch_loss_sum, state.batch_in_epoch, ddp)
    if complete:
        state.scheduler.step(metrics.get("val/loss/total", train_loss))
    improved = "val/loss/total" in metrics and (state.best_val_loss is None or metrics["val/loss/total"] < state.best_val_loss)
    if improved:
        state.best_val_loss = metrics["val/loss/total"]
    if ddp.is_main:
        append_log_row(run_dir / EPOCH_LOG, {"epoch": state.epoch, "step": state.step, "complete": int(complete),
                                             "train/loss/total": train_loss, "lr": state.optimizer.param_groups[0]["lr"], **metrics})
    return metrics, train_loss, improved


def _mean_over_ranks(total: float, count: int, ddp: Distributed) -> float:
    if ddp.world_size > 1:
        t = torch.tensor([total, float(count)], dtype=torch.float64, device=ddp.device)
        dist.all_reduce(t)
        total, count = t.tolist()
    return total / count if count else float("nan")


def main(argv: list[str] | None = None) -> None:
    """`python -m ladle_model.train DATA RUN_DIR [--config JSON]`: the plain entry torchrun starts once per rank."""
    import argparse

    parser = argparse.ArgumentParser(description="Train a LadLe model (one process, or one rank under torchrun).")
    parser.add_argument("data")
    parser.add_argument("run_dir")
    parser.add_argument("--config", default="{}", help="TrainConfig as JSON, e.g. '{\"model\": \"drrn1d\", \"max_steps\": 1000}'")
    parser.add_argument("--dataset", default=None, help="dataset version")
    parser.add_argument("--preset", default=None)
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    result = train(args.data, args.run_dir, TrainConfig.from_dict(json.loads(args.config)), args.dataset, args.preset, args.progress)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(result.to_dict(), indent=2))


if __name__ == "__main__":
    main()
