"""`ladle demo-corpus`, `build-corpus`, `rip`, `catalog` and `prune`: each command's parser next to its handler.

    ladle build-corpus demo/library --data demo/data --preset vorbis-160 --preset paper-32k
    ladle catalog demo/data --json
    ladle prune --data demo/data --keep 3 --protect-run runs/champion

`build-corpus` run again on an unchanged library prints the last build's summary without starting
Prefect (storage/build_fingerprint.py says what counts as unchanged); `--force` runs the flow anyway.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from flows.cli.common import (
    LazyChoices,
    add_preset_option,
    deprecated_alias,
    deprecated_positional,
    fail,
    positive_float,
    positive_int,
    strategy_names,
)
from flows.cli.server import start_temporary_server

# ----------------------------------------------------------------------------- demo-corpus


def add_demo_corpus(commands) -> None:
    p = commands.add_parser("demo-corpus", help="render the bundled demo corpus, or with --pieces a training "
                                                "library, from public-domain scores as FLAC")  # fmt: skip
    p.add_argument("out", type=Path, help="folder the FLAC files are written to (files already rendered are kept)")
    p.add_argument(
        "--max-tracks",
        type=positive_int,
        default=None,
        metavar="N",
        help="render only the first N pieces of the small demo library (default 10)",
    )
    deprecated_alias(p, "--tracks", "--max-tracks")
    p.add_argument(
        "--pieces",
        type=positive_int,
        default=None,
        help="render a training library of this many works of the music21 corpus instead",
    )
    p.add_argument(
        "--soundfont",
        type=Path,
        action="append",
        default=None,
        help="General MIDI SoundFont (.sf2 or .sf3); repeat to render each piece through each (default TimGM6mb)",
    )
    p.add_argument(
        "--installed-soundfonts",
        action="store_true",
        help="with --pieces: also render through every General MIDI SoundFont installed here (docs/sources.md)",
    )
    p.add_argument(
        "--installed-drumkits",
        action="store_true",
        help="with --pieces: drums from the sampled kits installed here (hydrogen-drumkits) on half the works",
    )
    p.add_argument(
        "--dry",
        action="store_true",
        help="with --pieces: no production chain (room reverb, bus compression, EQ, stereo width, level)",
    )
    p.add_argument("--seed", type=int, default=None, help="with --pieces: draws the works and how they are played")
    p.add_argument("--max-seconds", type=positive_float, default=40.0, help="cut each piece at this length (s)")
    p.add_argument(
        "--workers", type=positive_int, default=None, help="with --pieces: rendering processes (default: CPUs)"
    )
    p.set_defaults(handler=_cmd_demo_corpus)


def _cmd_demo_corpus(args) -> int:
    from storage.sources.demo_corpus import write_demo_corpus
    from storage.sources.drums import installed_kits
    from storage.sources.library import LIBRARY_JSON, write_library
    from storage.sources.midi_render import RendererMissing, installed_soundfonts

    min_seconds = min(20.0, args.max_seconds)  # shorter pieces are looped up to 20 s
    if args.pieces is None:
        if args.seed is not None or args.workers is not None or len(args.soundfont or []) > 1:
            fail("--seed, --workers and several --soundfont need --pieces")
        if args.installed_soundfonts or args.installed_drumkits or args.dry:
            fail("--installed-soundfonts, --installed-drumkits and --dry need --pieces")
        soundfont = args.soundfont[0] if args.soundfont else None
        try:
            paths = write_demo_corpus(args.out, n_tracks=args.max_tracks or 10, max_seconds=args.max_seconds,
                                      min_seconds=min_seconds, soundfont=soundfont, progress=True)  # fmt: skip
        except (FileNotFoundError, ValueError, RendererMissing) as e:
            fail(str(e))
        print(f"{len(paths)} demo tracks in {args.out}")
        return 0
    if args.max_tracks is not None:
        fail("--max-tracks is for the small demo library; --pieces renders the training library")
    soundfonts = list(args.soundfont or [])
    if args.installed_soundfonts:
        installed = [p for p in installed_soundfonts() if p.stem not in {s.stem for s in soundfonts}]
        if not installed:
            print("no General MIDI SoundFont installed (docs/sources.md lists them)", file=sys.stderr)
        soundfonts += installed
    drumkits = installed_kits() if args.installed_drumkits else []
    if args.installed_drumkits and not drumkits:
        print("no sampled drum kit installed (apt install hydrogen-drumkits); rendering without drums", file=sys.stderr)
    try:
        result = write_library(args.out, args.pieces, soundfonts=soundfonts or None, seed=args.seed or 0,
                               max_seconds=args.max_seconds, min_seconds=min_seconds, workers=args.workers,
                               progress=True, production=not args.dry, drumkits=drumkits)  # fmt: skip
    except (FileNotFoundError, ValueError, RendererMissing) as e:
        fail(str(e))
    n_soundfonts = len(soundfonts or [None])
    print(
        f"{len(result.works)} pieces x {n_soundfonts} SoundFont(s): {len(result.paths)} files, "
        f"{result.audio_seconds / 60:.1f} min of audio in {args.out} ({result.n_rendered} rendered now)"
    )
    if result.skipped:
        print(f"{len(result.skipped)} works skipped (reasons in {args.out / LIBRARY_JSON})")
    if len(result.works) < args.pieces:
        print(f"the music21 corpus ran out: {len(result.works)} of {args.pieces} pieces", file=sys.stderr)
        return 1
    return 0


# ----------------------------------------------------------------------------- build-corpus


def _add_build_options(p: argparse.ArgumentParser) -> None:
    # Choices named lazily: building the parser must not import storage.config (numpy) for every command.
    add_preset_option(
        p,
        help="lossy codec setting to encode with, repeatable (default vorbis-160); a group (wideband) stands for its presets",
    )
    p.add_argument(
        "--strategy",
        choices=LazyChoices(strategy_names),
        metavar="STRATEGY",
        default="resample",
        help="how a segment is made from the lossy decode; one of %(choices)s",
    )
    p.add_argument("--segment-seconds", type=positive_float, default=1.0, help="length of each shard segment")
    p.add_argument(
        "--hop-seconds",
        type=positive_float,
        default=None,
        help="start-to-start distance of segments (default: no overlap)",
    )
    p.add_argument("--sample-rate", type=positive_int, default=44100, help="the dataset's rate")
    p.add_argument("--group-by-album", action="store_true", help="assign splits by album, not by track")
    p.add_argument("--shard-size-mb", type=positive_float, default=256.0, help="target size of each shard (MB)")
    p.add_argument(
        "--task-runner",
        choices=["threads", "processes", "dask"],
        default="threads",
        help="how the flow's tasks run in parallel",
    )
    p.add_argument("--workers", type=positive_int, default=None, help="parallel workers (default: CPU count)")
    p.add_argument(
        "--dask-address",
        default=None,
        metavar="tcp://HOST:PORT",
        help="an existing Dask scheduler (implies --task-runner dask)",
    )
    p.add_argument(
        "--wait-for-lock",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="if another build is writing DATA, wait this long for it (default 0: fail at once)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="run the flow even when nothing changed since the last build of the same command",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def add_build_corpus(commands) -> None:
    p = commands.add_parser("build-corpus", help="run the build-corpus flow: ingest, encode, align, shard "
                                                 "(nothing to run when nothing changed)")  # fmt: skip
    p.add_argument("sources", nargs="+", help="folders (or files) of lossless audio; local or s3://bucket/prefix")
    p.add_argument(
        "--data", required=True, help="data folder: where encodes, catalog and shards go; local or s3://bucket/prefix"
    )
    _add_build_options(p)
    p.set_defaults(handler=_cmd_build_corpus)


def _cmd_build_corpus(args) -> int:
    from storage.build_fingerprint import build_fingerprint, record_build, recorded_hashed, unchanged_summary
    from storage.config import expand_presets
    from storage.fs import is_remote

    started = time.perf_counter()
    missing = [s for s in args.sources if not is_remote(s) and not Path(s).exists()]
    if missing:
        fail(f"source folder does not exist: {', '.join(map(str, missing))}")
    sources, data = [str(s) for s in args.sources], str(args.data)
    presets = list(expand_presets(args.preset or ["vorbis-160"]))
    params = dict(presets=presets, strategy=args.strategy, segment_seconds=args.segment_seconds,
                  hop_seconds=args.hop_seconds, sample_rate=args.sample_rate, group_by_album=args.group_by_album,
                  shard_target_mb=args.shard_size_mb)  # fmt: skip
    if not args.force:  # nothing changed since the last build: no Prefect server, no flow run
        unchanged = unchanged_summary(data, build_fingerprint(sources, data, params, hashed=recorded_hashed(data)))
        if unchanged is not None:
            unchanged["seconds"] = round(time.perf_counter() - started, 2)
            _print_summary(unchanged, args.json)
            return 0
    # Taken before the flow runs: a source changed while it runs makes the next build run again.
    fingerprint = build_fingerprint(sources, data, params)

    from flows.build_corpus import build_corpus, corpus_config

    if args.dask_address:
        args.task_runner = "dask"
    corpus_config(**params)  # a bad combination is one line here, before any flow run
    start_temporary_server()
    summary = build_corpus(
        sources=sources,
        data=data,
        **params,
        task_runner=args.task_runner,
        workers=args.workers,
        dask_address=args.dask_address,
        wait_for_lock_seconds=args.wait_for_lock,
        progress=sys.stderr.isatty(),
    )
    record_build(data, fingerprint, summary)
    _print_summary(summary, args.json)
    return 0


def _print_summary(summary: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    _print_build_summary(summary)
    if "unchanged_since" in summary:
        print(f"unchanged since the build that finished at {summary['unchanged_since']}: the flow did not run "
              "(--force runs it)")  # fmt: skip


def _print_build_summary(summary: dict) -> None:
    print(
        f"tracks: {summary['n_tracks']}  duplicates: {summary['duplicates']}  quarantined: {summary['n_quarantined']}"
    )
    print(
        f"encoded: {summary['n_encoded']}  reused from cache: {summary['n_encodes_reused']}  shards written: {summary['n_shards_written']}"
    )
    for q in summary["quarantine"]:
        print(f"  quarantined [{q['stage']}] {q['path']}: {q['reason']}")
    for d in summary["datasets"]:
        splits = "  ".join(
            f"{s}: {v['tracks']} tracks/{v['segments']} segments/{v['n_shards']} shards" for s, v in d["splits"].items()
        )
        print(f"dataset {d['version']} ({d['preset']}, {d['strategy']}, {d['segment_seconds']} s): {splits}")
        print(f"  {d['folder']}")
    line = f"this run: {summary['seconds']:.1f} s"
    reference = summary.get("last_encoding_run_seconds")
    if summary["n_encoded"] == 0 and reference:
        line += f"; last run that encoded: {reference:.1f} s ({summary['seconds'] / reference:.0%} of it)"
    print(line)


# ----------------------------------------------------------------------------- rip


def add_rip(commands) -> None:
    p = commands.add_parser("rip", help="rip an audio CD with cdparanoia into an image + CUE sheet (and build it)")
    p.add_argument("device", help="the CD drive, e.g. /dev/cdrom")
    p.add_argument("--out", required=True, help="folder for the image, CUE sheet and log")
    p.add_argument("--read-offset", type=int, default=0, help="the drive's read offset in samples (AccurateRip's list)")
    p.add_argument("--data", default=None, help="also build the ripped disc into this data folder")
    _add_build_options(p)
    p.set_defaults(handler=_cmd_rip)


def _cmd_rip(args) -> int:
    from storage.sources.paranoia import RipError, rip_disc

    try:
        sheet = rip_disc(args.device, Path(args.out), read_offset_samples=args.read_offset)
    except RipError as e:
        fail(str(e), status=1)
    print(f"ripped {args.device} to {sheet}")
    if args.data:
        args.sources, args.preset = [str(args.out)], args.preset
        return _cmd_build_corpus(args)
    return 0


# ----------------------------------------------------------------------------- catalog


def add_catalog(commands) -> None:
    p = commands.add_parser("catalog", help="summarise a data folder's catalog")
    p.add_argument("--data", required=True, help="a data folder, local or s3://bucket/prefix")
    deprecated_positional(p, "--data")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(handler=_cmd_catalog)


def _cmd_catalog(args) -> int:
    import tempfile

    from storage import fs
    from storage.catalog import catalog_summary

    data = str(args.data)
    if fs.is_remote(data):
        local = Path(tempfile.mkdtemp(prefix="ladle-catalog-"))
        if not fs.pull(fs.join(data, "catalog"), local / "catalog"):
            fail(f"no catalog under {data}")
        summary = catalog_summary(local, location=data)
    elif not Path(data).is_dir():
        fail(f"no data folder at {data}")
    else:
        summary = catalog_summary(data)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{summary['tracks']} tracks, {summary['duplicates']} duplicates, {len(summary['quarantine'])} quarantined")
    for q in summary["quarantine"]:
        print(f"  quarantined [{q['stage']}] {q['path']}: {q['reason']}")
    for d in summary["datasets"]:
        counts = ", ".join(f"{s} {v['tracks']}/{v['segments']}/{v['n_shards']}" for s, v in d["splits"].items())
        print(
            f"{d['version']}  {d['preset']:<11} {d['strategy']:<12} {d['segment_seconds']} s  tracks/segments/shards: {counts}"
        )
    return 0


# ----------------------------------------------------------------------------- prune


def add_prune(commands) -> None:
    p = commands.add_parser(
        "prune", help="remove old dataset versions and the shards only they used (never the champion's)"
    )
    p.add_argument(
        "--data", required=True, help="the data folder whose versions to prune: a local folder or s3://bucket/prefix"
    )
    p.add_argument("--keep", type=positive_int, required=True, help="newest versions to keep of each preset")
    p.add_argument(
        "--protect-run",
        action="append",
        default=[],
        metavar="RUN",
        help="a run folder or checkpoint whose dataset versions are never removed (repeat for several)",
    )
    p.add_argument(
        "--protect", action="append", default=[], metavar="VERSION", help="a dataset version never removed (repeat)"
    )
    p.add_argument(
        "--grace-minutes",
        type=float,
        default=None,
        metavar="MINUTES",
        help="never delete a pooled shard or unfinished version folder younger than this, which a build on another "
        "machine may be uploading (default: 60 for an s3:// data folder, 0 for a local one)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=_cmd_prune)


def _cmd_prune(args) -> int:
    import dataclasses

    from ladle_model.runs.champion import champion_versions
    from ladle_model.runs.resume import run_dataset_versions
    from storage import fs
    from storage.versions import prune

    if args.grace_minutes is not None and args.grace_minutes < 0:
        fail(f"--grace-minutes must be 0 or more, got {args.grace_minutes}")
    for run in args.protect_run:
        if not fs.exists(run):
            fail(f"no run folder or checkpoint at {run} (--protect-run)")
    try:
        # the champion (DATA/models/champion/) is always protected, as the prune-datasets flow protects it
        protected = set(args.protect) | run_dataset_versions(args.protect_run) | champion_versions(args.data)
        report = prune(args.data, keep=args.keep, protected=protected, grace_minutes=args.grace_minutes)
    except ValueError as e:  # a bad --keep, or a file that is not a checkpoint
        fail(str(e))
    print(json.dumps(dataclasses.asdict(report), indent=2) if args.json else report.summary())
    return 0
