"""What every `ladle` command shares: the one-line error, argument types and the config validator.

fail("no data folder at data")          # one line on stderr, exit status 2
check_train_config("specnext", {"lr": 3e-4})    # ConfigError, before any flow run
fmt_number(0.00019112999143544585)      # "0.0001911"
add_preset_option(p, help="repeatable; default: the run's")   # validated: a bad name is a usage error
deprecated_alias(p, "--steps", "--max-steps")  # the old spelling works, with one notice on stderr
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ladle_model.training.config import TrainConfig


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help, except where there is none to show (None, False) or the help says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in help:
            return help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """The `ladle` parsers: one-line errors, defaults in the help, and a deprecated positional beside its option."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.deprecated_positionals: list[tuple[str, argparse.Action]] = []

    def error(self, message: str):  # one clear line and exit status 2, not a usage dump
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")

    def parse_known_args(self, args=None, namespace=None):
        try:
            namespace, extras = super().parse_known_args(args, namespace)
        finally:  # a deprecated positional given made its option optional for that one parse
            for _, option in self.deprecated_positionals:
                option.required = True
        for dest, option in self.deprecated_positionals:
            flag, metavar = option.option_strings[-1], option.metavar or option.dest.upper()
            value = vars(namespace).pop(dest, None)
            if value is None:
                continue
            if getattr(namespace, option.dest, None) is not None:
                self.error(f"give {metavar} once, as {flag} {metavar}")
            warn_deprecated(f"{self.prog} {metavar}", f"{self.prog} {flag} {metavar}")
            setattr(namespace, option.dest, option.type(value) if option.type else value)
        return namespace, extras


def warn_deprecated(old: str, new: str) -> None:
    """The one notice for an old spelling that still works for one release: one line on stderr."""
    print(f"ladle: warning: '{old}' is deprecated; use '{new}'", file=sys.stderr)


class _DeprecatedAlias(argparse.Action):
    """An old option spelling: acts as `target` does, after one notice per command line."""

    def __init__(self, option_strings, dest, target: argparse.Action, prog: str, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=target.nargs, const=target.const, type=target.type,
                         choices=target.choices, default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                         metavar=target.metavar)  # fmt: skip
        self.target, self.prog = target, prog

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        new = self.target.option_strings[-1]
        noticed = vars(namespace).setdefault("_deprecated_noticed", set())
        if option_string not in noticed:  # `--steps 3 --steps 4` is one notice
            noticed.add(option_string)
            warn_deprecated(f"{self.prog} {option_string}", f"{self.prog} {new}")
        self.target(parser, namespace, values, new)


