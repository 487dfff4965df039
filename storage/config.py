"""Typed configuration of a corpus build: encode presets, segmentation, the corpus as a whole.

    cfg = CorpusConfig.from_dict({"presets": ["vorbis-160"], "segment": {"strategy": "resample"}})
    model_cfg = config_from_dict(LadLeConfig, {"d_model": 128})  # any config dataclass

`config_from_dict` is the one validator of every config in the project (corpus, model, training,
evaluation): unknown keys, wrong types and impossible values are a `ConfigError`, which the CLI
prints as one line. The dataclasses check their own values, including the build-time checks that
span fields (a strategy that keeps the codec rate needs presets at or below the dataset rate).
Every artifact stores the resolved config that produced it, and every cache key mixes in
`STAGE_VERSIONS`, bumped whenever a stage's output would change.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import subprocess
import types
import typing
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

# ConfigError and STRATEGIES are re-exported: callers ask this module for both.
from storage.errors import ConfigError  # noqa: F401

# The presets live in storage.presets; callers ask this module for them as for every other config.
from storage.presets import (  # noqa: F401
    PRESET_GROUPS,
    PRESETS,
    EncodePreset,
    PresetBand,
    expand_presets,
    get_preset,
    preset_band,
)
from storage.strategy import STRATEGIES, get_strategy  # noqa: F401

# Bump a stage's number when its code changes what it writes: every cache key below it changes.
STAGE_VERSIONS = {"ingest": 2, "encode": 1, "align": 2, "shard": 3}

SPLITS = ("train", "val", "test")


@functools.cache
def code_version() -> str:
    """`ladle {version}` plus the git commit when running from a checkout: stored with every artifact."""
    try:
        version = metadata.version("ladle")
    except metadata.PackageNotFoundError:
        version = "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"ladle {version}" + (f" ({commit})" if commit else "")


def _check_type(name: str, value: object, annotation: object) -> object:
    """Coerce what JSON/CLI can't express exactly (int→float, list→tuple), reject the rest."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_type(name, value, option)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{name}: wrong type {type(value).__name__}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}: expected a tuple (a list in JSON), got {type(value).__name__} {value!r}")
        item_types = typing.get_args(annotation)
        if len(item_types) == 2 and item_types[1] is Ellipsis:  # tuple[int, ...]
            return tuple(_check_type(f"{name}[{i}]", v, item_types[0]) for i, v in enumerate(value))
        if len(item_types) != len(value):  # tuple[int, float]: one item per type
            raise ConfigError(f"{name}: expected {len(item_types)} items, got {len(value)}")
        return tuple(_check_type(f"{name}[{i}]", v, t) for i, (v, t) in enumerate(zip(value, item_types)))
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{name}: expected a mapping, got {type(value).__name__}")
        return config_from_dict(annotation, value)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, float, str, bool):
        # bool is a subclass of int: refuse True for an int field (and 1 for a bool field, below).
        if isinstance(value, bool) and annotation is not bool:
            raise ConfigError(f"{name}: expected {annotation.__name__}, got bool")
        if not isinstance(value, annotation):
            raise ConfigError(f"{name}: expected {annotation.__name__}, got {type(value).__name__} {value!r}")
    return value


def config_from_dict(cls: type, d: dict):
    """Build dataclass `cls` from a plain dict; unknown keys, wrong types and bad values raise ConfigError.

    The dataclass's own `__post_init__` checks its values; a ValueError from there becomes a
    ConfigError too, so every config mistake reaches the CLI as one line.
    """
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls) if f.init]  # declaration order, as users read them
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown key(s) {unknown}; allowed: {known}")
    checked = {k: _check_type(f"{cls.__name__}.{k}", v, hints[k]) for k, v in d.items()}
    try:
        return cls(**checked)
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(f"{cls.__name__}: {e}") from e


def stable_hash(obj: object, n_chars: int = 16) -> str:
    """A short hex digest of a JSON-able object, independent of dict order."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:n_chars]


@dataclass(frozen=True)
class SegmentConfig:
    """How aligned pairs are cut into training segments (the LadLe paper's preprocessing approaches).

    `resample` brings the lossy audio to the lossless rate (the paper's best); `pad-edges` keeps the
    lossy samples at their own rate and pads zeros equally at both ends to the lossless length;
    `spread-zeros` spreads the lossy samples evenly over the lossless length with zeros between.
    """

    strategy: str = "resample"
    segment_seconds: float = 1.0
    hop_seconds: float | None = None  # None: back to back (hop = segment)
    sample_rate: int = 44100  # every dataset has one rate; tracks at other rates are resampled to it
    skip_silence: bool = True  # drop segments whose lossless audio is digital silence

    def __post_init__(self):
        get_strategy(self.strategy)  # ConfigError for an unknown name
        if not 0.001 <= self.segment_seconds <= 600:
            raise ConfigError(f"segment_seconds must be in [0.001, 600], got {self.segment_seconds}")
        if self.hop_seconds is not None and not 0 < self.hop_seconds <= 600:
            raise ConfigError(f"hop_seconds must be in (0, 600], got {self.hop_seconds}")
        if not 8000 <= self.sample_rate <= 192000:
            raise ConfigError(f"sample_rate must be in [8000, 192000], got {self.sample_rate}")

    @property
    def segment_samples(self) -> int:
        return round(self.segment_seconds * self.sample_rate)

    @property
    def hop_samples(self) -> int:
        return round((self.hop_seconds or self.segment_seconds) * self.sample_rate)


@dataclass(frozen=True)
class AlignConfig:
    """Lag search and the quality gate a pair must pass to be used."""

    max_lag_seconds: float = 0.1  # FFmpeg trims codec delay already (docs/design.md); this catches the rest
    analysis_seconds: float = 10.0  # cross-correlate at most this much audio from the middle
    min_correlation: float = 0.9
    min_snr_db: float = 3.0


@dataclass(frozen=True)
class CorpusConfig:
    presets: tuple[str, ...] = ("vorbis-160",)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    split_fractions: tuple[float, ...] = (0.8, 0.1, 0.1)  # train, val, test
    group_by_album: bool = False  # split by album/disc instead of by track
    shard_target_mb: float = 256.0
    group_size: int = 32  # tracks per ingest/encode/align task: bounds the number of task runs

    def __post_init__(self):
        if self.group_size < 1:
            raise ConfigError(f"group_size must be at least 1, got {self.group_size}")
        if not self.presets:
            raise ConfigError("at least one preset is needed")
        for name in self.presets:
            get_preset(name)
        if len(self.split_fractions) != 3 or abs(sum(self.split_fractions) - 1) > 1e-6 or min(self.split_fractions) < 0:
            raise ConfigError(
                f"split_fractions must be three non-negative numbers summing to 1, got {self.split_fractions}"
            )
        if self.shard_target_mb <= 0:
            raise ConfigError(f"shard_target_mb must be positive, got {self.shard_target_mb}")
        strategy = get_strategy(self.segment.strategy)
        for name in self.presets:
            strategy.check_rates(self.segment.sample_rate, get_preset(name).sample_rate, name)

    @classmethod
    def from_dict(cls, d: dict) -> CorpusConfig:
        return config_from_dict(cls, d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
