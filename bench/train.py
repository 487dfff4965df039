"""Training speed of every model on CPU at a fixed small config, against the machine's matmul speed.

    python -m bench.train --segment-seconds 0.1 --batch-size 4

For each model (default config): optimizer steps per second and segments per second of
`ladle_model.training.loop.train_step` on device-resident batches (no data loading), and the FLOPs one step
costs (counted by torch's FlopCounterMode). The limit is the arithmetic: a large float32 matmul
measured in the same run gives the machine's FLOP/s, and each model's achieved FLOP/s is reported
as a fraction of it.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.common import command_line, report
from ladle_model.models.registry import MODEL_NAMES


def matmul_flops_per_s(sizes: tuple[int, ...] = (1024, 2048, 4096), repeats: int = 5) -> float:
    """The best float32 matmul speed over a few sizes: the machine's practical arithmetic peak."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, repeats * 2 * n**3 / (time.perf_counter() - start))
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segment-seconds", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--models", nargs="+", choices=MODEL_NAMES, default=list(MODEL_NAMES))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    from ladle_model.training.config import TrainConfig
    from ladle_model.training.loop import train_step
    from ladle_model.training.state import init_state

    n_samples = round(args.segment_seconds * 44100)
    peak = matmul_flops_per_s()
    rows = [
        {
            "model": "float32 matmul, best of 1024²-4096² (reference)",
            "params": "",
            "steps/s": "",
            "segments/s": "",
            "GFLOP/step": "",
            "GFLOP/s": peak / 1e9,
            "of matmul": 1.0,
        }
    ]
    for name in args.models:
        cfg = TrainConfig.from_dict(
            {"model": name, "batch_size": args.batch_size, "device": args.device, "loss": {"lambda_perc": 0.0}}
        )
        state = init_state(cfg, args.device)
        lossless = torch.rand(args.batch_size, 2, n_samples, device=args.device) * 2 - 1
        lossy = lossless + 0.01 * torch.randn_like(lossless)
        train_step(state, state.model, lossless, lossy, None, cfg, args.device)  # warm-up
        with FlopCounterMode(display=False) as counter:
            train_step(state, state.model, lossless, lossy, None, cfg, args.device)
        flops = counter.get_total_flops()
        start = time.perf_counter()
        for _ in range(args.steps):
            train_step(state, state.model, lossless, lossy, None, cfg, args.device)
        if args.device == "cuda":
            torch.cuda.synchronize()
        step_s = (time.perf_counter() - start) / args.steps
        rows.append(
            {
                "model": name,
                "params": sum(p.numel() for p in state.model.parameters()),
                "steps/s": 1 / step_s,
                "segments/s": args.batch_size / step_s,
                "GFLOP/step": flops / 1e9,
                "GFLOP/s": flops / step_s / 1e9,
                "of matmul": flops / step_s / peak,
            }
        )
    notes = [
        f"{args.segment_seconds}-s stereo segments at 44.1 kHz, batch {args.batch_size}, MSE loss only, {args.device}, "
        f"mean of {args.steps} steps after a warm-up; FLOPs counted by torch.utils.flop_counter (convolutions, matmuls, attention)."
    ]
    report("train", command_line(), rows, notes, write=not args.no_write)


if __name__ == "__main__":
    main()
