"""The `evaluate-ladle` flow: a trained run on whole test tracks, against the lossless original and its lossy input.

    ladle evaluate --run runs/default --data data --preset paper-32k --tracks 10
    ladle evaluate --run s3://bucket/runs/default --data s3://bucket/data
    prefect deployment run evaluate-ladle/default    (parameters: run_dir, data, presets, ...)

Per preset (by default each preset the run was trained on; a group such as `wideband`: each of its
members): restore each test track's aligned
lossy audio with the run's model, score the output and the untouched input with every metric, write
RUN_DIR/eval/{preset}/ (report.md, report.html, tracks.parquet, spectrograms) and publish the tables
and the report as Prefect artifacts. A split with no track of a preset fails the flow (EmptySplitError):
it never evaluates another split instead. A track that cannot be evaluated is logged and listed; only a
failure of every track fails the flow. `data`
and `run_dir` may be `s3://bucket/prefix` URLs: the catalog and encodes are pulled into a local
mirror (shards are not needed), the run folder too (without its step checkpoints), and the
evaluation is pushed back into the run folder.
"""

from __future__ import annotations

import contextlib

from prefect import flow, get_run_logger

from ladle_model.evaluation.evaluate import EvalConfig, run_presets
from ladle_model.evaluation.tracks import select_tracks
from ladle_model.runs.folder import RunDir
from storage import fs
from storage.config import expand_presets
from storage.corpus import SHARD_GLOBS
from tasks.evaluation import evaluate_preset_task, publish_evaluation_report_task

RESULT_KEYS = (
    "headline",
    "split",
    "n_tracks",
    "n_trained_on",
    "trained_on",
    "failed",
    "checkpoint",
    "model_name",
    "step",
    "dataset",
    "summary",
    "paths",
    "folder",
    "reused",
)


@flow(name="evaluate-ladle", log_prints=True)
def evaluate_ladle(
    run_dir: str,
    data: str,
    presets: list[str] | None = None,
    max_tracks: int | None = None,
    split: str = "test",
    checkpoint: str = "best",
    feature_net: str | None = None,
    visqol_excerpts: int = 3,
    batch_size: int = 8,
    device: str = "auto",
    progress: bool = False,
) -> dict:
    """Evaluate `run_dir` on each of `presets` (default: every preset it was trained on); returns each report's summary."""
    logger = get_run_logger()
    cfg = EvalConfig(
        split=split,
        max_tracks=max_tracks,
        checkpoint=checkpoint,
        feature_net=feature_net,
        visqol_excerpts=visqol_excerpts,
        batch_size=batch_size,
        device=device,
    )  # ConfigError before any work
    results = {}
    with contextlib.ExitStack() as stack:
        local_data = stack.enter_context(fs.local_mirror(data, exclude=SHARD_GLOBS, log=logger.info))
        local_run = stack.enter_context(
            fs.local_mirror(run_dir, push=True, exclude=(RunDir.STEP_CHECKPOINTS_GLOB,), log=logger.info)
        )
        # a multi-preset model: one report per preset; a group: one per member
        chosen = list(expand_presets(presets or [])) or run_presets(local_run, checkpoint) or [None]
        for preset in chosen:  # an empty split is EmptySplitError before anything is evaluated, never another split
            if preset is not None:
                select_tracks(str(local_data), preset, split)
        for preset in chosen:
            report = evaluate_preset_task(str(local_run), str(local_data), preset, cfg.to_dict(), progress)
            for failed in report["failed"]:
                logger.warning(
                    "%s could not be evaluated on %s: %s", failed["title"], report["preset"], failed["reason"]
                )
            artifacts = publish_evaluation_report_task(report)
            logger.info("%s on %s: %s", run_dir, report["preset"], report["headline"])
            if fs.is_remote(run_dir):  # where the files will be once pushed
                eval_folder = RunDir(local_run).eval_folder(report["preset"])
                report["paths"] = {
                    name: fs.join(run_dir, eval_folder.relative_to(local_run).as_posix(), name)
                    for name in report["paths"]
                }
            results[report["preset"]] = {key: report[key] for key in RESULT_KEYS} | {"artifacts": artifacts}
    return {"run_dir": run_dir, "presets": results}
