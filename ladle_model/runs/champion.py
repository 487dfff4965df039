"""The champion: the promoted model, in one stable place every command and flow can name.

    promote("data", "runs/nightly/3f2a…", {"dataset_version": "3f2a…", "reason": "..."})
    champion_dir("data")                # DATA/models/champion/: a run folder holding only what serves
    resolve_model("champion", "data")   # what `--run champion` / `--checkpoint champion` mean
    champion_versions("data")           # the dataset versions it names: `prune` keeps them

Layout, a run folder as ladle_model/runs/checkpoint.py lays one out, so `evaluate_run` and
`load_enhancer` take it as they take any run:

    DATA/models/champion/checkpoints/best.pt   the promoted run's best.pt, copied atomically
    DATA/models/champion/feature_net.pt        its phi, when it has one (the perceptual metric)
    DATA/models/champion/champion.json         the pointer record: run folder, dataset versions, when, why
    DATA/models/champion/eval/{preset}/        its evaluations (the nightly loop's comparisons)

best.pt is replaced first and the record last, each atomically, under DATA/models/.lock: a reader
always finds a whole checkpoint, and the record never names a model that is not in place. Like MLflow's
@champion alias, the word `champion` names whichever model holds the place now.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

from ladle_model.runs.checkpoint import checkpoint_datasets, load_checkpoint
from ladle_model.runs.folder import RunDir, save_checkpoint_file
from ladle_model.runs.registry import MODELS_DIR, models_dir
from ladle_model.runs.resume import check_same_model, dataset_history, run_dataset_versions
from storage import fs
from storage.atomic import atomic_path, write_json_atomic
from storage.lock import data_lock

CHAMPION = "champion"  # the word --run / --checkpoint resolve
RECORD_NAME = "champion.json"
# Model options the calibration writes into best.pt after training (ladle_model/calibration): a checkpoint that
# seeds a new run takes the new run's values, so the run resumes and is calibrated again on its own val split.
CALIBRATED_OPTIONS = ("fill_gain", "fill_gain_table")


def champion_dir(data_dir: str | Path) -> Path:
    return models_dir(data_dir) / CHAMPION


def champion_run(data_dir: str | Path) -> RunDir | None:
    """The champion's folder as a RunDir, or None while no model has been promoted."""
    run = RunDir(champion_dir(data_dir))
    return run if run.best.is_file() else None


def champion_record(data_dir: str | Path) -> dict | None:
    import json

    path = champion_dir(data_dir) / RECORD_NAME
    return json.loads(path.read_text()) if path.is_file() else None


def resolve_model(value: str, data_dir: str | Path) -> str:
    """`value`, or for the word `champion` DATA's champion folder; FileNotFoundError (one line) when there is none."""
    if value != CHAMPION:
        return value
    if champion_run(data_dir) is None:
        raise FileNotFoundError(
            f"no champion under {champion_dir(data_dir)}: the nightly flow promotes one (docs/nightly.md); "
            "give --data the data folder it runs on, or a run folder"
        )
    return str(champion_dir(data_dir))


def champion_versions(data_dir: str | Path) -> set[str]:
    """The dataset versions the champion's checkpoint was last trained on (what it names; `prune` keeps them).

    DATA may be a URL in object storage: its champion's best.pt is read from there."""
    if fs.is_remote(data_dir):
        best = fs.join(str(data_dir), MODELS_DIR, CHAMPION, RunDir(Path()).best.as_posix())
        return run_dataset_versions([best]) if fs.exists(best) else set()
    run = champion_run(data_dir)
    return set() if run is None else {d["version"] for d in checkpoint_datasets(load_checkpoint(run.best))}


def promote(data_dir: str | Path, run_dir: str | Path, record: dict, wait_seconds: float = 60.0) -> Path:
    """Make RUN_DIR's best.pt (and its phi) the champion; returns the champion's folder."""
    source, target = RunDir(run_dir), RunDir(champion_dir(data_dir))
    best = source.checkpoint("best")
    with data_lock(models_dir(data_dir), wait_seconds=wait_seconds):
        target.checkpoints.mkdir(parents=True, exist_ok=True)
        with atomic_path(target.best) as tmp:
            shutil.copyfile(best, tmp)
        if source.feature_net.is_file():
            with atomic_path(target.feature_net) as tmp:
                shutil.copyfile(source.feature_net, tmp)
        else:
            target.feature_net.unlink(missing_ok=True)
        ckpt = load_checkpoint(target.best)
        write_json_atomic(
            target.root / RECORD_NAME,
            {
                "run_dir": str(run_dir),
                "checkpoint": str(best),
                "model_name": ckpt["model_name"],
                "step": ckpt["step"],
                "dataset_version": ckpt["dataset_version"],
                "dataset_history": dataset_history(ckpt),
                "promoted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                **record,
            },
        )
    return target.root


def seed_run(run_dir: str | Path, checkpoint: str | Path, model_name: str, model_config: dict) -> bool:
    """Start a new run folder from `checkpoint`'s weights: written as RUN/checkpoints/last.pt, so training warm-starts
    from it on the run's own dataset version. False (nothing written) when RUN has a checkpoint already or
    `checkpoint` holds another model or model config (the run then starts from scratch)."""
    run = RunDir(run_dir)
    if run.resume_checkpoint() is not None:
        return False
    ckpt = load_checkpoint(checkpoint)
    ckpt["config"]["model"] = {
        **ckpt["config"]["model"],
        **{k: model_config[k] for k in CALIBRATED_OPTIONS if k in model_config},
    }
    try:
        check_same_model(ckpt, model_name, model_config, run_dir)
    except ValueError:
        return False
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    save_checkpoint_file(ckpt, run.last)
    return True
