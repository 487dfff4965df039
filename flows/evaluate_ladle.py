"""The `evaluate-ladle` flow: a trained run on whole test tracks, against the lossless original and its lossy input.

    ladle evaluate --run runs/default --data data --preset paper-32k --tracks 10
    prefect deployment run evaluate-ladle/...    (parameters: run_dir, data, presets, ...)

Per preset: restore each test track's aligned lossy audio with the run's model, score the output and
the untouched input with every metric, write RUN_DIR/eval/{preset}/ (report.md, report.html,
tracks.parquet, spectrograms) and publish the tables and the report as Prefect artifacts.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from ladle_model.evaluate import EvalConfig
from tasks.evaluation import evaluate_preset_task, publish_evaluation_report_task


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
    """Evaluate `run_dir` on each of `presets` (default: the preset it was trained on); returns each report's summary."""
    logger = get_run_logger()
    cfg = EvalConfig(split=split, max_tracks=max_tracks, checkpoint=checkpoint, feature_net=feature_net,
                     visqol_excerpts=visqol_excerpts, batch_size=batch_size, device=device)  # ConfigError before any work
    results = {}
    for preset in presets or [None]:
        report = evaluate_preset_task(run_dir, data, preset, cfg.to_dict(), progress)
        if report["split"] != split:
            logger.warning("the %s split has no %s track: evaluated on %s", split, report["preset"], report["split"])
        artifacts = publish_evaluation_report_task(report)
        logger.info("%s on %s: %s", run_dir, report["preset"], report["headline"])
        results[report["preset"]] = {
            key: report[key] for key in ("headline", "split", "n_tracks", "checkpoint", "model_name", "step", "dataset", "summary", "paths",
                                         "folder", "reused")
        } | {"artifacts": artifacts}
    return {"run_dir": run_dir, "presets": results}
