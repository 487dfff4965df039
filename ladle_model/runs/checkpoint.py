"""The run folder and the checkpoint format: the one module that knows where a run keeps what.

    run = RunDir("runs/ladle")
    ckpt = load_checkpoint(run.checkpoint("best"))           # best.pt, else last.pt
    model = model_from_checkpoint(ckpt)                      # the network, weights loaded

Layout of a run folder (docs/design.md):

    RUN/config.json                         the resolved configs of the newest call of `train`
    RUN/feature_net.pt (+ feature_net.json) phi for the perceptual loss and its cache key
    RUN/checkpoints/step-00001000.pt        every `checkpoint_every_steps` and at each epoch end
    RUN/checkpoints/last.pt                 the newest of them; a re-run resumes from it
    RUN/checkpoints/best.pt                 lowest validation loss at an epoch end
    RUN/log_steps.csv, RUN/log_epochs.csv   per-step and per-epoch losses
    RUN/loss_curve.png, RUN/training_report.md
    RUN/eval/{preset}/                      one evaluation per preset (see `EvalFiles`)

A checkpoint is a dict of tensors and plain data, loadable with `torch.load(weights_only=True)`:
the model, optimizer and scheduler states, the progress counters (`PROGRESS_KEYS`), one RNG state
per rank, the model's name, the resolved configs, the dataset version and record ("datasets": every
dataset of a model trained on several presets, see `checkpoint_presets`), the feature net's cache
key and the code version. Anything else given as a checkpoint is one CheckpointError line, never
unpickled. Inference needs only this module and ladle_model/models/build.py.
"""

from __future__ import annotations

import json
import pickle
import random
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torch.optim.swa_utils import AveragedModel

from storage.atomic import TMP_MARKER, atomic_path

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


class CheckpointError(ValueError):
    """A file that is not a LadLe checkpoint, or a run folder that cannot be resumed as asked."""


class RunMismatchError(CheckpointError):
    """A sound checkpoint of another model, model config, dataset or feature net than the run asks for."""


# ----------------------------------------------------------------------------- the run folder


@dataclass(frozen=True)
class EvalFiles:
    """RUN/eval/{preset}/: what one evaluation writes (ladle_model/evaluation/evaluate.py)."""

    root: Path

    @property
    def eval_json(self) -> Path:
        return self.root / "eval.json"  # written last: its key marks the evaluation complete

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def tracks_parquet(self) -> Path:
        return self.root / "tracks.parquet"

    @property
    def reports(self) -> dict[str, Path]:
        """The files a finished evaluation must have besides eval.json, by name."""
        return {p.name: p for p in (self.report_md, self.report_html, self.tracks_parquet)}

    @staticmethod
    def spectrogram_name(track_id: str) -> str:
        """The figure's path relative to the eval folder (as the report links it)."""
        return f"spectrograms/{track_id}.png"

    def spectrogram(self, track_id: str) -> Path:
        return self.root / self.spectrogram_name(track_id)


