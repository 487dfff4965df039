"""`python -m ladle_model.training --data DATA --run RUN [--recipe NAME] [--overrides JSON]`: the entry torchrun
starts once per rank.

    torchrun --nproc-per-node 4 -m ladle_model.training --data data --run runs/ddp --overrides '{"batch_size": 16}'

The config is `TrainConfig.from_recipe(recipe, overrides)`, as `ladle train` makes it. Rank 0 prints the
TrainResult as JSON.
"""

from __future__ import annotations

import argparse
import json
import os

from ladle_model.training.config import TrainConfig
from ladle_model.training.loop import train
from ladle_model.training.recipes import DEFAULT_RECIPE, RECIPE_NAMES


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Train a LadLe model (one process, or one rank under torchrun).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", required=True, help="the data folder build-corpus wrote")
    parser.add_argument("--run", required=True, help="the run folder (resumed if it holds a checkpoint)")
    parser.add_argument("--recipe", default=DEFAULT_RECIPE, choices=RECIPE_NAMES, help="the recipe to start from")
    parser.add_argument("--overrides", default="{}", help="TrainConfig keys as JSON, e.g. '{\"max_steps\": 1000}'")
    parser.add_argument("--dataset", default=None, help="dataset version (default: picked by --preset)")
    parser.add_argument("--preset", action="append", default=None, help="repeatable: the union of those presets")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    args = parser.parse_args(argv)
    cfg = TrainConfig.from_recipe(args.recipe, json.loads(args.overrides))
    result = train(args.data, args.run, cfg, args.dataset, args.preset, args.progress)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(result.to_dict(), indent=2))


if __name__ == "__main__":
    main()