def deprecated_alias(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    """Accept option `old` for one release as a spelling of `new` (added before), with one notice on stderr."""
    (target,) = [a for a in parser._actions if new in a.option_strings]
    parser.add_argument(old, action=_DeprecatedAlias, dest=target.dest, target=target, prog=parser.prog)
    note_deprecated(parser, old, new)


class _DeprecatedPositional(argparse.Action):
    """The old positional: given, it makes the (required) option it stands for optional in this parse."""

    def __init__(self, option_strings, dest, target: argparse.Action, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs="?", default=None, help=argparse.SUPPRESS)
        self.target = target

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        if values is not None:
            self.target.required = False  # Parser.parse_known_args sets it back, and moves the value over


def deprecated_positional(parser: Parser, option: str) -> None:
    """Accept `ladle CMD VALUE` for one release as `ladle CMD OPTION VALUE` (OPTION added before), with a notice."""
    (target,) = [a for a in parser._actions if option in a.option_strings]
    dest = f"_deprecated_{target.dest}"
    parser.add_argument(dest, action=_DeprecatedPositional, target=target)
    parser.deprecated_positionals.append((dest, target))
    metavar = target.metavar or target.dest.upper()
    note_deprecated(parser, f"{parser.prog} {metavar}", f"{parser.prog} {option} {metavar}")


def note_deprecated(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    """List an old spelling in the CLI reference; one its handler reads itself (a value's meaning) needs only this."""
    vars(parser).setdefault("deprecated", []).append((old, new))


def add_preset_option(parser: argparse.ArgumentParser, help: str, **kwargs) -> argparse.Action:
    """`--preset NAME`, repeatable, checked against the preset list: a bad name is a one-line usage error."""
    return parser.add_argument("--preset", action="append", choices=LazyChoices(preset_names), metavar="PRESET",
                               default=None, help=f"{help}; one of %(choices)s", **kwargs)  # fmt: skip


class LazyChoices:
    """An argparse `choices` container that asks `names()` only when an option is used or its help shown.

    Give the option a `metavar` too: argparse then lists the choices only in `%(choices)s` of the help
    text, so building the parser (every `ladle` command) imports nothing for them.
    """

    def __init__(self, names: Callable[[], list[str]]) -> None:
        self._names = names

    def __contains__(self, value: object) -> bool:
        return value in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


def preset_names() -> list[str]:
    """Every preset, then every named group of presets (`wideband`), as `--preset` accepts them."""
    from storage.config import PRESET_GROUPS, PRESETS  # imports numpy (segmenting strategies): only when needed

    return [*sorted(PRESETS), *sorted(PRESET_GROUPS)]


def strategy_names() -> list[str]:
    from storage.config import STRATEGIES

    return list(STRATEGIES)


def fail(message: str, status: int = 2) -> None:
    print(f"ladle: error: {message}", file=sys.stderr)
    raise SystemExit(status)


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def json_overrides(text: str | None) -> dict | None:
    """`--overrides` JSON as a dict; a mistake is one line on stderr, before any flow run."""
    if not text:
        return None
    try:
        overrides = json.loads(text)
    except json.JSONDecodeError as e:
        fail(f"--overrides is not valid JSON: {e}")
    if not isinstance(overrides, dict):
        fail(f"--overrides must be a JSON object of TrainConfig keys, got {text}")
    return overrides


def check_train_config(recipe: str, overrides: dict | None) -> TrainConfig:
    """The one config validator, run before any flow: a bad option or override raises ConfigError (one line).
    Returns the TrainConfig the flow will build from the same recipe and overrides (TrainConfig.from_recipe)."""
    from ladle_model.training.config import TrainConfig

    return TrainConfig.from_recipe(recipe, overrides)


def check_train_dataset(
    data: str, run: str, segment_seconds: float | None, version: str | None, preset: str | list[str] | None
) -> str | None:
    """The dataset version(s) `ladle train` would pick, resolved before any flow (None: a remote run's, read by the
    flow); none or several is one line."""
    from ladle_model.data.selection import resolve_training_data
    from storage.fs import is_remote

    try:
        if is_remote(run):  # a remote run's checkpoint is read by the flow, from its mirror
            if version or preset:
                return resolve_training_data(data, None, segment_seconds, version, preset).version
            return None
        return resolve_training_data(data, run, segment_seconds, version, preset).version
    except ValueError as e:  # "several datasets match ...": pick one with --dataset or --preset
        fail(f"{e} (choose with --dataset VERSION or --preset NAME)")


def fmt_number(value: float | None, digits: int = 4) -> str:
    """A measured number for people: `digits` significant digits, "n/a" for None or NaN."""
    if value is None or value != value:
        return "n/a"
    return f"{value:.{digits}g}"


def ladle_version() -> str:
    """The installed package's version; pyproject.toml's where the package is not installed (a bare checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ladle")
    except PackageNotFoundError:
        import re
        from pathlib import Path

        text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
        return re.search(r'^version\s*=\s*"([^"]+)"', text, flags=re.M).group(1)


class VersionAction(argparse.Action):
    """`ladle --version`: `ladle X.Y.Z` on stdout, looked up only when asked."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"ladle {ladle_version()}")  # stdout, as `--version` of most tools
        parser.exit(0)
