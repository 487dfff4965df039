"""Resuming a run: the RNG state a checkpoint carries, the checks before a run folder continues, and the dataset
versions it trained on (warm starts on a newer version included).

    check_resumable(ckpt, "specnext", model_config, "v2", None, "runs/x")   # RunMismatchError for another model
    run_dataset_versions(["runs/champion"])                                 # the versions prune must keep
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from ladle_model.runs.checkpoint import checkpoint_datasets, checkpoint_presets, load_checkpoint
from ladle_model.runs.errors import RunMismatchError
from ladle_model.runs.folder import RunDir
from storage import fs

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
    joined by "+". A path may be a URL in object storage (`runs` may be s3://): its files are read from there.
    """
    versions: set[str] = set()
    for path in paths:
        if fs.is_remote(path):
            versions |= _remote_run_versions(str(path))
            continue
        path = Path(path)
        checkpoints = [path] if path.is_file() else sorted((path / "checkpoints").glob("*.pt"))
        config = RunDir(path).config
        if path.is_dir() and config.is_file():
            versions.update(json.loads(config.read_text()).get("dataset_version", "").split("+"))
        for checkpoint in checkpoints:
            versions.update(d["version"] for d in checkpoint_datasets(load_checkpoint(checkpoint)))
    return {v for v in versions if v}


def _remote_run_versions(url: str) -> set[str]:
    """`run_dataset_versions` of one run folder or checkpoint in object storage (each checkpoint fetched in turn)."""
    filesystem, root = fs.filesystem(url)
    layout = RunDir(Path())  # the run folder's layout, as names relative to its root
    is_checkpoint = filesystem.isfile(root)
    checkpoints = [root] if is_checkpoint else sorted(filesystem.glob(f"{root}/{layout.checkpoints.as_posix()}/*.pt"))
    versions: set[str] = set()
    config = f"{root}/{layout.config.as_posix()}"
    if not is_checkpoint and filesystem.isfile(config):
        versions.update(json.loads(filesystem.cat_file(config)).get("dataset_version", "").split("+"))
    with tempfile.TemporaryDirectory() as tmp:
        for checkpoint in checkpoints:
            local = Path(tmp) / "checkpoint.pt"
            filesystem.get_file(checkpoint, str(local))
            versions.update(d["version"] for d in checkpoint_datasets(load_checkpoint(local)))
    return versions


def resume_step(run_dir: str | Path, model_name: str | None = None, model_config: dict | None = None) -> int | None:
    """The step a re-run of RUN continues from (its last.pt), or None for a new run. RUN may be an s3:// URL.
    With `model_name` and `model_config`, a last.pt of another model is a CheckpointError (`check_same_model`)."""

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
