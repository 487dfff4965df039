"""GPU training benchmark: LadLe's training speed, peak memory and the largest batch that fits.

    python -m bench.gpu_train --device cuda --out /tmp/ladle-bench      # on a GPU machine (scripts/gpu_check.sh)
    python -m bench.gpu_train --device cpu --tiny                       # the CPU smoke path of the same code

Three parts, each printed as it finishes and all saved to OUT/results.json:

1. end to end: `ladle_model.training.loop.train` on a synthetic demo-like dataset (1-s stereo segments at
   44.1 kHz in WebDataset shards), for --steps steps: segments/s from the step log, peak GPU memory;
2. step throughput: `train_step` alone on device-resident batches (no data loading) for 0.1-s and
   1-s segments, LadLe with stride 1 (the paper) and stride 4: segments/s and peak memory;
3. batch search: for the same four cases, the largest batch (by doubling, then bisection) with
   which two training steps run without running out of memory.

A timing here belongs to this benchmark, never to a test's assertion.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ladle_model.losses.perceptual import FeatureNet, FeatureNetConfig, freeze
from ladle_model.reports.training import read_log
from ladle_model.training.config import TrainConfig
from ladle_model.training.loop import train, train_step
from ladle_model.training.state import init_state

# --tiny: the same code paths at sizes a 2-core CPU runs in seconds.
TINY = {
    "sample_rate": 4000,
    "model": {"d_model": 16, "n_layers": 1, "n_heads": 2},
    "max_batch": 8,
    "n_train": 16,
    "n_val": 4,
}
FULL = {"sample_rate": 44100, "model": {}, "max_batch": 4096, "n_train": 512, "n_val": 64}


# ----------------------------------------------------------------------------- a demo-like dataset


def synthetic_music(rng: np.random.Generator, n_samples: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(lossless, lossy) float32 (2, n): decaying harmonic notes plus a little noise; the lossy copy is
    band-limited at 16 kHz (0.36 fs at other rates) and quantised to 10 bits, roughly what a mid-rate
    codec leaves (docs/design.md: MP3 128 kbps is ~20 dB SNR)."""
    t = np.arange(n_samples) / sample_rate
    x = np.zeros((2, n_samples))
    for _ in range(4):
        f0 = rng.uniform(80, 1000)
        onset = rng.uniform(0, t[-1] * 0.8)
        envelope = np.where(t >= onset, np.exp(-(t - onset) * rng.uniform(2, 8)), 0.0)
        pan = rng.uniform(0.3, 0.7)
        for k in range(1, 8):  # harmonics up to 7 f0, 1/k amplitudes
            if k * f0 < sample_rate / 2:
                x += (
                    np.array([[pan], [1 - pan]])
                    * envelope
                    * 0.15
                    / k
                    * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3))
                )
    x += 0.003 * rng.standard_normal(x.shape)
    x = np.clip(x, -1, 1)
    spectrum = np.fft.rfft(x, axis=1)
    cutoff = min(16000.0, 0.36 * sample_rate)
    spectrum[:, np.fft.rfftfreq(n_samples, 1 / sample_rate) > cutoff] = 0
    lossy = np.round(np.fft.irfft(spectrum, n=n_samples, axis=1) * 512) / 512
    return x.astype(np.float32), np.clip(lossy, -1, 1).astype(np.float32)


