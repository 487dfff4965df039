"""The `ladle` command: parses arguments and calls a flow or library function, nothing more.

    ladle demo-corpus demo/library
    ladle build-corpus demo/library --data demo/data --preset vorbis-160 --preset paper-32k
    ladle catalog --data demo/data --json
    ladle train --data demo/data --run runs/demo --model ladle --max-steps 200
    ladle evaluate --run runs/demo --data demo/data --preset vorbis-160
    ladle enhance song.mp3 -o song.flac --run runs/demo
    ladle table1 demo/library --out table1 --max-steps 200
    ladle listen --run runs/demo --data demo/data

Flows run on Prefect's embedded server (a temporary local server with SQLite under PREFECT_HOME,
started by flows/cli/server.py so it ends with the command) unless PREFECT_API_URL points at a real
one. No command imports Prefect, torch or pandas before it needs them, so `ladle --help` and
`ladle catalog` are quick, and a no-op `build-corpus` skips the flow. The console shows progress
bars, warnings and the command's summary; `--verbose` adds Prefect's per-task log lines (the
Prefect UI and logs always have them). Each command's parser and handler sit together:
flows/cli/corpus.py (demo-corpus, build-corpus, rip, catalog, prune), flows/cli/train.py (train, calibrate),
flows/cli/model.py (enhance, evaluate, table1), flows/cli/models.py (models, and the word `champion`); this module
assembles them and maps errors to one line and an exit status.
One vocabulary across commands: `--data DATA`, `--run RUN`, `--checkpoint FILE`, `--max-steps`,
`--max-tracks`, `--force`; an old spelling works for one release with a notice (common.deprecated_alias).
`python -m flows.cli.reference` writes docs/cli.md from these parsers.
"""

from __future__ import annotations

import argparse
import os

from flows.cli import corpus, model, models, train
from flows.cli.common import Parser, VersionAction, fail
from flows.cli.listen import add_listen

# ----------------------------------------------------------------------------- bench


BENCHMARKS = (
    "corpus",
    "shards",
    "train",
    "enhance",
    "memory",
    "scaling",
    "resample",
    "task_overhead",
    "soak",
    "quality",
    "fill_gain",
)


def add_bench(commands) -> None:
    p = commands.add_parser("bench", help="run a benchmark and append its table to bench/log/NAME.md")
    p.add_argument("name", choices=BENCHMARKS, help="the benchmark: one of %(choices)s")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the benchmark (see `ladle bench NAME --help`)")
    p.set_defaults(handler=_cmd_bench)


def _cmd_bench(args) -> int:
    import importlib

    importlib.import_module(f"bench.{args.name}").main(args.args)
    return 0


COMMANDS = (
    corpus.add_demo_corpus,
    corpus.add_build_corpus,
    corpus.add_rip,
    add_bench,
    corpus.add_catalog,
    corpus.add_prune,
    models.add_models,
    train.add_train,
    train.add_calibrate,
    model.add_enhance,
    model.add_evaluate,
    model.add_table1,
    add_listen,
)  # the order `ladle --help` lists them in


VERBOSE_HELP = "also show Prefect's per-task log lines on the console (the Prefect UI and logs always keep them)"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ladle", description="Paired lossless/lossy corpora and restoration models.")
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    parser.add_argument("--version", action=VersionAction, help="print ladle's version and exit")
    commands = parser.add_subparsers(
        dest="command",
        required=True,
        parser_class=Parser,
        help="the command to run; `ladle COMMAND --help` for its options",
    )
    for add_command in COMMANDS:
        add_command(commands)
    for command in commands.choices.values():  # `ladle --verbose CMD` and `ladle CMD --verbose` alike
        command.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    args = build_parser().parse_args(argv)
    if not args.verbose:
        # The console keeps warnings and the command's own output (progress bars, summary); Prefect's
        # API handler still receives every INFO line, so the UI and the run logs keep everything.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    from storage.config import ConfigError
    from storage.lock import LockHeld

    try:
        return args.handler(args)
    except (ConfigError, FileNotFoundError, NotADirectoryError) as e:
        fail(str(e))
    except LockHeld as e:
        fail(str(e), status=3)
    except KeyboardInterrupt:
        fail("interrupted; everything written so far is complete, run the same command again to resume", 130)
