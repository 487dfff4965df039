"""The checkpoint format: what a checkpoint holds, loading it safely, and the model it serves.

    run = RunDir("runs/ladle")
    ckpt = load_checkpoint(run.checkpoint("best"))           # best.pt, else last.pt
    model = model_from_checkpoint(ckpt)                      # the network, weights loaded

A checkpoint is a dict of tensors and plain data, loadable with `torch.load(weights_only=True)`:
the model, optimizer and scheduler states, the progress counters (`PROGRESS_KEYS`), one RNG state
per rank, the model's name, the resolved configs, the dataset version and record ("datasets": every
dataset of a model trained on several presets, see `checkpoint_presets`), the feature net's cache
key and the code version. Anything else given as a checkpoint is one CheckpointError line, never
unpickled. Inference needs only this module, ladle_model/runs/folder.py and ladle_model/models/build.py.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import torch
import torch.nn as nn
from torch.optim.swa_utils import AveragedModel

from ladle_model.runs.errors import CheckpointError

CHECKPOINT_FORMAT = "ladle-checkpoint/1"
# The loop's counters a checkpoint carries, restored as they were saved.
PROGRESS_KEYS = (
    "step",
    "epoch",
    "batch_in_epoch",
    "epoch_loss_sum",
    "best_val_loss",
    "last_train_loss",
    "last_eval_step",
)
# The dataset fields inference needs to lay out its windows as training did.
DATASET_RECORD_KEYS = ("preset", "strategy", "segment_seconds", "hop_seconds", "sample_rate", "lossy_sample_rate")


# ----------------------------------------------------------------------------- the format


def checkpoint_payload(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: object,
    progress: dict,
    rng_states: list[dict],
    model_name: str,
    train_config: dict,
    model_config: dict,
    datasets: list[dict],
    feature_net_key: dict | None,
    code_version: str,
    ema: AveragedModel | None = None,
    history: list[dict] | None = None,
) -> dict:
    """The checkpoint dict. `progress` holds PROGRESS_KEYS; `datasets` one `dataset_record` per dataset trained on.

    "model" holds the weights training resumes from. `ema`, the weights' moving average, is stored only
    when the run keeps one: "ema", the weights the checkpoint serves (`served_weights`), and
    "ema_updates", the steps averaged. Without it the keys are the old format's.

    "dataset_version" and "dataset" are what a one-dataset checkpoint always held (the versions joined
    by "+", the first dataset's record); "datasets" lists them all (a model trained on several presets).
    "dataset_history" lists every version the weights were trained on, in order, each with the step it
    began at (`dataset_history`; a warm start on a newer version appends one).
    """
    missing = set(PROGRESS_KEYS) - set(progress)
    if missing:
        raise ValueError(f"checkpoint progress lacks {sorted(missing)}")
    if not datasets:
        raise ValueError("a checkpoint records at least one dataset")
    return {
        "format": CHECKPOINT_FORMAT,
        "model": model.state_dict(),
        **({"ema": ema.module.state_dict(), "ema_updates": int(ema.n_averaged)} if ema is not None else {}),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        **{k: progress[k] for k in PROGRESS_KEYS},
        "rng": rng_states,  # one per rank
        "model_name": model_name,
        "config": {"train": train_config, "model": model_config},
        "dataset_version": joined_version([d["version"] for d in datasets]),
        "dataset": {k: datasets[0].get(k) for k in DATASET_RECORD_KEYS},
        "datasets": [dict(d) for d in datasets],
        "dataset_history": [dict(h) for h in history]
        if history
        else [{"version": joined_version([d["version"] for d in datasets]), "start_step": 0}],
        "feature_net": feature_net_key,
        "code_version": code_version,
    }


def dataset_record(manifest: object) -> dict:
    """A DatasetManifest's version and DATASET_RECORD_KEYS, as a checkpoint stores them."""
    return {"version": manifest.version, **{k: getattr(manifest, k) for k in DATASET_RECORD_KEYS}}


def joined_version(versions: list[str]) -> str:
    """The one name of several dataset versions trained on together ("v1+v2"); one version is itself."""
    return "+".join(versions)


def checkpoint_datasets(ckpt: dict) -> list[dict]:
    """Every dataset a checkpoint was trained on, as `dataset_record`s (a checkpoint before "datasets": its one)."""
    if ckpt.get("datasets"):
        return [dict(d) for d in ckpt["datasets"]]
    return [{**(ckpt.get("dataset") or {}), "version": ckpt.get("dataset_version", "")}]


def checkpoint_presets(ckpt: dict) -> list[str]:
    """The presets a checkpoint's model was trained on, in the order it records them (enhance restores any of them)."""
    return [d["preset"] for d in checkpoint_datasets(ckpt) if d.get("preset")]


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """A LadLe checkpoint as saved; `torch.load(weights_only=True)`, so a file cannot run code on load.

    Anything else (text, random bytes, a pickle of other objects, another format) raises
    CheckpointError with one line: "not a LadLe checkpoint: PATH (why)". A missing file raises
    FileNotFoundError as before.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"not a LadLe checkpoint: {path} (the file is empty)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's pickle-protocol notes on foreign files mean nothing to a user
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        # torch's own message advises turning the safe loader off; never pass that on (issue 13)
        raise CheckpointError(
            f"not a LadLe checkpoint: {path} (not a PyTorch file of tensors and plain data)"
        ) from None
    except Exception as e:  # noqa: BLE001  text, random bytes and torn files fail in many ways inside torch.load
        raise CheckpointError(
            f"not a LadLe checkpoint: {path} (not a readable PyTorch file: {type(e).__name__})"
        ) from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"not a LadLe checkpoint: {path} (it holds a {type(ckpt).__name__})")
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"not a LadLe checkpoint: {path} (format {ckpt.get('format')!r}, expected {CHECKPOINT_FORMAT!r})"
        )
    return upgrade_config(ckpt, path)


# Options an earlier release had and this one dropped, at the value that kept them off: a checkpoint saved with
# one of them off loads as if it never had it; one trained with it on cannot be rebuilt and is refused.
RETIRED_MODEL_OPTIONS = {"copy_up": False}
RETIRED_TRAIN_OPTIONS = {"lr_anneal_to": None, "clean_input_lowpass": 0.0}
RETIRED_SPECTRAL_OPTIONS = {"lambda_melfloor": 0.0}
RETIRED_SETTINGS = {"mel_floor_db", "n_mels"}  # settings of a retired loss term: dropped whatever their value


def upgrade_config(ckpt: dict, path: str | Path = "") -> dict:
    """`ckpt` with an earlier release's config in this release's terms: retired options that were off dropped,
    and fill-gain table rows of 2 or 3 numbers ([bandwidth, gain] or [bandwidth, in band, above the cut])
    written as 4 ([bandwidth, in band, above the cut, mask gain 1]). CheckpointError for a retired option on."""
    config = ckpt.get("config")
    if not isinstance(config, dict):
        return ckpt
    sections = [
        (config.get("model"), RETIRED_MODEL_OPTIONS),
        (config.get("train"), RETIRED_TRAIN_OPTIONS),
        ((config.get("train") or {}).get("spectral"), RETIRED_SPECTRAL_OPTIONS),
    ]
    for section, retired in sections:
        for key, off in retired.items():
            if isinstance(section, dict) and key in section:
                if section[key] != off:
                    raise CheckpointError(
                        f"{path} was trained with {key}={section[key]!r}, an option this release no longer has"
                    )
                del section[key]
    spectral = (config.get("train") or {}).get("spectral")
    for key in RETIRED_SETTINGS & set(spectral or {}):
        del spectral[key]
    model = config.get("model")
    table = model.get("fill_gain_table") if isinstance(model, dict) else None
    if table:
        model["fill_gain_table"] = [[r[0], r[1], r[min(2, len(r) - 1)], 1.0] if len(r) < 4 else r for r in table]
    return ckpt


def model_from_checkpoint(ckpt: dict) -> nn.Module:
    """The checkpoint's network, built from its saved config, with the weights it serves loaded (on CPU,
    train mode): the weights' moving average when the run kept one, else the weights trained."""
    from ladle_model.models.build import build_model

    model = build_model(ckpt["model_name"], **ckpt["config"]["model"])
    model.load_state_dict(served_weights(ckpt))
    return model


def served_weights(ckpt: dict) -> dict:
    """The state dict a checkpoint serves (to inference, and as a resumed average's start): "ema" when it holds one, else "model"."""
    return ckpt["ema"] if ckpt.get("ema") is not None else ckpt["model"]
