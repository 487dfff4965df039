"""`ladle listen`: prepare a blind listening test and serve it, or summarise its ratings. Arguments only; the work is elsewhere.

ladle listen --run demo/runs/drrn1d --data demo/data                  # prepare, then serve on 127.0.0.1:8765
ladle listen --run runs/a --data data --compare runs/b --scale mushra --excerpts 6
ladle listen --run demo/runs/drrn1d --results                         # mean, 95 % CI, n per condition; box plot; artifact
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import sys
from pathlib import Path

from flows.cli.common import add_preset_option, note_deprecated, warn_deprecated


def _error(message: str) -> int:
    print(f"ladle listen: error: {message}", file=sys.stderr)
    return 2


def add_listen(subparsers) -> argparse.ArgumentParser:
    """Add the `listen` command to an argparse subparsers object."""
    p = subparsers.add_parser(
        "listen", help="a blind listening test in the browser; --run RUN --results summarises its ratings"
    )
    p.add_argument(
        "--run",
        type=Path,
        help="the run whose restored output is tested, or whose ratings --results summarises; the test lives in RUN/listening/",
    )
    p.add_argument("--data", type=Path, help="the data folder the run's corpus was built in (its test split is used)")
    add_preset_option(p, help="repeatable (default: the preset the run was trained on)")
    p.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="RUN2",
        help="another run's output as one more condition (repeatable)",
    )
    p.add_argument("--excerpts", type=int, default=8, help="number of excerpts")
    p.add_argument("--excerpt-seconds", type=float, default=8.0, help="excerpt length, 6-10 s")
    p.add_argument(
        "--scale",
        choices=["ladle", "mushra"],
        default="ladle",
        help="ladle: -5..+5 against the lossy input (the paper's); mushra: 0..100 (ITU-R BS.1534)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port to serve the test on")
    p.add_argument(
        "--no-visqol",
        action="store_true",
        help="skip ViSQOL on the excerpts (it costs ~0.7 s of CPU per second of audio)",
    )
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where the model runs (auto: CUDA if there is a GPU)",
    )
    p.add_argument("--prepare-only", action="store_true", help="prepare RUN/listening/ and exit without serving")
    p.add_argument(
        "--results",
        nargs="?",
        const=True,
        default=False,
        metavar="RUN",
        help="summarise RUN's ratings instead of serving (`--results RUN` is the deprecated spelling of "
        "`--run RUN --results`)",
    )
    p.add_argument(
        "--exclude-flagged", action="store_true", help="with --results: leave out listeners flagged by post-screening"
    )
    p.add_argument(
        "--screen-threshold",
        type=float,
        default=None,
        help="with --results: hidden-reference rating below which a trial counts as missed (mushra 90, ladle 0)",
    )
    note_deprecated(p, "ladle listen --results RUN", "ladle listen --run RUN --results")  # read in run_listen
    p.add_argument("--no-artifact", action="store_true", help="with --results: do not publish the Prefect artifact")
    p.add_argument("--json", action="store_true", help="with --results: print the summary as JSON")
    p.set_defaults(handler=run_listen)
    return p


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _results(args) -> int:
    from ladle_model.listening.results import format_results, summarise_results

    if args.run is None:
        return _error("give the run whose ratings to summarise: --run RUN --results")
    if not args.run.is_dir():
        return _error(f"no run folder at {args.run}")
    try:
        summary = summarise_results(args.run, args.exclude_flagged, args.screen_threshold)
    except FileNotFoundError as e:
        return _error(str(e))
    if summary["table"] and not args.no_artifact:
        # The artifact belongs to a flow run (Prefect deprecates artifacts made outside one).
        from flows.cli.server import start_temporary_server
        from flows.listening_results import listening_results

        start_temporary_server()
        summary = listening_results(str(args.run), args.exclude_flagged, args.screen_threshold)
    print(json.dumps(summary, indent=2, default=str) if args.json else format_results(summary))
    return 0


def run_listen(args) -> int:
    """The handler: --run RUN --results, or prepare RUN/listening/ and serve it until Ctrl-C."""
    if args.results not in (True, False):  # the old `--results RUN`
        if args.run is not None:
            return _error("give the run once, as --run RUN --results")
        warn_deprecated(f"ladle listen --results {args.results}", f"ladle listen --run {args.results} --results")
        args.run, args.results = Path(args.results), True
    if args.results:
        return _results(args)
    if args.run is None or args.data is None:
        return _error("give --run RUN --data DATA to prepare and serve a test, or --run RUN --results")
    for flag, folder in (("--run", args.run), ("--data", args.data), *(("--compare", Path(c)) for c in args.compare)):
        if not folder.is_dir():
            return _error(f"{flag}: no folder at {folder}")
    if not 1 <= args.port <= 65535:
        return _error(f"--port must be 1-65535, got {args.port}")
    if not args.prepare_only and not _port_free(args.host, args.port):
        return _error(
            f"cannot listen on {args.host}:{args.port} (in use, or not an address of this machine); try --port"
        )

    from ladle_model.listening.app import serve
    from ladle_model.listening.prepare import ListenConfig, prepare_test

    try:
        cfg = ListenConfig(
            presets=args.preset or [],
            compare=[str(c) for c in args.compare],
            n_excerpts=args.excerpts,
            excerpt_seconds=args.excerpt_seconds,
            scale=args.scale,
            visqol=not args.no_visqol,
            device=args.device,
        )
        visqol = "" if args.no_visqol else " (ViSQOL on every excerpt takes a while on CPU; --no-visqol skips it)"
        print(f"preparing the listening test in {args.run / 'listening'}{visqol} ...", file=sys.stderr)
        test = prepare_test(args.run, args.data, cfg)
    except (ValueError, FileNotFoundError) as e:
        return _error(str(e))
    print(f"{len(test.trials)} excerpts, conditions {', '.join(test.conditions)} ({test.scale} scale)")
    if args.prepare_only:
        return 0
    if not _is_loopback(args.host):
        print(
            f"warning: {args.host} is not a loopback address: anyone who can reach it can take the test",
            file=sys.stderr,
        )
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"listening test at http://{shown}:{args.port}/  (Ctrl-C stops it; ratings go to {args.run / 'listening' / 'ratings.parquet'})",
        flush=True,
    )
    serve(args.run, args.host, args.port)
    print(f"stopped; `ladle listen --run {args.run} --results` summarises the ratings")
    return 0
