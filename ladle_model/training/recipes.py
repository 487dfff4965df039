"""Training recipes: a named set of TrainConfig values (model, losses, optimisation) that belong together.

    cfg = TrainConfig.from_dict(recipe_config("specnext", {"max_steps": 100}))   # recipe, then overrides
    ladle train data --run runs/x --preset mp3-64                               # DEFAULT_RECIPE
    ladle train data --run runs/paper --recipe paper --model ladle              # the LadLe paper, unchanged

"paper" is TrainConfig's own defaults: the LadLe paper's model and MSE + perceptual loss, Adam at
1e-4, batch 4 (Table I is reproduced with it). "specnext" is the recipe that beats the lossy input
on held-out music within a CPU budget (measured in BENCHMARKS.md, "quality"): SpecNeXt
(ladle_model/models/specnext.py) trained on spectral + waveform losses (ladle_model/losses/spectral.py).
A recipe only fills TrainConfig keys; anything it sets can still be overridden.
"""

from __future__ import annotations

from typing import Any

RECIPES: dict[str, dict[str, Any]] = {
    "paper": {},
    "specnext": {
        # SpecNeXt with noise filling: a fill written frame by frame leaves a comb above the cut in the overlap-add,
        # noise does not (ladle_model/models/specnext.py).
        "model": "specnext",
        "model_overrides": {"noise_fill": True},
        # The restoration losses replace MSE and the perceptual term, so there is no feature net to pre-train.
        "loss": {"lambda_recon": 0.0, "lambda_perc": 0.0},
        "feature_net_steps": 0,
        "spectral": {"lambda_logmag": 1.0, "lambda_sc": 1.0, "lambda_wave": 4.0},
        # Vocos trains its ConvNeXt with AdamW at 5e-4..1e-3; a short CPU budget wants the upper end, at a constant lr.
        "lr": 1e-3,
        # The zero-initialised head makes the first Adam steps add loud noise to the filled band; a warm-up avoids it.
        "warmup_steps": 50,
        # One segment in five shows the model its lossless original as input, so it learns to leave
        # near-transparent input alone (ladle_model/data/augment.py).
        "clean_input_fraction": 0.2,
        # Validation, best.pt and enhance use a moving average of the weights (Polyak averaging): at a constant lr
        # the raw weights' validation loss swings between epochs.
        "ema_decay": 0.999,
        "batch_size": 4,
    },
}
DEFAULT_RECIPE = "specnext"
RECIPE_NAMES: tuple[str, ...] = tuple(RECIPES)


def recipe_config(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """TrainConfig keys of recipe `name` with `overrides` on top (nested dicts merged one level deep).

    A model other than the recipe's (`overrides`' "model") leaves out the recipe's model_overrides: they are
    options of the recipe's model (`ladle train --model drrn1d` with the default recipe trains drrn1d as it is)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; allowed: {sorted(RECIPES)}")
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in RECIPES[name].items()}
    if (overrides or {}).get("model", merged.get("model")) != merged.get("model"):
        merged.pop("model_overrides", None)
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged
