"""The `nightly` flow: build the corpus, and when a new dataset version appeared, train a challenger and promote it or not.

    prefect deployment run nightly/nightly
    prefect deployment run nightly/nightly --param sources='["s3://music/library"]' --param data=/mnt/ladle/data

One night, each stage a subflow or task of this parent flow (docs/nightly.md):

1. `build-corpus` (subflow) brings the dataset versions of `presets` up to date with `sources`.
2. The night's key is the dataset version(s) just built. A registry row for it (DATA/catalog/models.parquet,
   ladle_model/runs/registry.py) means a night already finished on it: nothing more runs, so a repeated
   trigger never trains twice.
3. `train-ladle` (subflow) trains the challenger in RUNS/{version}, a folder keyed by that version, within
   `max_minutes`: a new folder starts from the champion's weights (a warm start on the new version,
   ladle_model/training/state.py; before the first promotion from the newest candidate's, so training adds
   up until one beats the lossy input), a folder a killed night left is resumed.
4. `evaluate-ladle` (subflow) scores the challenger and the champion on the same test tracks, with the
   same phi for the perceptual metric.
5. The promotion rule (ladle_model/evaluation/promotion.py): not worse than the champion on any preset and
   metric beyond its noise threshold, and not worse than the lossy input. A promoted challenger's best.pt
   becomes DATA/models/champion/ (ladle_model/runs/champion.py); either way the registry gets its row and
   a Markdown artifact says what was decided and which preset and metric blocked it.
6. `prune-datasets` (subflow) keeps each preset's `keep` newest versions and every version the champion names;
   `prune-runs` keeps the run folders of the newest `keep` challengers and the champion's, and deletes the
   older ones (their registry rows stay: ladle_model/runs/retention.py).
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger

from flows.build_corpus import build_corpus
from flows.evaluate_ladle import evaluate_ladle
from flows.prune import prune_datasets
from flows.train_ladle import train_ladle
from ladle_model.runs.champion import champion_dir
from ladle_model.runs.checkpoint import joined_version
from ladle_model.runs.folder import RunDir
from ladle_model.training.config import TrainConfig
from ladle_model.training.recipes import DEFAULT_RECIPE
from storage import fs
from tasks.nightly import (
    decide_task,
    night_done_task,
    prune_runs_task,
    publish_decision_task,
    seed_challenger_task,
)


def night_key(build: dict) -> str:
    """The dataset version(s) a build produced, joined in preset order as a multi-preset checkpoint names them."""
    return joined_version([d["version"] for d in sorted(build["datasets"], key=lambda d: (d["preset"], d["version"]))])


@flow(name="nightly", log_prints=True)
def nightly(
    sources: list[str],
    data: str = "data",
    presets: list[str] = ["vorbis-160"],  # noqa: B006 - Prefect parameters are JSON, never mutated here
    runs: str = "runs/nightly",
    recipe: str = DEFAULT_RECIPE,
    overrides: dict | None = None,
    max_minutes: float = 60.0,
    keep: int | None = 3,
    max_tracks: int | None = None,
    visqol_excerpts: int = 3,
    build_options: dict | None = None,
    device: str = "auto",
) -> dict:
    """Build `sources` into `data`; on a new version train a challenger (`recipe` + `overrides`, at most
    `max_minutes`) in `runs`, evaluate it against the champion and promote it or keep the champion."""
    logger = get_run_logger()
    overrides = {**(overrides or {}), "max_minutes": max_minutes}
    cfg = TrainConfig.from_recipe(recipe, overrides)  # ConfigError before any work
    build = build_corpus(sources=sources, data=data, presets=presets, wait_for_lock_seconds=600.0,
                         **(build_options or {}))  # fmt: skip
    key = night_key(build)
    summary = {"dataset_version": key, "build_seconds": build["seconds"], "n_tracks": build["n_tracks"]}
    done = night_done_task(data, key)
    if done is not None:
        logger.info("a night already finished on dataset %s (%s): nothing to train", key, done["verdict"])
        return {**summary, "trained": False, "verdict": done["verdict"], "run_dir": done["run_dir"],
                "champion_changed": False}  # fmt: skip

    started = time.perf_counter()
    run_dir = fs.join(runs, key)
    seeded = seed_challenger_task(data, run_dir, cfg.to_dict())
    logger.info("challenger %s on dataset %s, from %s", run_dir, key, seeded or "scratch")
    one_version = None if len(build["datasets"]) > 1 else key  # several presets: each one's newest, as built
    training = train_ladle(data=data, run_dir=run_dir, recipe=recipe, overrides=overrides, preset=list(presets),
                           dataset_version=one_version)  # fmt: skip
    phi = RunDir(run_dir).feature_net
    evaluation = dict(presets=list(presets), max_tracks=max_tracks, visqol_excerpts=visqol_excerpts, device=device,
                      feature_net=str(phi) if phi.is_file() else None)  # fmt: skip
    challenger = evaluate_ladle(run_dir=run_dir, data=data, **evaluation)
    champion = None
    if RunDir(champion_dir(data)).best.is_file():
        champion = evaluate_ladle(run_dir=str(champion_dir(data)), data=data, **evaluation)
    row = decide_task(data, key, challenger, champion, training, recipe, time.perf_counter() - started)
    publish_decision_task(row)
    logger.info("dataset %s: %s (%s)", key, row["verdict"], row["reason"])
    pruned = prune_datasets(data=data, keep=keep, protect_runs=[run_dir]) if keep else None
    runs_removed = prune_runs_task(data, keep, run_dir) if keep else []
    return {
        **summary,
        "trained": True,
        "verdict": row["verdict"],
        "reason": row["reason"],
        "run_dir": run_dir,
        "seeded_from": seeded,  # "champion", a previous candidate's run folder, or "" (scratch)
        "warm_start": training.get("warm_start", False),
        "trained_on": training["dataset_version"],
        "champion_changed": row["verdict"] == "promoted",
        "metrics": row["metrics"],
        "champion_metrics": row["champion_metrics"],
        "pruned": pruned,
        "runs_removed": runs_removed,  # older challengers' run folders deleted tonight
    }
