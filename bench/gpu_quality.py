"""The default recipe trained on a GPU, for the quality table at GPU scale: runs, throughput, memory, speed.

    python -m bench.gpu_quality --data DATA --work WORK --out OUT --minutes 5.5 \\
        --run default='{}' --run wide='{"model_overrides": {"dim": 256, "n_blocks": 8}}'

On the GPU machine (scripts/gpu_check.sh, after bench.gpu_kit has built DATA):
1. trains each named run of the default recipe (`ladle_model.training.recipes.DEFAULT_RECIPE`) on every dataset in
   DATA for --minutes, all at once on the one GPU, each in its own process; per run: steps, segments/s
   (median step time from its step log), peak GPU memory;
2. enhancement speed: the real-time factor of `enhance_track` on a whole lossy track, per run;
3. the largest batch of 1-s segments the default model trains with, and segments/s there
   (bench.gpu_train's doubling-then-bisection search).

Each run's best.pt comes back as OUT/NAME.tar with its logs, holding the weights it serves (the moving
average) and not its optimizer state, so it stays small; the held-out pieces are then restored and scored
where the corpus lives: `python -m bench.quality ... --run RUN --no-train`. A timing here belongs to this
benchmark, never to a test's assertion.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from ladle_model.models.build import build_model
from ladle_model.training.config import TrainConfig
from ladle_model.training.loop import train
from ladle_model.training.recipes import DEFAULT_RECIPE, recipe_config
from storage.manifest import list_datasets

# best.pt keeps what inference, calibration and evaluation read; optimizer and scheduler state stay behind.
DROPPED_KEYS = ("optimizer", "scheduler", "rng", "ema", "ema_updates")


def run_config(overrides: dict, minutes: float, batch_size: int, device: str) -> TrainConfig:
    """The default recipe with the run's overrides, timed by `minutes` alone (no epoch cap), calibrated later."""
    timed = {
        "batch_size": batch_size,
        "num_workers": 4,
        "max_epochs": 10**6,
        "max_minutes": minutes,
        "calibrate": False,
        "device": device,
        "log_every_steps": 10,
    }
    return TrainConfig.from_dict(recipe_config(DEFAULT_RECIPE, {**timed, **overrides}))