def write_synthetic_dataset(
    data_dir: Path,
    n_train: int,
    n_val: int,
    sample_rate: int,
    segment_seconds: float = 1.0,
    segments_per_shard: int = 64,
    seed: int = 0,
):
    """DATA/datasets/bench-v1: shards and manifest in the corpus builder's format (storage/manifest.py)."""
    import webdataset as wds

    from storage.manifest import DatasetManifest, SegmentMeta, SplitSummary, write_manifest
    from storage.sample_format import encode_sample, sample_key

    version = "bench-v1"
    folder = data_dir / "datasets" / version
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_samples = round(segment_seconds * sample_rate)

    splits = {}
    for split, n_segments in (("train", n_train), ("val", n_val)):
        names = []
        for start in range(0, n_segments, segments_per_shard):
            name = f"{split}-{len(names):06d}.tar"
            with wds.TarWriter(str(folder / name)) as sink:
                for i in range(start, min(start + segments_per_shard, n_segments)):
                    lossless, lossy = synthetic_music(rng, n_samples, sample_rate)
                    track_id, offset = f"{split}{i // 8:05d}", (i % 8) * n_samples
                    meta = SegmentMeta(
                        track_id,
                        offset,
                        i % 8,
                        "synthetic",
                        "resample",
                        sample_rate,
                        sample_rate,
                        segment_seconds,
                        split,
                        2,
                        version,
                    )
                    sink.write(encode_sample(sample_key(track_id, offset), lossless, lossy, meta))
            names.append(name)
        splits[split] = SplitSummary(tracks=(n_segments + 7) // 8, segments=n_segments, shards=names)
    manifest = DatasetManifest(
        version,
        "synthetic",
        "resample",
        segment_seconds,
        segment_seconds,
        sample_rate,
        sample_rate,
        splits,
        config={"bench": True},
        code_version="bench",
    )
    write_manifest(folder, manifest)
    return manifest


# ----------------------------------------------------------------------------- measurements


def _reset_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_memory_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_train_steps(
    cfg: TrainConfig, batch_size: int, n_samples: int, device: torch.device, steps: int, warmup: int = 2
) -> dict:
    """segments/s and peak memory of `train_step` on random device-resident (B, 2, n_samples) batches."""
    _reset_memory(device)
    state = init_state(cfg, device)
    feature_net = freeze(FeatureNet(FeatureNetConfig()).to(device)) if cfg.loss.lambda_perc > 0 else None
    g = torch.Generator(device="cpu").manual_seed(0)
    lossless = (0.3 * torch.randn(batch_size, 2, n_samples, generator=g)).clamp(-1, 1).to(device)  # (B, 2, T)
    lossy = (lossless + 0.01 * torch.randn(lossless.shape, generator=g).to(device)).clamp(-1, 1)  # (B, 2, T)
    for _ in range(warmup):
        train_step(state, state.model, lossless, lossy, feature_net, cfg, device)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        losses, _ = train_step(state, state.model, lossless, lossy, feature_net, cfg, device)
    _sync(device)
    seconds = time.perf_counter() - t0
    result = {
        "batch_size": batch_size,
        "segments_per_s": steps * batch_size / seconds,
        "step_ms": 1000 * seconds / steps,
        "peak_gib": _peak_memory_gib(device),
        "loss": losses["loss/total"].item(),
    }
    del state, feature_net, lossless, lossy
    _reset_memory(device)
    return result


def fits(cfg: TrainConfig, batch_size: int, n_samples: int, device: torch.device) -> bool:
    """Do two training steps at this batch size run (no out-of-memory, no kernel size limit hit)?"""
    try:
        time_train_steps(cfg, batch_size, n_samples, device, steps=1, warmup=1)
        return True
    except (torch.cuda.OutOfMemoryError, RuntimeError) as e:  # cuDNN/SDPA report OOM as RuntimeError too
        print(f"    batch {batch_size}: does not run ({str(e).splitlines()[0][:120]})", flush=True)
        _reset_memory(device)
        return False


def largest_batch(cfg: TrainConfig, n_samples: int, device: torch.device, max_batch: int) -> int:
    """Largest batch that fits: doubling from 1 up to `max_batch`, then bisection to within 1/16."""
    lo, hi = 0, None
    b = 1
    while b <= max_batch:
        if fits(cfg, b, n_samples, device):
            lo, b = b, b * 2
        else:
            hi = b
            break
    if hi is None:
        return lo  # max_batch (or the last power of two below it) fits
    while hi - lo > max(1, lo // 16):
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(cfg, mid, n_samples, device) else (lo, mid)
    return lo


def bench_end_to_end(data_dir: Path, run_dir: Path, cfg: TrainConfig, device: torch.device) -> dict:
    """`train` itself: data loading, feature-net pre-training, evaluation and checkpoints included."""
    _reset_memory(device)
    t0 = time.perf_counter()
    result = train(data_dir, run_dir, cfg, progress=False)
    wall = time.perf_counter() - t0
    steps = read_log(run_dir / "log_steps.csv")
    step_seconds = [r["seconds"] for r in steps[2:]] or [r["seconds"] for r in steps]  # skip warm-up steps
    median = statistics.median(step_seconds)
    return {
        "steps": result.step,
        "wall_s": wall,
        "median_step_s": median,
        "segments_per_s": cfg.batch_size / median,
        "peak_gib": _peak_memory_gib(device),
        "last_train_loss": result.last_train_loss,
        "best_val_loss": result.best_val_loss,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--tiny", action="store_true", help="CPU-sized model, rate and batch cap (smoke test)")
    parser.add_argument("--out", type=Path, default=None, help="results.json goes here (default: the work folder)")
    parser.add_argument(
        "--work", type=Path, default=None, help="the synthetic dataset and the run folder (default: a temp folder)"
    )
    parser.add_argument("--steps", type=int, default=30, help="training steps of the end-to-end run")
    parser.add_argument("--timed-steps", type=int, default=10, help="steps timed per throughput case")
    parser.add_argument(
        "--batch-size", type=int, default=16, help="batch of the end-to-end run and the throughput cases"
    )
    parser.add_argument("--max-batch", type=int, default=None, help="upper end of the batch search")
    parser.add_argument("--num-workers", type=int, default=4)
    parser.add_argument("--skip-search", action="store_true")
    args = parser.parse_args(argv)

    sizes = TINY if args.tiny else FULL
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda but torch sees no CUDA device")
    work = args.work or Path(tempfile.mkdtemp(prefix="ladle-bench-"))
    out = args.out or work
    out.mkdir(parents=True, exist_ok=True)
    sample_rate = sizes["sample_rate"]
    results: dict = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "sample_rate": sample_rate,
        "model_overrides": sizes["model"],
    }
    print(f"device {results['device']}, torch {torch.__version__}, results in {out}, work in {work}", flush=True)

    def config(**kw) -> TrainConfig:
        base = {
            "model": "ladle",
            "model_overrides": sizes["model"],
            "device": args.device,
            "batch_size": args.batch_size,
            "num_workers": args.num_workers,
            "feature_net_steps": 20,
            "checkpoint_every_steps": 10**9,
        }
        return TrainConfig.from_dict({**base, **kw})

    # ---- 1. end to end on shards
    data_dir = work / "data"
    write_synthetic_dataset(data_dir, sizes["n_train"], sizes["n_val"], sample_rate)
    e2e = bench_end_to_end(
        data_dir,
        work / f"run-{time.strftime('%Y%m%d-%H%M%S')}",
        config(max_steps=args.steps, eval_max_batches=4),
        device,
    )
    results["end_to_end"] = e2e
    print(
        f"end to end: {e2e['steps']} steps of batch {args.batch_size} x 1 s in {e2e['wall_s']:.1f} s; "
        f"{e2e['segments_per_s']:.1f} segments/s in the loop; peak {e2e['peak_gib']} GiB",
        flush=True,
    )

    # ---- 2. and 3. throughput and the largest batch, per segment length and stride
    results["cases"] = []
    for seconds in (0.1, 1.0):
        for stride in (1, 4):
            n_samples = round(seconds * sample_rate)
            cfg = config(model_overrides={**sizes["model"], "stride": stride})
            case = {"segment_seconds": seconds, "stride": stride, "n_samples": n_samples}
            case["throughput"] = time_train_steps(cfg, args.batch_size, n_samples, device, args.timed_steps)
            print(
                f"{seconds} s, stride {stride}: {case['throughput']['segments_per_s']:.1f} segments/s at batch "
                f"{args.batch_size}, {case['throughput']['step_ms']:.1f} ms/step, peak {case['throughput']['peak_gib']} GiB",
                flush=True,
            )
            if not args.skip_search:
                best = largest_batch(cfg, n_samples, device, args.max_batch or sizes["max_batch"])
                case["largest_batch"] = best
                if best:
                    case["at_largest_batch"] = time_train_steps(cfg, best, n_samples, device, steps=3, warmup=1)
                    print(
                        f"    largest batch {best}: {case['at_largest_batch']['segments_per_s']:.1f} segments/s, "
                        f"peak {case['at_largest_batch']['peak_gib']} GiB",
                        flush=True,
                    )
            results["cases"].append(case)
            (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
