"""Build models by name: the registry's entries resolved into classes, configs checked by one validator.

    model = build_model("ladle", d_model=128, n_layers=4, stride=4)
    ckpt["model_args"] = model_config_dict("ladle", d_model=128, n_layers=4, stride=4)
    same = build_model(ckpt_name, **ckpt["model_args"])  # rebuilds the same architecture

Every model maps (B, 2, T) -> (B, 2, T) in [-1, 1] for any T. The names live in
ladle_model/models/registry.py (importable without torch, for the CLI). Overrides are checked by
storage.config's `config_from_dict`, the project's one validator: an unknown model name, an unknown
key, a value of the wrong type or an impossible value is a ConfigError (a ValueError) that says what
is allowed. Lists are accepted for tuple fields (JSON has no tuples).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch.nn as nn

from ladle_model.models.registry import MODEL_NAMES, resolve_model
from storage.config import ConfigError, config_from_dict

MODEL_CONFIGS: dict[str, type] = {name: resolve_model(name)[1] for name in MODEL_NAMES}
MODEL_CLASSES: dict[str, type[nn.Module]] = {name: resolve_model(name)[0] for name in MODEL_NAMES}


def model_config(name: str, **overrides: Any) -> Any:
    """The resolved config dataclass for model `name` with `overrides` applied."""
    if name not in MODEL_CONFIGS:
        raise ConfigError(f"unknown model {name!r}; allowed: {sorted(MODEL_CONFIGS)}")
    return config_from_dict(MODEL_CONFIGS[name], overrides)


def model_config_dict(name: str, **overrides: Any) -> dict[str, Any]:
    """The resolved config as a plain dict (for checkpoints; build_model(name, **d) rebuilds it)."""
    return dataclasses.asdict(model_config(name, **overrides))


def build_model(name: str, **overrides: Any) -> nn.Module:
    """Build model `name` (one of MODEL_NAMES) from its config with `overrides` applied."""
    config = model_config(name, **overrides)  # ConfigError for an unknown name, key, type or value
    return MODEL_CLASSES[name](config)
