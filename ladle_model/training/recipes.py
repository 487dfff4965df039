"""Training recipes: a named set of TrainConfig values (model, losses, optimisation) that belong together.

    cfg = TrainConfig.from_dict(recipe_config("specnext", {"max_steps": 100}))   # recipe, then overrides
    ladle train data --run runs/x --preset mp3-64                               # DEFAULT_RECIPE
    ladle train data --run runs/paper --recipe paper --model ladle              # the LadLe paper, unchanged

"paper" is TrainConfig's own defaults: the LadLe paper's model and MSE + perceptual loss, Adam at
1e-4, batch 4 (Table I is reproduced with it). "specnext" is the recipe that beats the lossy input
on held-out music within a CPU budget (BENCHMARKS.md, "Quality"): SpecNeXt
(ladle_model/models/specnext.py) trained on spectral + waveform losses (ladle_model/losses/spectral.py).
A recipe only fills TrainConfig keys; anything it sets can still be overridden.
"""

from __future__ import annotations

from typing import Any

RECIPES: dict[str, dict[str, Any]] = {
    "paper": {},
    "specnext": {
        "model": "specnext",
        # Noise filling: without it the additive term, written frame by frame, left a comb in the band above the cut
        # (bins whose index is 2 mod 4 came out 1.5 decades of power quieter than those 0 mod 4: their frames cancel
        # in the overlap-add unless the network turns their phase half a turn a hop). With it, held-out
        # Vorbis 96 kbps LSD fell from 0.76x to 0.70x of the input's and paper-32k's from 0.68x to 0.63x, ViSQOL
        # as before (BENCHMARKS.md, "Quality: variants left out"; with the noise following each window's
        # place in the track, three seeds reached Vorbis 96 kbps 0.69-0.72x on the 48-piece library).
        "model_overrides": {"noise_fill": True},
        # SpecNeXt's copy_up (the band above the cut filled from the input's own top band, as SBR does) made the full
        # fill far less harmful to ViSQOL but restored less of the cut band on held-out music (LSD paper-32k
        # 0.69 -> 0.74x, vorbis-96 0.73 -> 0.77x; BENCHMARKS.md, "Quality: variants left out"), so it stays off.
        # No MSE or perceptual term (so no feature net to pre-train): the restoration losses replace them.
        "loss": {"lambda_recon": 0.0, "lambda_perc": 0.0},
        "feature_net_steps": 0,
        "spectral": {"lambda_logmag": 1.0, "lambda_sc": 1.0, "lambda_wave": 4.0},
        # Vocos trains its ConvNeXt with AdamW at 5e-4..1e-3; a short CPU budget wants the upper end.
        "lr": 1e-3,
        # The zero-initialised head makes the first Adam steps (each moves every weight by ~lr) add loud
        # noise to the filled band; a 50-step warm-up avoids that spike (measured in the lab).
        "warmup_steps": 50,
        # A constant lr: annealing it to 0 over the 20-minute budget (lr_anneal_to 0) lowered the val loss
        # 4.20 -> 4.17 but left a quieter fill that restored less of the cut band on held-out music
        # (LSD paper-32k 0.69 -> 0.73x, vorbis-96 0.73 -> 0.75x; BENCHMARKS.md, "Quality: variants left out").
        # One segment in five shows the model its lossless original as input, so it learns to leave
        # near-transparent input alone (ladle_model/data/augment.py). Low-passing half of those as
        # near-transparent codecs cut (clean_input_lowpass 0.5) kept ViSQOL on the five untrained
        # presets within 0.002 of the input but lost LSD on the trained ones (paper-32k 0.69 -> 0.78x;
        # BENCHMARKS.md, "Quality: variants left out"), so it stays off.
        "clean_input_fraction": 0.2,
        # Validation, best.pt and enhance use a moving average of the weights (Polyak averaging, as HiFi-GAN
        # successors and diffusion vocoders ship): at the constant lr the raw weights' val loss swung
        # +-0.1 between epochs and picked an early best.pt (BENCHMARKS.md, "Quality: variants left out").
        "ema_decay": 0.999,
        "batch_size": 4,  # 4 one-second segments a step: as much audio as the 8 half-second crops tried in the lab
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