def train_one(data: Path, run: Path, overrides: dict, minutes: float, batch_size: int, device: str) -> dict:
    """One run in this process: train, then the numbers the table needs."""
    from ladle_model.reports.training import read_log

    cfg = run_config(overrides, minutes, batch_size, device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    presets = sorted(m.preset for m in list_datasets(data))  # one model for every preset built (issue 11)
    result = train(data, run, cfg, preset=presets)
    wall = time.perf_counter() - t0
    rows = read_log(run / "log_steps.csv")
    step_s = statistics.median(r["seconds"] / cfg.log_every_steps for r in rows[2:]) if len(rows) > 2 else float("nan")
    n_params = sum(p.numel() for p in build_model(cfg.model, **cfg.model_overrides).parameters())
    return {
        "overrides": overrides,
        "presets": presets,
        "batch_size": cfg.batch_size,
        "steps": result.step,
        "epochs": result.epochs,
        "wall_s": round(wall, 1),
        "median_step_ms": round(1000 * step_s, 2),
        "segments_per_s": round(cfg.batch_size / step_s, 1),
        "segments_seen": result.step * cfg.batch_size,
        "best_val_loss": result.best_val_loss,
        "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None,
        "n_params": n_params,
    }


def strip_checkpoint(source: Path, target: Path) -> None:
    """best.pt with the weights it serves as its "model" and no optimizer, scheduler or average state."""
    from ladle_model.runs.checkpoint import load_checkpoint, served_weights
    from ladle_model.runs.folder import save_checkpoint_file

    ckpt = load_checkpoint(source)
    ckpt["model"] = served_weights(ckpt)
    for key in DROPPED_KEYS:
        ckpt.pop(key, None)
    target.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint_file(ckpt, target)


def pack_run(run: Path, out: Path) -> Path:
    """OUT/NAME.tar: checkpoints/best.pt (stripped), config.json and the logs."""
    staged = run.parent / f"{run.name}-packed"
    strip_checkpoint(run / "checkpoints" / "best.pt", staged / "checkpoints" / "best.pt")
    target = out / f"{run.name}.tar"
    with tarfile.open(target, "w") as tar:
        tar.add(staged / "checkpoints" / "best.pt", arcname=f"{run.name}/checkpoints/best.pt")
        for name in ("config.json", "log_steps.csv", "log_epochs.csv"):
            if (run / name).exists():
                tar.add(run / name, arcname=f"{run.name}/{name}")
    return target


def largest_batch_case(device: torch.device, max_batch: int) -> dict:
    """bench.gpu_train's search for the default recipe at 1-s segments (44.1 kHz stereo)."""
    from bench.gpu_train import largest_batch, time_train_steps

    cfg = TrainConfig.from_dict(recipe_config(DEFAULT_RECIPE, {"device": device.type}))
    n_samples = 44100
    case = {
        "segment_seconds": 1.0,
        "recipe": DEFAULT_RECIPE,
        "at_recipe_batch": time_train_steps(cfg, cfg.batch_size, n_samples, device, steps=20),
        "at_batch_64": time_train_steps(cfg, 64, n_samples, device, steps=10),
    }
    best = largest_batch(cfg, n_samples, device, max_batch)
    case["largest_batch"] = best
    if best:
        case["at_largest_batch"] = time_train_steps(cfg, best, n_samples, device, steps=3, warmup=1)
    return case


def enhance_speed(checkpoint: Path, lossy_file: Path, device: str) -> dict:
    """Real-time factor of `enhance_track` on one whole decoded lossy track (after one warm-up pass)."""
    import soundfile as sf

    from ladle_model.inference.enhance import enhance_track, load_enhancer
    from storage.resample import resample

    enhancer = load_enhancer(checkpoint, device=device)
    audio, rate = sf.read(lossy_file, dtype="float32", always_2d=True)
    audio = np.ascontiguousarray(audio.T)
    if rate != enhancer.spec.input_rate:
        audio = resample(audio, rate, enhancer.spec.input_rate)
    enhance_track(enhancer.model, audio[:, : enhancer.spec.input_rate * 5], enhancer.spec)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = enhance_track(enhancer.model, audio, enhancer.spec)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    duration = audio.shape[1] / enhancer.spec.input_rate
    return {
        "file": lossy_file.name,
        "audio_s": round(duration, 2),
        "wall_s": round(seconds, 3),
        "real_time_factor": round(duration / seconds, 1),
        "finite": bool(np.isfinite(out).all()),
    }


def _parse_run(text: str) -> tuple[str, dict]:
    name, _, overrides = text.partition("=")
    return name, json.loads(overrides or "{}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True, help="the run folders go here")
    parser.add_argument("--out", type=Path, required=True, help="results.json and one NAME.tar per run")
    parser.add_argument("--run", action="append", type=_parse_run, required=True, help="NAME=JSON overrides")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--max-batch", type=int, default=4096)
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--lossy-file", type=Path, default=None, help="a whole lossy track timed for enhancement")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: train one run in this process
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    if args.one is not None:
        overrides = dict(args.run)[args.one]
        result = train_one(args.data, args.work / args.one, overrides, args.minutes, args.batch_size, args.device)
        (args.work / f"{args.one}.json").write_text(json.dumps(result, indent=2))
        return result

    results: dict = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "recipe": DEFAULT_RECIPE,
        "minutes": args.minutes,
        "runs": {},
    }

    def save() -> None:
        (args.out / "results.json").write_text(json.dumps(results, indent=2))

    # ---- 1. the runs, all at once
    passed = list(argv if argv is not None else sys.argv[1:])
    procs = {
        name: subprocess.Popen([sys.executable, "-m", "bench.gpu_quality", *passed, "--one", name])
        for name, _ in args.run
    }
    for name, proc in procs.items():
        code = proc.wait()
        report = args.work / f"{name}.json"
        results["runs"][name] = json.loads(report.read_text()) if code == 0 and report.exists() else {"failed": code}
        try:
            results["runs"][name]["packed"] = pack_run(args.work / name, args.out).name
        except Exception as e:  # noqa: BLE001  the other runs and measurements still count
            results["runs"][name]["pack_error"] = repr(e)
        print(f"run {name}: {results['runs'][name]}", flush=True)
        save()

    # ---- 2. enhancement speed
    if args.lossy_file is not None:
        for name, _ in args.run:
            try:
                results["runs"][name]["enhance"] = enhance_speed(
                    args.work / name / "checkpoints" / "best.pt", args.lossy_file, args.device
                )
            except Exception:  # noqa: BLE001
                results["runs"][name]["enhance"] = {"error": traceback.format_exc(limit=3)}
            print(f"enhance {name}: {results['runs'][name]['enhance']}", flush=True)
            save()
    # ---- 3. the largest batch and the throughput there
    if not args.skip_search:
        try:
            results["batch_search"] = largest_batch_case(torch.device(args.device), args.max_batch)
        except Exception:  # noqa: BLE001
            results["batch_search"] = {"error": traceback.format_exc(limit=3)}
        print(f"batch search: {results['batch_search']}", flush=True)
        save()

    save()
    return results


if __name__ == "__main__":
    main()
