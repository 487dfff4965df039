"""What every `ladle` command shares: the one-line error, argument types and the config validator.

fail("no data folder at data")          # one line on stderr, exit status 2
check_train_config("ladle", 20, None, 4, None, {"lr": 3e-4})    # ConfigError, before any flow run
fmt_number(0.00019112999143544585)      # "0.0001911"
p.add_argument("--preset", choices=LazyChoices(preset_names), metavar="NAME", help="one of %(choices)s")
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ladle_model.train import TrainConfig


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one clear line and exit status 2, not a usage dump
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


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


def check_train_config(
    model: str,
    epochs: int,
    max_steps: int | None,
    batch_size: int,
    segment_seconds: float | None,
    overrides: dict | None,
) -> TrainConfig:
    """The one config validator, run before any flow: a bad option or override raises ConfigError (one line).
    Returns the TrainConfig the flow will build from the same values."""
    from ladle_model.train import train_config_from_args

    return train_config_from_args(model, epochs, max_steps, batch_size, segment_seconds, overrides)


def check_train_dataset(
    data: str, run: str, segment_seconds: float | None, version: str | None, preset: str | list[str] | None
) -> None:
    """The dataset `ladle train` would pick, resolved before any flow: none or several is one line."""
    from ladle_model.datasets import resolve_run_dataset, resolve_training_data
    from storage.fs import is_remote

    try:
        if is_remote(run):  # a remote run's checkpoint is read by the flow, from its mirror
            if version or preset:
                resolve_training_data(data, None, segment_seconds, version, preset)
        else:
            resolve_run_dataset(data, run, segment_seconds, version, preset)
    except ValueError as e:  # "several datasets match ...": pick one with --dataset or --preset
        fail(f"{e} (choose with --dataset VERSION or --preset NAME)")


def fmt_number(value: float | None, digits: int = 4) -> str:
    """A measured number for people: `digits` significant digits, "n/a" for None or NaN."""
    if value is None or value != value:
        return "n/a"
    return f"{value:.{digits}g}"