@dataclass(frozen=True)
class RunDir:
    """Every path in a run folder. `RunDir("runs/x").last` is runs/x/checkpoints/last.pt."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))  # accept str

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    def step_checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:08d}.pt"

    # The step checkpoints, relative to the run folder: inference reads only best.pt or last.pt, so a
    # local mirror of a remote run may leave these in the bucket.
    STEP_CHECKPOINTS_GLOB = "checkpoints/step-*.pt"

    @property
    def feature_net(self) -> Path:
        return self.root / "feature_net.pt"

    @property
    def feature_net_key(self) -> Path:
        return self.root / "feature_net.json"

    @property
    def step_log(self) -> Path:
        return self.root / "log_steps.csv"

    @property
    def epoch_log(self) -> Path:
        return self.root / "log_epochs.csv"

    @property
    def loss_curve(self) -> Path:
        return self.root / "loss_curve.png"

    @property
    def training_report(self) -> Path:
        return self.root / "training_report.md"

    @property
    def eval_root(self) -> Path:
        return self.root / "eval"

    def eval_folder(self, preset: str) -> Path:
        # The name may come from a checkpoint or a data folder: one plain folder name, never a way out of RUN.
        if preset in ("", ".", "..") or Path(preset).name != preset:
            raise CheckpointError(f"preset name {preset!r} is not a plain folder name")
        return self.eval_root / preset

    def eval_files(self, preset: str) -> EvalFiles:
        return EvalFiles(self.eval_folder(preset))

    def checkpoint(self, which: str = "best") -> Path:
        """An existing checkpoint: "best" (best.pt, else last.pt), "last", or a name in checkpoints/ ("step-00000004")."""
        found = _find_checkpoint(self.checkpoints, which)
        if found is None:
            raise FileNotFoundError(
                f"no checkpoint in run folder {self.root} "
                f"(looked for {' / '.join(_checkpoint_names(which))} in {self.checkpoints})"
            )
        return found

    def resume_checkpoint(self) -> Path | None:
        """last.pt when the run has one (a re-run continues from it), else None."""
        return self.last if self.last.is_file() else None

    def write_checkpoint(self, payload: dict, best: bool = False) -> Path:
        """step-N.pt and last.pt (and best.pt), each written atomically; returns last.pt."""
        for path in [self.step_checkpoint(payload["step"]), self.last] + ([self.best] if best else []):
            save_checkpoint_file(payload, path)
        return self.last

    def sweep_temporaries(self) -> int:
        """Delete half-written files a killed run left (`.last.pt.tmp-*`, ...) in RUN and RUN/checkpoints; returns how many.

        eval/ is left alone: an evaluation may be writing there. Call it before the run writes anything.
        """
        n_removed = 0
        for folder in (self.root, self.checkpoints):
            for tmp in folder.glob(f".*{TMP_MARKER}*") if folder.is_dir() else ():
                if tmp.is_file():
                    tmp.unlink(missing_ok=True)
                    n_removed += 1
        return n_removed


def resolve_checkpoint(path: str | Path, which: str = "best") -> Path:
    """A checkpoint file as given, or a run folder's checkpoint (`RunDir.checkpoint(which)`).

    A checkpoints/ folder itself (holding last.pt) works too, as it always has.
    """
    path = Path(path)
    if path.is_file():
        return path
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    found = _find_checkpoint(folder, which)
    if found is None:
        raise FileNotFoundError(
            f"no checkpoint at {path} (looked for a file, or {' / '.join(_checkpoint_names(which))} in {folder})"
        )
    return found


def _checkpoint_names(which: str) -> list[str]:
    return ["best.pt", "last.pt"] if which == "best" else [f"{which.removesuffix('.pt')}.pt"]


def _find_checkpoint(folder: Path, which: str) -> Path | None:
    return next((folder / n for n in _checkpoint_names(which) if (folder / n).is_file()), None)


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


def save_checkpoint_file(payload: dict, path: str | Path) -> Path:
    """torch.save `payload` to `path` atomically (a crash leaves a dot-file, never a torn checkpoint)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


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


def resume_step(run_dir: str | Path, model_name: str | None = None, model_config: dict | None = None) -> int | None:
    """The step a re-run of RUN continues from (its last.pt), or None for a new run. RUN may be an s3:// URL.
    With `model_name` and `model_config`, a last.pt of another model is a CheckpointError (`check_same_model`)."""
    from storage import fs

    def step_of(ckpt: dict) -> int:
        if model_name is not None:
            check_same_model(ckpt, model_name, model_config or {}, run_dir)
        return int(ckpt["step"])

    if not fs.is_remote(run_dir):
        last = RunDir(run_dir).resume_checkpoint()
        return step_of(load_checkpoint(last)) if last is not None else None
    url = fs.join(str(run_dir), "checkpoints", "last.pt")
    filesystem, path = fs.filesystem(url)
    if not filesystem.exists(path):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "last.pt"
        filesystem.get_file(path, str(local))
        return step_of(load_checkpoint(local))


# ----------------------------------------------------------------------------- RNG state


def capture_rng_state() -> dict:
    """torch (+CUDA), numpy and python RNG states as tensors and plain lists (weights_only-loadable)."""
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
        "numpy": {
            "name": np_name,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_gauss),
        },
        "python": {"version": py_version, "internal": list(py_internal), "gauss_next": py_gauss},
    }


