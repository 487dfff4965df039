"""Restoration models: each architecture in its own file, built by name.

    from ladle_model.models.registry import MODEL_NAMES    # no torch: for the CLI
    from ladle_model.models.build import build_model
    model = build_model("specnext", noise_fill=True)       # (B, C, T) -> (B, C, T) in [-1, 1]

registry.py (names), build.py (configs checked, models built), layers.py (what several models share),
bandwidth.py (where a codec cut its input), and one file per model: ladle.py, drrn.py, srresnet.py,
resunit.py, specnext.py.
"""
