"""The model registry: every model's name, module, class and config class, importable without torch.

    from ladle_model.models.registry import MODEL_NAMES          # ("ladle", "drrn1d", "srresnet1d", "resunit")
    model_cls, config_cls = resolve_model("ladle")        # imports ladle_model.models.ladle (and torch) now

The CLI offers `MODEL_NAMES` as choices and must start fast, so this module imports nothing heavy;
ladle_model/models/build.py resolves the entries into classes. Adding a model is one line here plus its
own file (one model file per architecture).
"""

from __future__ import annotations

import importlib

from storage.errors import ConfigError

# name -> (module, model class, config dataclass)
MODELS: dict[str, tuple[str, str, str]] = {
    "ladle": ("ladle_model.models.ladle", "LadLe", "LadLeConfig"),
    "drrn1d": ("ladle_model.models.drrn", "DRRN1d", "DRRN1dConfig"),
    "srresnet1d": ("ladle_model.models.srresnet", "SRResNet1d", "SRResNet1dConfig"),
    "resunit": ("ladle_model.models.resunit", "ResUnitNet", "ResUnitNetConfig"),
    "specnext": ("ladle_model.models.specnext", "SpecNeXt", "SpecNeXtConfig"),
}

MODEL_NAMES: tuple[str, ...] = tuple(MODELS)


def resolve_model(name: str) -> tuple[type, type]:
    """(model class, config class) of model `name`; ConfigError listing the known names otherwise."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; allowed: {sorted(MODELS)}")
    module_name, model_cls, config_cls = MODELS[name]
    module = importlib.import_module(module_name)
    return getattr(module, model_cls), getattr(module, config_cls)
