"""`ladle train` and `ladle calibrate`: each command's parser next to its handler.

ladle train --data demo/data --run runs/demo --preset paper-32k --max-steps 200
ladle calibrate --run runs/demo --data demo/data
"""

import json
import sys
from dataclasses import asdict
from pathlib import Path

from flows.cli.common import (
    add_preset_option,
    check_train_config,
    check_train_dataset,
    deprecated_alias,
    deprecated_positional,
    fail,
    fmt_number,
    json_overrides,
    positive_float,
    positive_int,
)
from flows.cli.server import start_temporary_server
from ladle_model.models.registry import MODEL_NAMES  # no torch: the CLI starts fast
from ladle_model.training.recipes import DEFAULT_RECIPE, RECIPE_NAMES  # no torch either

# ----------------------------------------------------------------------------- train


def add_train(commands) -> None:
    p = commands.add_parser("train", help="run the train-ladle flow on a dataset's shards")
    p.add_argument("--data", required=True, help="a data folder, local or s3://bucket/prefix")
    deprecated_positional(p, "--data")
    p.add_argument("--run", required=True, help="run folder (checkpoints, logs), local or s3://; resumed if it exists")
    p.add_argument(
        "--recipe",
        default=DEFAULT_RECIPE,
        choices=RECIPE_NAMES,
        help="model, losses and optimisation that go together "
        "(paper: the LadLe paper's model and MSE + perceptual loss)",
    )
    p.add_argument("--model", default=None, choices=MODEL_NAMES, help="the model to train (default: the recipe's)")
    p.add_argument(
        "--epochs", type=positive_int, default=None, help="at most this many epochs (default: the recipe's, 20)"
    )
    p.add_argument(
        "--max-steps", type=positive_int, default=None, help="stop after this many optimiser steps (default: no limit)"
    )
    p.add_argument(
        "--batch-size", type=positive_int, default=None, help="segments per step (default: the recipe's; paper: 4)"
    )
    p.add_argument("--segment-seconds", type=positive_float, default=None, help="random crop of each shard segment")
    p.add_argument("--dataset", default=None, help="dataset version (default: the only one, or pick with --preset)")
    add_preset_option(
        p, help="repeatable: one model trained on the union of those presets' datasets (enhance restores any of them)"
    )
    p.add_argument(
        "--max-minutes",
        type=positive_float,
        default=None,
        help="wall-clock budget of the whole command, calibration included: training stops with a checkpoint "
        "in time for the calibration; the same command again continues",
    )
    p.add_argument("--overrides", default=None, help="JSON of TrainConfig overrides, e.g. '{\"lr\": 3e-4}'")
    p.add_argument("--json", action="store_true", help="print the whole summary (with the resolved config) as JSON")
    p.set_defaults(handler=_cmd_train)


def _checkpoint_version(run: str) -> str | None:
    """The dataset version(s) a local run folder's last.pt was trained on."""
    from ladle_model.runs.checkpoint import load_checkpoint
    from ladle_model.runs.folder import RunDir
    from storage import fs

    last = None if fs.is_remote(run) else RunDir(run).resume_checkpoint()
    return load_checkpoint(last)["dataset_version"] if last else None


def train_overrides(args) -> dict:
    """The `overrides` the train-ladle flow gets from `ladle train`'s options: --overrides, then the options the
    command line names on top (TrainConfig keys, read by TrainConfig.from_recipe with --recipe)."""
    named = {
        "model": args.model,
        "max_epochs": args.epochs,
        "max_steps": args.max_steps,
        "batch_size": args.batch_size,
        "segment_seconds": args.segment_seconds,
        "max_minutes": args.max_minutes,
    }
    return {**(json_overrides(args.overrides) or {}), **{k: v for k, v in named.items() if v is not None}}


