"""The `ladle` command: parses arguments and calls a flow or library function, nothing more.

    ladle demo-corpus demo/library
    ladle build-corpus demo/library --data demo/data --preset vorbis-160 --preset paper-32k
    ladle catalog demo/data --json
    ladle train demo/data --run runs/demo --model ladle --max-steps 200
    ladle evaluate --run runs/demo --data demo/data --preset vorbis-160
    ladle enhance song.mp3 -o song.flac --checkpoint runs/demo
    ladle table1 demo/library --out table1 --steps 200

Flows run on Prefect's embedded server (a temporary local server with SQLite under PREFECT_HOME)
unless PREFECT_API_URL points at a real one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one clear line and exit status 2, not a usage dump
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _fail(message: str, status: int = 2):
    print(f"ladle: error: {message}", file=sys.stderr)
    raise SystemExit(status)


def _cmd_demo_corpus(args) -> int:
    from storage.demo_corpus import write_demo_corpus

    paths = write_demo_corpus(args.out, n_tracks=args.tracks, progress=True)
    print(f"{len(paths)} demo tracks in {args.out}")
    return 0


def _print_build_summary(summary: dict) -> None:
    print(f"tracks: {summary['n_tracks']}  duplicates: {summary['duplicates']}  quarantined: {summary['n_quarantined']}")
    print(f"encoded: {summary['n_encoded']}  reused from cache: {summary['n_encodes_reused']}  shards written: {summary['n_shards_written']}")
    for q in summary["quarantine"]:
        print(f"  quarantined [{q['stage']}] {q['path']}: {q['reason']}")
    for d in summary["datasets"]:
        splits = "  ".join(f"{s}: {v['tracks']} tracks/{v['segments']} segments/{v['shards']} shards" for s, v in d["splits"].items())
        print(f"dataset {d['version']} ({d['preset']}, {d['strategy']}, {d['segment_seconds']} s): {splits}")
        print(f"  {d['folder']}")
    line = f"this run: {summary['seconds']:.1f} s"
    reference = summary.get("last_encoding_run_seconds")
    if summary["n_encoded"] == 0 and reference:
        line += f"; last run that encoded: {reference:.1f} s ({summary['seconds'] / reference:.0%} of it)"
    print(line)


def _cmd_build_corpus(args) -> int:
    from storage.fs import is_remote

    missing = [s for s in args.sources if not is_remote(s) and not Path(s).exists()]
    if missing:
        _fail(f"source folder does not exist: {', '.join(map(str, missing))}")
    from flows.build_corpus import build_corpus, corpus_config

    presets = args.preset or ["vorbis-160"]
    if args.dask_address:
        args.task_runner = "dask"
    corpus_config(
        presets, args.strategy, args.segment_seconds, args.hop_seconds, args.sample_rate, args.group_by_album, args.shard_size_mb
    )
    summary = build_corpus(
        sources=[str(s) for s in args.sources],
        data=str(args.data),
        presets=presets,
        strategy=args.strategy,
        segment_seconds=args.segment_seconds,
        hop_seconds=args.hop_seconds,
        sample_rate=args.sample_rate,
        group_by_album=args.group_by_album,
        shard_target_mb=args.shard_size_mb,
        task_runner=args.task_runner,
        workers=args.workers,
        dask_address=args.dask_address,
        wait_for_lock_seconds=args.wait_for_lock,
        progress=sys.stderr.isatty(),
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_build_summary(summary)
    return 0


def _cmd_catalog(args) -> int:
    import tempfile

    from storage import fs
    from storage.catalog import catalog_summary

    data = str(args.data)
    if fs.is_remote(data):
        local = Path(tempfile.mkdtemp(prefix="ladle-catalog-"))
        if not fs.pull(fs.join(data, "catalog"), local / "catalog"):
            _fail(f"no catalog under {data}")
        summary = catalog_summary(local, location=data)
    elif not Path(data).is_dir():
        _fail(f"no data folder at {data}")
    else:
        summary = catalog_summary(data)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{summary['tracks']} tracks, {summary['duplicates']} duplicates, {len(summary['quarantine'])} quarantined")
    for q in summary["quarantine"]:
        print(f"  quarantined [{q['stage']}] {q['path']}: {q['reason']}")
    for d in summary["datasets"]:
        counts = ", ".join(f"{s} {v['tracks']}/{v['segments']}/{len(v['shards'])}" for s, v in d["splits"].items())
        print(f"{d['version']}  {d['preset']:<11} {d['strategy']:<12} {d['segment_seconds']} s  tracks/segments/shards: {counts}")
    return 0


def _cmd_train(args) -> int:
    from flows.train_ladle import train_ladle
    from storage.manifest import list_datasets

    try:
        overrides = json.loads(args.overrides) if args.overrides else None
    except json.JSONDecodeError as e:
        _fail(f"--overrides is not valid JSON: {e}")
    if not list_datasets(str(args.data)):  # before any flow run, so bad usage is one line, not a traceback
        _fail(f"no dataset under {args.data}; build one first with `ladle build-corpus SOURCE --data {args.data}`")
    summary = train_ladle(
        data=str(args.data),
        run_dir=str(args.run),
        model=args.model,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        segment_seconds=args.segment_seconds,
        dataset_version=args.dataset,
        preset=args.preset,
        overrides=overrides,
    )
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    print(f"{summary['model']} trained to step {summary['step']} ({summary['epochs']} epochs) on dataset {summary['dataset_version']}")
    print(f"last train loss: {summary['last_train_loss']}  best validation loss: {summary['best_val_loss']}")
    print(f"checkpoint: {summary['checkpoint']}\nloss curve: {summary['loss_curve']}")
    return 0


def _cmd_rip(args) -> int:
    from storage.disc import RipError, rip_disc

    try:
        sheet = rip_disc(args.device, Path(args.out), read_offset_samples=args.read_offset)
    except RipError as e:
        _fail(str(e), status=1)
    print(f"ripped {args.device} to {sheet}")
    if args.data:
        args.sources, args.preset = [str(args.out)], args.preset
        return _cmd_build_corpus(args)
    return 0


def _cmd_enhance(args) -> int:
    from ladle_model.enhance import EnhanceError, EnhanceResult, enhance_path, load_enhancer, result_dict
    from storage.ffmpeg import FFmpegError

    source, output = Path(args.input), Path(args.output)
    if not source.exists():
        _fail(f"no file or folder at {source}")
    if source.is_dir() and output.exists() and not output.is_dir():
        _fail(f"{source} is a folder, so -o must be a folder too, not the file {output}")
    if source.is_file() and not output.is_dir() and output.suffix.lower() not in (".flac", ".wav"):
        _fail(f"-o must end in .flac or .wav (or be a folder), got {output}")
    try:
        enhancer = load_enhancer(args.checkpoint, device=args.device, window_seconds=args.window_seconds)
        results = enhance_path(enhancer.model, enhancer.spec, source, output, suffix=f".{args.format}", progress=sys.stderr.isatty(),
                               batch_size=args.batch_size, output_sample_rate=args.sample_rate, subtype=f"PCM_{args.bits}")
    except (EnhanceError, FFmpegError, ValueError) as e:
        _fail(str(e), status=1)
    for r in results:
        if args.json:
            continue
        if isinstance(r, EnhanceResult):
            print(f"{r.source} -> {r.output} ({r.duration_s:.1f} s at {r.sample_rate} Hz, {r.realtime_factor:.1f}x real time)")
        else:
            print(f"skipped {r.source}: {r.reason}")
    if args.json:
        print(json.dumps([result_dict(r) for r in results], indent=2))
    return 0 if any(isinstance(r, EnhanceResult) for r in results) or not results else 1


def _cmd_evaluate(args) -> int:
    if not Path(args.run).is_dir():
        _fail(f"no run folder at {args.run}")
    if not Path(args.data).is_dir():
        _fail(f"no data folder at {args.data}")
    from flows.evaluate_ladle import evaluate_ladle

    result = evaluate_ladle(run_dir=str(args.run), data=str(args.data), presets=args.preset, max_tracks=args.tracks, split=args.split,
                            checkpoint=args.checkpoint, visqol_excerpts=args.visqol_excerpts, batch_size=args.batch_size,
                            device=args.device, progress=sys.stderr.isatty())
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    for preset, r in result["presets"].items():
        print(f"{preset} ({r['n_tracks']} {r['split']} tracks, step {r['step']}): {r['headline']}")
        for s in r["summary"]:
            print(f"  {s['name']:<18} input {_num(s['lossy_input']):>10}  model {_num(s['model']):>10}  {s['verdict']}")
        print(f"  report: {r['paths']['report.html']}")
    return 0


def _num(v) -> str:
    return "n/a" if v is None else f"{v:.4g}"


def _cmd_table1(args) -> int:
    missing = [s for s in args.sources if not Path(s).exists()]
    if missing:
        _fail(f"source folder does not exist: {', '.join(map(str, missing))}")
    from flows.table1 import table1

    overrides = json.loads(args.overrides) if args.overrides else None
    result = table1(sources=[str(s) for s in args.sources], out=str(args.out), steps=args.steps, model=args.model,
                    batch_size=args.batch_size, overrides=overrides, max_tracks=args.tracks, visqol_excerpts=args.visqol_excerpts,
                    progress=sys.stderr.isatty())
    print(Path(result["markdown"]).read_text())
    print(f"written: {result['markdown']}, {result['parquet']}")
    return 0


def _add_build_options(p: argparse.ArgumentParser) -> None:
    from storage.config import PRESETS, STRATEGIES

    p.add_argument("--preset", action="append", choices=sorted(PRESETS), help="repeatable; default vorbis-160")
    p.add_argument("--strategy", choices=STRATEGIES, default="resample")
    p.add_argument("--segment-seconds", type=_positive_float, default=1.0)
    p.add_argument("--hop-seconds", type=_positive_float, default=None)
    p.add_argument("--sample-rate", type=_positive_int, default=44100, help="the dataset's rate")
    p.add_argument("--group-by-album", action="store_true", help="assign splits by album, not by track")
    p.add_argument("--shard-size-mb", type=_positive_float, default=256.0)
    p.add_argument("--task-runner", choices=["threads", "processes", "dask"], default="threads")
    p.add_argument("--workers", type=_positive_int, default=None, help="parallel workers (default: CPU count)")
    p.add_argument("--dask-address", default=None, metavar="tcp://HOST:PORT",
                   help="an existing Dask scheduler (implies --task-runner dask)")
    p.add_argument("--wait-for-lock", type=float, default=0.0, metavar="SECONDS",
                   help="if another build is writing DATA, wait this long for it (default: fail at once)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


BENCHMARKS = ("corpus", "shards", "train", "enhance", "memory", "scaling")


def _cmd_bench(args) -> int:
    import importlib

    importlib.import_module(f"bench.{args.name}").main(args.args)
    return 0


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ladle", description="Paired lossless/lossy corpora and restoration models.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = commands.add_parser("demo-corpus", help="render the bundled demo corpus (public-domain scores) as FLAC")
    p.add_argument("out", type=Path)
    p.add_argument("--tracks", type=_positive_int, default=10)
    p.set_defaults(handler=_cmd_demo_corpus)

    p = commands.add_parser("build-corpus", help="run the build-corpus flow: ingest, encode, align, shard")
    p.add_argument("sources", nargs="+", help="folders (or files) of lossless audio; local or s3://bucket/prefix")
    p.add_argument("--data", required=True, help="where encodes, catalog and shards go; local or s3://bucket/prefix")
    _add_build_options(p)
    p.set_defaults(handler=_cmd_build_corpus)

    p = commands.add_parser("rip", help="rip an audio CD with cdparanoia into an image + CUE sheet (and build it)")
    p.add_argument("device", help="the CD drive, e.g. /dev/cdrom")
    p.add_argument("--out", required=True, help="folder for the image, CUE sheet and log")
    p.add_argument("--read-offset", type=int, default=0, help="the drive's read offset in samples (AccurateRip's list)")
    p.add_argument("--data", default=None, help="also build the ripped disc into this data folder")
    _add_build_options(p)
    p.set_defaults(handler=_cmd_rip)

    p = commands.add_parser("bench", help="run a benchmark and append its table to BENCHMARKS.md")
    p.add_argument("name", choices=BENCHMARKS)
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the benchmark (see `ladle bench NAME --help`)")
    p.set_defaults(handler=_cmd_bench)

    p = commands.add_parser("catalog", help="summarise a data folder's catalog")
    p.add_argument("data", help="a data folder, local or s3://bucket/prefix")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_cmd_catalog)

    p = commands.add_parser("train", help="run the train-ladle flow on a dataset's shards")
    p.add_argument("data", help="a data folder, local or s3://bucket/prefix")
    p.add_argument("--run", required=True, help="run folder (checkpoints, logs), local or s3://; resumed if it exists")
    p.add_argument("--model", default="ladle", choices=["ladle", "drrn1d", "srresnet1d", "resunit"])
    p.add_argument("--epochs", type=_positive_int, default=20)
    p.add_argument("--max-steps", type=_positive_int, default=None)
    p.add_argument("--batch-size", type=_positive_int, default=4)
    p.add_argument("--segment-seconds", type=_positive_float, default=None, help="random crop of each shard segment")
    p.add_argument("--dataset", default=None, help="dataset version (default: the only one, or pick with --preset)")
    p.add_argument("--preset", default=None)
    p.add_argument("--overrides", default=None, help='JSON of TrainConfig overrides, e.g. \'{"lr": 3e-4}\'')
    p.add_argument("--json", action="store_true", help="print the whole summary (with the resolved config) as JSON")
    p.set_defaults(handler=_cmd_train)

    p = commands.add_parser("enhance", help="restore lossy audio (a file or a folder) with a trained model")
    p.add_argument("input", help="any file FFmpeg reads (MP3, Ogg, M4A, Opus, WAV, FLAC), or a folder of them")
    p.add_argument("-o", "--output", required=True, help="a .flac or .wav file, or a folder (names mirrored)")
    p.add_argument("--checkpoint", required=True, help="a checkpoint file, or a run folder (its best.pt, else last.pt)")
    p.add_argument("--format", choices=["flac", "wav"], default="flac", help="output format for folders (default flac)")
    p.add_argument("--bits", type=int, choices=[16, 24], default=24, help="output sample width (default 24)")
    p.add_argument("--sample-rate", type=_positive_int, default=None, help="output rate (default: the input's own)")
    p.add_argument("--window-seconds", type=_positive_float, default=None, help="window length (default: the training segment)")
    p.add_argument("--batch-size", type=_positive_int, default=8, help="windows per forward pass")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_cmd_enhance)

    p = commands.add_parser("evaluate", help="run the evaluate-ladle flow: whole test tracks, model vs its lossy input")
    p.add_argument("--run", type=Path, required=True, help="the run folder (checkpoints, feature net); the report goes to RUN/eval/")
    p.add_argument("--data", type=Path, required=True, help="the data folder the run's corpus was built in")
    p.add_argument("--preset", action="append", help="repeatable; default: the preset the run was trained on")
    p.add_argument("--tracks", type=_positive_int, default=None, help="evaluate only the first N tracks")
    p.add_argument("--split", choices=["train", "val", "test"], default="test")
    p.add_argument("--checkpoint", default="best", help="best (default; last.pt if there is no best.pt), last, or a path")
    p.add_argument("--visqol-excerpts", type=int, default=3, help="excerpts of 5 s per track scored with ViSQOL (0: skip)")
    p.add_argument("--batch-size", type=_positive_int, default=8)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_cmd_evaluate)

    p = commands.add_parser("table1", help="reproduce the LadLe paper's Table I: four preprocessing approaches, trained and evaluated")
    p.add_argument("sources", nargs="+", help="folders of lossless audio")
    p.add_argument("--out", type=Path, required=True, help="folder for the data, the runs and table1.md / table1.parquet")
    p.add_argument("--steps", type=_positive_int, default=200, help="training steps per approach (the same for all)")
    p.add_argument("--model", default="ladle", choices=["ladle", "drrn1d", "srresnet1d", "resunit"])
    p.add_argument("--batch-size", type=_positive_int, default=4)
    p.add_argument("--overrides", default=None, help='JSON of TrainConfig overrides, e.g. \'{"model_overrides": {"stride": 4}}\'')
    p.add_argument("--tracks", type=_positive_int, default=None, help="evaluate on the first N test tracks only")
    p.add_argument("--visqol-excerpts", type=int, default=3)
    p.set_defaults(handler=_cmd_table1)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    args = build_parser().parse_args(argv)
    from storage.config import ConfigError
    from storage.lock import LockHeld

    try:
        return args.handler(args)
    except (ConfigError, FileNotFoundError, NotADirectoryError) as e:
        _fail(str(e))
    except LockHeld as e:
        _fail(str(e), status=3)
    except KeyboardInterrupt:
        _fail("interrupted; everything written so far is complete, run the same command again to resume", 130)


if __name__ == "__main__":
    sys.exit(main())
