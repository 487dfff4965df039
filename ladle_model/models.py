"""The model registry: a name -> (config dataclass, module) table and a checked way to build one.

    model = build_model("ladle", d_model=128, n_layers=4, stride=4)
    ckpt["model_args"] = model_config_dict("ladle", d_model=128, n_layers=4, stride=4)
    same = build_model(ckpt_name, **ckpt["model_args"])  # rebuilds the same architecture

Every model maps (B, 2, T) -> (B, 2, T) in [-1, 1] for any T. Overrides are checked against the
config dataclass: an unknown model name, an unknown key or a value of the wrong type is a
ValueError that lists what is allowed. Lists are accepted for tuple fields (JSON has no tuples).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import torch.nn as nn

from ladle_model.drrn import DRRN1d, DRRN1dConfig
from ladle_model.ladle import LadLe, LadLeConfig
from ladle_model.resunit import ResUnitNet, ResUnitNetConfig
from ladle_model.srresnet import SRResNet1d, SRResNet1dConfig

MODEL_CONFIGS: dict[str, type] = {
    "ladle": LadLeConfig,
    "drrn1d": DRRN1dConfig,
    "srresnet1d": SRResNet1dConfig,
    "resunit": ResUnitNetConfig,
}

MODEL_CLASSES: dict[str, type[nn.Module]] = {
    "ladle": LadLe,
    "drrn1d": DRRN1d,
    "srresnet1d": SRResNet1d,
    "resunit": ResUnitNet,
}


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Return `value` checked against the annotation `tp` (int, float, bool, str, tuple[...], X | None)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            try:
                return _coerce(value, option, where)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError(f"{where}: {value!r} matches none of {tp} ({'; '.join(errors)})")
    if tp is type(None):
        if value is not None:
            raise ValueError(f"{where}: expected None, got {value!r}")
        return None
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            raise ValueError(f"{where}: expected a tuple, got {type(value).__name__} {value!r}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ValueError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(args, value)))
    # bool is a subclass of int: refuse True for an int field and 1 for a bool field.
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected bool, got {type(value).__name__} {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where}: expected int, got {type(value).__name__} {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}: expected float, got {type(value).__name__} {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected str, got {type(value).__name__} {value!r}")
        return value
    raise TypeError(f"{where}: unsupported config annotation {tp}")  # a bug in a config, not in user input


def resolve_config(config_cls: type, overrides: dict[str, Any]) -> Any:
    """Build a config dataclass from `overrides`, refusing unknown keys and ill-typed values."""
    hints = typing.get_type_hints(config_cls)
    fields = [f.name for f in dataclasses.fields(config_cls)]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"unknown {config_cls.__name__} key(s) {unknown}; allowed: {fields}")
    checked = {k: _coerce(v, hints[k], f"{config_cls.__name__}.{k}") for k, v in overrides.items()}
    return config_cls(**checked)  # __post_init__ checks the values (positive sizes, divisibility, ...)


def model_config(name: str, **overrides: Any) -> Any:
    """The resolved config dataclass for model `name` with `overrides` applied."""
    if name not in MODEL_CONFIGS:
        raise ValueError(f"unknown model {name!r}; allowed: {sorted(MODEL_CONFIGS)}")
    return resolve_config(MODEL_CONFIGS[name], overrides)


def model_config_dict(name: str, **overrides: Any) -> dict[str, Any]:
    """The resolved config as a plain dict (for checkpoints; build_model(name, **d) rebuilds it)."""
    return dataclasses.asdict(model_config(name, **overrides))


def build_model(name: str, **overrides: Any) -> nn.Module:
    """Build model `name` ("ladle", "drrn1d", "srresnet1d", "resunit") from its config with overrides."""
    config = model_config(name, **overrides)  # raises ValueError for an unknown name, key or type
    return MODEL_CLASSES[name](config)
