"""`python -m ladle_model.train DATA RUN_DIR [--config JSON]`: the plain entry torchrun starts once per rank.

    torchrun --nproc-per-node 4 -m ladle_model.train data runs/ladle-ddp --config '{"model_overrides": {"stride": 4}}'

(`-m ladle_model.launch` is the same.) Rank 0 prints the TrainResult as JSON.
"""

from __future__ import annotations

import argparse
import json
import os

from ladle_model.train import TrainConfig, train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train a LadLe model (one process, or one rank under torchrun).")
    parser.add_argument("data")
    parser.add_argument("run_dir")
    parser.add_argument(
        "--config", default="{}", help='TrainConfig as JSON, e.g. \'{"model": "drrn1d", "max_steps": 1000}\''
    )
    parser.add_argument("--dataset", default=None, help="dataset version")
    parser.add_argument(
        "--preset", action="append", default=None, help="repeatable: one model on the union of those presets' datasets"
    )
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    result = train(
        args.data,
        args.run_dir,
        TrainConfig.from_dict(json.loads(args.config)),
        args.dataset,
        args.preset,
        args.progress,
    )
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(result.to_dict(), indent=2))


if __name__ == "__main__":
    main()
