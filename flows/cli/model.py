"""`ladle enhance`, `evaluate` and `table1`: each command's parser next to its handler (train and calibrate:
flows/cli/train.py).

ladle evaluate --run runs/demo --data demo/data --preset vorbis-160
ladle enhance song.mp3 -o song.flac --run runs/demo
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from flows.cli.common import (
    add_preset_option,
    check_train_config,
    deprecated_alias,
    fail,
    fmt_number,
    json_overrides,
    note_deprecated,
    positive_float,
    positive_int,
    warn_deprecated,
)
from flows.cli.models import resolve_champion
from flows.cli.server import start_temporary_server
from ladle_model.models.registry import MODEL_NAMES  # no torch: the CLI starts fast

DEVICE_HELP = "where the model runs (auto: CUDA if there is a GPU)"

# ----------------------------------------------------------------------------- enhance


def add_enhance(commands) -> None:
    p = commands.add_parser("enhance", help="restore lossy audio (a file or a folder) with a trained model")
    p.add_argument("input", help="any file FFmpeg reads (MP3, Ogg, M4A, Opus, WAV, FLAC), or a folder of them")
    p.add_argument("-o", "--output", required=True, help="a .flac or .wav file, or a folder (names mirrored)")
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument(
        "--run", help="a run folder: restore with its best.pt, else last.pt; `champion`: the nightly flow's champion"
    )
    model.add_argument("--checkpoint", help="a checkpoint file (.pt) to restore with; `champion`: the champion's")
    note_deprecated(p, "ladle enhance --checkpoint DIR", "ladle enhance --run DIR")  # read in _cmd_enhance
    p.add_argument("--data", default="data", help="the data folder whose champion `--run champion` names")
    p.add_argument("--format", choices=["flac", "wav"], default="flac", help="output format for folders")
    p.add_argument("--bits", type=int, choices=[16, 24], default=24, help="output sample width")
    p.add_argument(
        "--sample-rate",
        type=positive_int,
        default=None,
        help="output rate (default: the model's, so the band it restored is kept; e.g. 44100 for a 32-kHz input)",
    )
    p.add_argument(
        "--window-seconds", type=positive_float, default=None, help="window length (default: the training segment)"
    )
    p.add_argument("--batch-size", type=positive_int, default=8, help="windows per forward pass")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help=DEVICE_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON record per file")
    p.set_defaults(handler=_cmd_enhance)


def _cmd_enhance(args) -> int:
    from ladle_model.inference.enhance import (
        EnhanceError,
        EnhanceResult,
        Failed,
        enhance_path,
        load_enhancer,
        result_dict,
    )
    from storage.ffmpeg import FFmpegError

    source, output = Path(args.input), Path(args.output)
    if not source.exists():
        fail(f"no file or folder at {source}")
    if source.is_dir() and output.exists() and not output.is_dir():
        fail(f"{source} is a folder, so -o must be a folder too, not the file {output}")
    if source.is_file() and not output.is_dir() and output.suffix.lower() not in (".flac", ".wav"):
        fail(f"-o must end in .flac or .wav (or be a folder), got {output}")
    args.run = resolve_champion(args.run, args.data)
    if args.checkpoint == "champion":  # the champion's checkpoint file
        args.checkpoint = str(Path(resolve_champion(args.checkpoint, args.data)) / "checkpoints" / "best.pt")
    checkpoint = args.run or args.checkpoint
    if args.run and Path(args.run).is_file():
        fail(f"--run wants a run folder; give the checkpoint file {args.run} with --checkpoint")
    if args.checkpoint and Path(args.checkpoint).is_dir():
        warn_deprecated(f"ladle enhance --checkpoint {args.checkpoint}", f"ladle enhance --run {args.checkpoint}")
    try:
        enhancer = load_enhancer(checkpoint, device=args.device, window_seconds=args.window_seconds)
        results = enhance_path(
            enhancer.model,
            enhancer.spec,
            source,
            output,
            suffix=f".{args.format}",
            progress=sys.stderr.isatty(),
            batch_size=args.batch_size,
            output_sample_rate=args.sample_rate,
            subtype=f"PCM_{args.bits}",
        )
    except (EnhanceError, FFmpegError, ValueError) as e:
        fail(str(e), status=1)
    failed = [r for r in results if isinstance(r, Failed)]
    if args.json:
        print(json.dumps([result_dict(r) for r in results], indent=2))
    else:
        skipped = [r for r in results if not isinstance(r, (EnhanceResult, Failed))]
        for r in results:
            if isinstance(r, EnhanceResult):
                cut = (
                    ""
                    if r.input_cutoff_hz is None
                    else (
                        ", no codec low-pass found"
                        if r.input_cutoff_hz >= enhancer.spec.input_rate / 2
                        else f", input cut at {r.input_cutoff_hz / 1000:.1f} kHz"
                    )
                )
                if r.cut_before_encoding:
                    cut += " before encoding (its codec cuts higher at this bitrate)"
                if r.passed_through:
                    cut += (
                        ", passed through unchanged"
                        if r.cut_before_encoding
                        else ", near-transparent: passed through unchanged"
                    )
                print(
                    f"{r.source} -> {r.output} ({r.duration_s:.1f} s at {r.sample_rate} Hz{cut}, {r.realtime_factor:.1f}x real time)"
                )
        if skipped:  # one line: a folder of encodes holds a .json sidecar next to every file
            kinds = Counter(Path(r.source).suffix.lower() or "no extension" for r in skipped)
            print(
                f"skipped {len(skipped)} file(s) with no audio FFmpeg can read ("
                + ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
                + "); --json lists them"
            )
        for r in failed:  # at the end, where they are seen: the rest of the folder was restored
            print(f"failed {r.source}: {r.reason}", file=sys.stderr)
        if failed:
            print(f"{len(failed)} of {len(results)} file(s) could not be restored", file=sys.stderr)
    if failed:
        return 1
    return 0 if any(isinstance(r, EnhanceResult) for r in results) or not results else 1


# ----------------------------------------------------------------------------- evaluate


def add_evaluate(commands) -> None:
    p = commands.add_parser("evaluate", help="run the evaluate-ladle flow: whole test tracks, model vs its lossy input")
    p.add_argument(
        "--run",
        required=True,
        help="the run folder (checkpoints, feature net), local or s3://bucket/prefix; the report goes to RUN/eval/; "
        "`champion`: DATA's champion (DATA/models/champion/)",
    )
    p.add_argument(
        "--data",
        required=True,
        help="a data folder built with the run's preset(s): the one it was trained from, "
        "or another library; local or s3://bucket/prefix",
    )
    add_preset_option(
        p, help="repeatable, a group for each of its members (default: every preset the run was trained on)"
    )
    p.add_argument(
        "--max-tracks", type=positive_int, default=None, metavar="N", help="evaluate only the first N tracks"
    )
    deprecated_alias(p, "--tracks", "--max-tracks")
    p.add_argument(
        "--split",
        choices=["train", "val", "test", "all"],
        default="test",
        help="which tracks of DATA (default test; all: every track, e.g. of another library); "
        "an empty split is an error, never another split",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--which",
        choices=["best", "last"],
        default="best",
        help="the run's checkpoint to evaluate (best: last.pt if there is no best.pt)",
    )
    which.add_argument("--checkpoint", default=None, help="a checkpoint file to evaluate instead of the run's")
    note_deprecated(p, "ladle evaluate --checkpoint best|last", "ladle evaluate --which best|last")  # _cmd_evaluate
    p.add_argument(
        "--visqol-excerpts", type=int, default=3, help="excerpts of 5 s per track scored with ViSQOL (0: skip)"
    )
    p.add_argument("--batch-size", type=positive_int, default=8, help="windows per forward pass")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help=DEVICE_HELP)
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    p.set_defaults(handler=_cmd_evaluate)


def _cmd_evaluate(args) -> int:
    from storage import fs

    # bad usage is one line before any flow run, not a traceback from inside it
    if not fs.is_remote(args.data):
        args.run = resolve_champion(args.run, args.data)
    if not fs.is_remote(args.run) and not Path(args.run).is_dir():
        fail(f"no run folder at {args.run}")
    if not fs.is_remote(args.data) and not Path(args.data).is_dir():
        fail(f"no data folder at {args.data}")
    if args.checkpoint in ("best", "last"):  # the old `--checkpoint best|last`
        warn_deprecated(f"ladle evaluate --checkpoint {args.checkpoint}", f"ladle evaluate --which {args.checkpoint}")
        args.which, args.checkpoint = args.checkpoint, None
    which = args.checkpoint or args.which  # what evaluate_ladle takes: best, last or a checkpoint path
    from flows.evaluate_ladle import evaluate_ladle
    from ladle_model.evaluation.evaluate import check_run_checkpoint

    checkpoint = check_run_checkpoint(str(args.run), which)  # FileNotFoundError: one line (main)
    if not fs.is_remote(args.data):
        from storage import catalog

        if not catalog.read_rows(args.data, "tracks"):
            fail(
                f"no tracks in the catalog under {args.data}; build the corpus first (`ladle build-corpus SOURCE --data {args.data}`)"
            )
        if not fs.is_remote(checkpoint):
            from ladle_model.evaluation.evaluate import presets_missing, run_presets
            from ladle_model.evaluation.tracks import EmptySplitError, select_tracks
            from storage.config import expand_presets

            presets = list(expand_presets(args.preset or [])) or run_presets(args.run, which)
            missing = presets_missing(args.data, presets)
            if missing:
                fail(
                    f"{args.data} has no {', '.join(missing)} encodes to evaluate on; build them with "
                    f"`ladle build-corpus SOURCE --data {args.data}" + "".join(f" --preset {p}" for p in missing) + "`"
                )
            for preset in presets:  # an empty split is said here, and nothing is evaluated
                try:
                    select_tracks(args.data, preset, args.split)
                except EmptySplitError as e:
                    fail(e.hint("name another with --split val, or --split all for every track"))

    start_temporary_server()

    result = evaluate_ladle(
        run_dir=str(args.run),
        data=str(args.data),
        presets=args.preset,  # the flow expands groups
        max_tracks=args.max_tracks,
        split=args.split,
        checkpoint=which,
        visqol_excerpts=args.visqol_excerpts,
        batch_size=args.batch_size,
        device=args.device,
        progress=sys.stderr.isatty(),
    )
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    for preset, r in result["presets"].items():
        print(f"{preset} ({r['n_tracks']} {r['split']} tracks, step {r['step']}): {r['headline']}")
        trained = f"{r['n_trained_on']} of these tracks ({r['trained_on']})" if r["n_trained_on"] else r["trained_on"]
        print(f"  the model was trained on {trained}")
        for s in r["summary"]:
            print(f"  {s['name']:<18} input {_num(s['lossy_input']):>10}  model {_num(s['model']):>10}  {s['verdict']}")
        for failed in r["failed"]:
            print(f"  not evaluated: {failed['title']}: {failed['reason']}")
        print(f"  report: {r['paths']['report.html']}")
    return 0


def _num(v) -> str:
    return fmt_number(v)


# ----------------------------------------------------------------------------- table1


def add_table1(commands) -> None:
    p = commands.add_parser(
        "table1", help="reproduce the LadLe paper's Table I: four preprocessing approaches, trained and evaluated"
    )
    p.add_argument("sources", nargs="+", help="folders of lossless audio")
    p.add_argument(
        "--out", type=Path, required=True, help="folder for the data, the runs and table1.md / table1.parquet"
    )
    p.add_argument("--max-steps", type=positive_int, default=200, help="training steps per approach (the same for all)")
    deprecated_alias(p, "--steps", "--max-steps")
    p.add_argument("--model", default="ladle", choices=MODEL_NAMES, help="the model every approach trains")
    p.add_argument("--batch-size", type=positive_int, default=4, help="segments per training step")
    p.add_argument(
        "--overrides", default=None, help='JSON of TrainConfig overrides, e.g. \'{"model_overrides": {"stride": 4}}\''
    )
    p.add_argument(
        "--max-tracks", type=positive_int, default=None, metavar="N", help="evaluate on the first N test tracks only"
    )
    deprecated_alias(p, "--tracks", "--max-tracks")
    p.add_argument(
        "--visqol-excerpts", type=int, default=3, help="excerpts of 5 s per track scored with ViSQOL (0: skip)"
    )
    p.set_defaults(handler=_cmd_table1)


def _cmd_table1(args) -> int:
    missing = [s for s in args.sources if not Path(s).exists()]
    if missing:
        fail(f"source folder does not exist: {', '.join(map(str, missing))}")
    from flows.table1 import table1

    overrides = json_overrides(args.overrides)
    run_overrides = {
        **(overrides or {}),
        "model": args.model,
        "max_steps": args.max_steps,
        "batch_size": args.batch_size,
    }
    check_train_config("paper", run_overrides)  # as table1 itself checks it
    start_temporary_server()
    result = table1(
        sources=[str(s) for s in args.sources],
        out=str(args.out),
        steps=args.max_steps,
        model=args.model,
        batch_size=args.batch_size,
        overrides=overrides,
        max_tracks=args.max_tracks,
        visqol_excerpts=args.visqol_excerpts,
        progress=sys.stderr.isatty(),
    )
    print(Path(result["markdown"]).read_text())
    print(f"written: {result['markdown']}, {result['parquet']}")
    return 0