def _cmd_train(args) -> int:
    from ladle_model.calibration import budget as time_budget

    started = time_budget.wall_clock()  # --max-minutes bounds the whole command, from here
    from flows.train_ladle import train_ladle
    from ladle_model.runs.errors import CheckpointError, RunMismatchError
    from ladle_model.runs.resume import resume_step
    from storage import fs
    from storage.manifest import list_datasets

    overrides = train_overrides(args)
    cfg = check_train_config(args.recipe, overrides)
    # Before any flow run, so bad usage is one line, not a traceback and retries.
    if not fs.is_remote(args.data) and Path(args.data).is_file():
        fail(f"--data {args.data} is a file; give the data folder that build-corpus wrote")
    if not list_datasets(str(args.data)):
        fail(f"no dataset under {args.data}; build one first with `ladle build-corpus SOURCE --data {args.data}`")
    try:  # a damaged last.pt, or one of another model, is one line here, not a traceback in the flow
        step = resume_step(str(args.run), cfg.model, cfg.model_config())
    except RunMismatchError as e:
        fail(str(e))
    except CheckpointError as e:
        fail(f"{e}; move it away to start the run again")
    version = check_train_dataset(args.data, args.run, args.segment_seconds, args.dataset, args.preset)
    trained_on = _checkpoint_version(args.run) if step is not None else None
    said = f"starting {args.run}"
    if step is not None:
        said = f"resuming {args.run} from step {step}"
        if version and trained_on and trained_on != version:  # docs/nightly.md, "Warm start on a newer version"
            said = f"warm-starting {args.run} from step {step} (trained on {trained_on}) on dataset {version}"
    print(
        said,
        flush=True,
        file=sys.stderr if args.json else sys.stdout,
    )  # --json keeps stdout to the JSON
    start_temporary_server()
    summary = train_ladle(
        data=str(args.data),
        run_dir=str(args.run),
        recipe=args.recipe,
        overrides=overrides,
        preset=args.preset,
        dataset_version=args.dataset,
        started=started,
    )
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print_train_summary(summary, args.max_minutes)
    return 0


def print_train_summary(summary: dict, max_minutes: float | None) -> None:
    """What `ladle train` did, in a few lines: where it stopped, the losses, the calibration and its share."""
    if summary.get("stopped_by") == "max_minutes":
        print(f"stopped at the {fmt_number(max_minutes)}-minute budget; run the same command again to continue")
    print(
        f"{summary['model']} trained to step {summary['step']} ({summary['epochs']} epochs) on dataset {summary['dataset_version']}"
    )
    print(
        f"last train loss: {fmt_number(summary['last_train_loss'])}  best validation loss: {fmt_number(summary['best_val_loss'])}"
    )
    if summary.get("calibration"):  # None: a model without a fill gain
        from ladle_model.calibration.record import calibration_text  # torch is loaded by now; the CLI's stays light

        print(calibration_text(summary["calibration"]))
    if summary.get("budget_text"):
        print(summary["budget_text"])
    print(f"checkpoint: {summary['checkpoint']}\nloss curve: {summary['loss_curve']}")


# ----------------------------------------------------------------------------- calibrate


def add_calibrate(commands) -> None:
    p = commands.add_parser(
        "calibrate", help="choose a trained run's fill gains on a data folder's val tracks (ladle train does it too)"
    )
    p.add_argument(
        "--run", type=Path, required=True, help="the run folder (its best.pt is rewritten with the gains chosen)"
    )
    deprecated_positional(p, "--run")
    p.add_argument("--data", type=Path, required=True, help="the data folder whose val split to score on")
    p.add_argument("--force", action="store_true", help="score again even if the current method calibrated it already")
    deprecated_alias(p, "--again", "--force")
    p.add_argument(
        "--excerpts-per-preset",
        type=int,
        default=None,
        metavar="N",
        help="5-s excerpts scored per preset, spread over its val tracks (default 12; the ViSQOL time grows with N)",
    )
    p.add_argument(
        "--excerpts-per-track",
        type=int,
        default=None,
        metavar="N",
        help="at most N of them from one val track, spread over it (default 3)",
    )
    p.set_defaults(handler=_cmd_calibrate)


def _cmd_calibrate(args) -> int:
    if not (args.run / "checkpoints").is_dir():
        fail(f"{args.run} is not a run folder (no checkpoints/ in it)")
    if not (args.data / "catalog").is_dir():
        fail(f"{args.data} is not a data folder (no catalog/ in it); give the one build-corpus wrote")
    for flag, value in (
        ("--excerpts-per-preset", args.excerpts_per_preset),
        ("--excerpts-per-track", args.excerpts_per_track),
    ):
        if value is not None and value < 1:
            fail(f"{flag} must be at least 1, got {value}")
    from ladle_model.calibration.data import calibrate_on_data
    from ladle_model.calibration.record import calibration_text
    from storage.ffmpeg import FFmpegError

    try:
        counts = {
            k: v
            for k, v in (("per_track", args.excerpts_per_track), ("per_preset", args.excerpts_per_preset))
            if v is not None
        }
        result = calibrate_on_data(args.run, args.data, again=args.force, **counts)
    except (OSError, FFmpegError, ValueError) as e:  # a damaged checkpoint, a missing or unreadable val track
        fail(str(e).splitlines()[0] if str(e) else type(e).__name__, status=1)
    if result is None:
        fail(f"the model in {args.run} has no fill gains to calibrate (only specnext has)", status=1)
    print(calibration_text(asdict(result)))
    return 0 if not result.skipped else 1