def restore_rng_state(s: dict) -> None:
    """Put back what `capture_rng_state` took (CUDA only when the same number of devices is visible)."""
    torch.set_rng_state(s["torch"])
    if s["cuda"] and torch.cuda.is_available() and len(s["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(s["cuda"])
    n = s["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = s["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))


# ----------------------------------------------------------------------------- resuming


def canonical(obj: object) -> str:
    """JSON text of plain data, so a dict read back from JSON (lists) equals one with tuples."""
    return json.dumps(obj, sort_keys=True, default=str)


def resolved_model_config(ckpt: dict) -> dict:
    """The checkpoint's model config with today's defaults for any option added since it was written (an option
    is added with a default that builds the model as before); as saved where today's code cannot resolve it."""
    from ladle_model.models.build import model_config_dict

    try:
        return model_config_dict(ckpt["model_name"], **ckpt["config"]["model"])
    except (KeyError, TypeError, ValueError):
        return ckpt["config"]["model"]


def check_same_model(ckpt: dict, model_name: str, model_config: dict, run_dir: str | Path) -> None:
    """CheckpointError where `ckpt` holds another model or model config than `model_name` with `model_config`."""
    if ckpt["model_name"] != model_name or canonical(resolved_model_config(ckpt)) != canonical(model_config):
        raise RunMismatchError(
            f"run folder {run_dir} holds a checkpoint at step {ckpt['step']} of model {ckpt['model_name']!r} "
            f"{ckpt['config']['model']}, not {model_name!r} {model_config}; use another run folder"
        )


def check_resumable(
    ckpt: dict,
    model_name: str,
    model_config: dict,
    dataset_version: str,
    feature_net_key: dict | None,
    run_dir: str | Path,
    presets: list[str] | None = None,
) -> bool:
    """May RUN continue from `ckpt` on `dataset_version`? False: a plain resume (the same version); True: a warm
    start on another version of the same preset(s) (`warm_start_history`). RunMismatchError for another model,
    model config or feature-net config, or datasets of other presets; the message names what resolves it."""
    where = f"run folder {run_dir} holds a checkpoint at step {ckpt['step']}"
    check_same_model(ckpt, model_name, model_config, run_dir)
    warm = ckpt["dataset_version"] != dataset_version
    trained = sorted(checkpoint_presets(ckpt))
    if warm and presets is not None and trained and trained != sorted(presets):
        raise RunMismatchError(
            f"{where} trained on preset(s) {', '.join(trained)}, not {', '.join(sorted(presets))}: a run folder "
            f"follows the versions of its own presets; name them (--preset {' --preset '.join(trained)}) "
            "or train the others in another run folder"
        )
    saved = ckpt["feature_net"]
    if warm:  # phi is pre-trained again on the new version; its own config must not change
        saved, feature_net_key = _without_version(saved), _without_version(feature_net_key)
    if canonical(saved) != canonical(feature_net_key):
        raise RunMismatchError(
            f"{where} with feature net {ckpt['feature_net']}, not {feature_net_key}: "
            "the perceptual loss would change mid-run; use another run folder, or the run's own feature-net config"
        )
    return warm


def _without_version(key: dict | None) -> dict | None:
    return None if key is None else {k: v for k, v in key.items() if k != "dataset_version"}


def dataset_history(ckpt: dict) -> list[dict]:
    """Every dataset version a checkpoint's weights were trained on, in order: [{"version", "start_step"}, ...].

    A checkpoint written before warm starts trained on its one version from step 0.
    """
    if ckpt.get("dataset_history"):
        return [dict(h) for h in ckpt["dataset_history"]]
    return [{"version": ckpt.get("dataset_version", ""), "start_step": 0}]


def warm_start_history(ckpt: dict, dataset_version: str) -> list[dict]:
    """`dataset_history` with `dataset_version` appended from the checkpoint's step: where a warm start begins."""
    return [*dataset_history(ckpt), {"version": dataset_version, "start_step": int(ckpt["step"])}]


def run_dataset_versions(paths: Iterable[str | Path]) -> set[str]:
    """Every dataset version that the given run folders (or checkpoint files) record, so `prune` keeps them.

    A run folder names its versions in config.json and in each checkpoint; several trained on together are
    joined by "+".
    """
    versions: set[str] = set()
    for path in map(Path, paths):
        checkpoints = [path] if path.is_file() else sorted((path / "checkpoints").glob("*.pt"))
        config = RunDir(path).config
        if path.is_dir() and config.is_file():
            versions.update(json.loads(config.read_text()).get("dataset_version", "").split("+"))
        for checkpoint in checkpoints:
            versions.update(d["version"] for d in checkpoint_datasets(load_checkpoint(checkpoint)))
    return {v for v in versions if v}
