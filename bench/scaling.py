"""Shard creation with 1, 2 and 4 workers (processes and Dask): the speed-up, what bounds it, and a cluster prediction.

    python -m bench.scaling --preset vorbis-160 --workers 1 2 4

The bench corpus (by default the first 10 demo pieces whole, about 29 minutes of audio; the same
files as `python -m bench.corpus --max-seconds 600`) is built from scratch into a fresh data folder
by each runner and worker count, with the flow's own task sizing (groups of up to 32 tracks, at
least two groups per worker; shards of `--shard-mb`). The reference is FFmpeg alone encoding and
decoding the same files with as many jobs at a time, measured in the same run: per-track work that
parallelises perfectly, so with w workers on w free cores it approaches w× the 1-worker speed.

Each build's wall time is split into its stages' task runs and the rest (flow start, scan,
planning, catalog, the task runner's start), read from Prefect's records (bench/stages.py). That
rest does not shrink with workers: from the first worker count's run it gives Amdahl's prediction
of the speed-up, printed next to the measured one. Per-stage throughput, the same fixed part and
Prefect's cost per task run then predict a 10,000-track library on 8, 32 and 128 workers.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import command_line, report
from bench.corpus import cpu_seconds, demo_library, ffmpeg_alone, live_children_cpu_seconds
from bench.stages import Span, read_spans, serial_seconds, stage_windows

# Prefect's CPU per task run, measured by `python -m bench.task_overhead --tasks 400` (BENCHMARKS.md,
# "Task overhead"): 9.18 ms client and server together, 6 ms of it the client's.
TASK_RUN_CPU_S = 0.00918
TASK_RUN_CLIENT_CPU_S = 0.006
# The library issue 12 sizes the build for: a data team's 10,000 tracks, about 650 hours of audio.
TARGET_TRACKS, TARGET_AUDIO_S = 10_000, 650 * 3600.0
PREDICT_WORKERS = (8, 32, 128)
GROUP_SIZE = 32  # tracks per ingest/encode/align task: build_corpus's default group_size


@contextmanager
def one_prefect_server():
    """A Prefect server for the whole benchmark, unless PREFECT_API_URL names one already.

    Without it, each task process of the processes runner starts an ephemeral server of its own,
    which on a loaded machine times out; every process talks to this one instead.
    """
    if os.environ.get("PREFECT_API_URL"):
        yield
        return
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@dataclass
class BuildRun:
    """One timed build: wall and CPU seconds, and its task runs by stage."""

    workers: int
    wall_s: float
    cpu_s: float  # this process, its reaped children and its live descendants (the server included)
    server_cpu_s: float  # the Prefect server's process (uvicorn)
    spans: list[Span]
    workers_left: int  # worker processes still alive after the build (their CPU so far is in cpu_s)

    @property
    def fixed_s(self) -> float:
        return serial_seconds(self.spans, self.wall_s)


def amdahl_speedup(serial_s: float, parallel_s: float, workers: int, base_workers: int = 1) -> float:
    """Speed-up over a run with `base_workers` whose time was `serial_s` + `parallel_s` (Amdahl's law)."""
    return (serial_s + parallel_s) / (serial_s + parallel_s * base_workers / workers)


@dataclass(frozen=True)
class StageCost:
    """One stage of a predicted build: how many task runs, and one task run's work in worker-seconds."""

    n_tasks: int
    task_s: float


def library_stages(
    rates: dict[str, float], n_tracks: int, audio_s: float, group_size: int, shard_audio_s: float
) -> dict[str, StageCost]:
    """A library's stages from measured rates (worker-seconds per audio second, by stage name).

    Group stages take `group_size` tracks of the library's mean length per task; the shard stage
    takes `shard_audio_s` of audio per task (one shard).
    """
    group_audio_s = group_size * audio_s / n_tracks
    out = {}
    for stage, rate in rates.items():
        if stage.startswith("shard"):
            out[stage] = StageCost(math.ceil(audio_s / shard_audio_s), shard_audio_s * rate)
        else:
            out[stage] = StageCost(math.ceil(n_tracks / group_size), group_audio_s * rate)
    return out


def predict_seconds(fixed_s: float, stages: dict[str, StageCost], workers: int) -> float:
    """Wall seconds of a build on `workers` workers with unlimited cores and one Prefect server.

    Stages run one after another in waves of `workers` equal task runs, each carrying the client's
    bookkeeping; the server's share of every task run's bookkeeping is a floor of its own, served
    alongside the work. The fixed part is what one run measured at the bench corpus's size.
    """
    work_s = sum(math.ceil(s.n_tasks / workers) * (s.task_s + TASK_RUN_CLIENT_CPU_S) for s in stages.values())
    server_s = sum(s.n_tasks for s in stages.values()) * (TASK_RUN_CPU_S - TASK_RUN_CLIENT_CPU_S)
    return fixed_s + max(work_s, server_s)


def timed_build(build, workers: int, **kwargs) -> BuildRun:
    """Run `build(workers=..., return_state=True, **kwargs)` and measure it; the build must succeed."""
    before = live_workers()
    server_cpu = live_children_cpu_seconds("uvicorn")
    start, cpu = time.time(), cpu_seconds() + live_children_cpu_seconds()
    state = build(workers=workers, return_state=True, **kwargs)
    wall_s, cpu_s = time.time() - start, cpu_seconds() + live_children_cpu_seconds() - cpu
    server_cpu = live_children_cpu_seconds("uvicorn") - server_cpu
    state.result()  # raises if the build failed
    return BuildRun(
        workers, wall_s, cpu_s, server_cpu, read_spans(state.state_details.flow_run_id), len(live_workers() - before)
    )


def live_workers() -> set[int]:
    """Process ids of this process's live multiprocessing workers (task processes, Dask nannies and workers)."""
    import psutil

    pids = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):  # not the resource tracker, not the server
                pids.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return pids


def shard_bytes(data: Path) -> int:
    from storage.corpus import SHARD_GLOB

    return sum(p.stat().st_size for p in data.glob(SHARD_GLOB))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="vorbis-160")
    parser.add_argument("--runners", nargs="+", default=["processes", "dask"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--tracks", type=int, default=10)
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=600.0,
        help="cap on each demo piece's length (600: whole pieces, 29 min for 10 tracks)",
    )
    parser.add_argument("--shard-mb", type=float, default=256.0, help="the flow's shard_target_mb")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    args.workers = sorted(set(args.workers))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with one_prefect_server():
        run(args)


def run(args: argparse.Namespace) -> None:
    from flows.build_corpus import build_corpus

    library, files, audio_s = demo_library(args.tracks, args.max_seconds)
    work = Path(tempfile.mkdtemp(prefix="ladle-bench-scaling-"))
    build_corpus(sources=[str(work / "none")], data=str(work / "warmup"))  # start the server's first requests
    cores = os.cpu_count() or 1

    rows, run_notes = [], []
    ffmpeg = {}
    for w in args.workers:
        (work / f"ff{w}").mkdir()
        cpu = cpu_seconds()
        ffmpeg[w] = ffmpeg_alone(files, args.preset, w, work / f"ff{w}")
        rows.append(
            {
                "run": "FFmpeg alone",
                "workers": w,
                "wall s": ffmpeg[w],
                "speed-up": ffmpeg[args.workers[0]] / ffmpeg[w],
                "Amdahl": "",
                "fixed s": "",
                "CPU s": cpu_seconds() - cpu,
                "server CPU s": "",
            }
        )

    predictions = {}
    for runner in args.runners:
        runs: list[BuildRun] = []
        for w in args.workers:
            data = work / f"{runner}{w}"
            runs.append(
                timed_build(
                    build_corpus,
                    w,
                    sources=[str(library)],
                    data=str(data),
                    presets=[args.preset],
                    task_runner=runner,
                    shard_target_mb=args.shard_mb,
                )
            )
        base = runs[0]
        for r in runs:
            rows.append(
                {
                    "run": f"build-corpus, {runner}",
                    "workers": r.workers,
                    "wall s": r.wall_s,
                    "speed-up": base.wall_s / r.wall_s,
                    "Amdahl": amdahl_speedup(
                        base.fixed_s, base.wall_s - base.fixed_s, min(r.workers, cores), min(base.workers, cores)
                    ),
                    "fixed s": r.fixed_s,
                    "CPU s": r.cpu_s,
                    "server CPU s": r.server_cpu_s,
                }
            )
            run_notes.append(f"{runner}, {r.workers} worker(s): " + _stage_note(r))
        # Worker-seconds per audio second, by stage, from the smallest worker count's run.
        rates = {
            stage: (last - first) * min(base.workers, cores) / audio_s
            for stage, (first, last) in stage_windows(base.spans).items()
        }
        shard_audio_s = args.shard_mb * 2**20 / (shard_bytes(work / f"{runner}{base.workers}") / audio_s)
        stages = library_stages(rates, TARGET_TRACKS, TARGET_AUDIO_S, GROUP_SIZE, shard_audio_s)
        predictions[runner] = {w: predict_seconds(base.fixed_s, stages, w) for w in (1, *PREDICT_WORKERS)}
        run_notes.append(
            f"{runner}: {1 / sum(rates.values()):.1f} audio-s per worker-second over all stages "
            f"({', '.join(f'{s.split()[0]} {1 / r:.0f}' for s, r in rates.items())}); "
            f"a shard holds {shard_audio_s / 60:.1f} min of audio; fixed part {base.fixed_s:.1f} s."
        )
        if any(r.workers_left for r in runs):
            run_notes.append(
                f"{runner}: worker processes were still alive after a build; their CPU so far is counted "
                "from /proc, what they spend after it is not."
            )

    notes = [
        f"{len(files)} demo pieces, {audio_s:.0f} s ({audio_s / 60:.1f} min) of 44.1 kHz stereo audio, preset "
        f"{args.preset}, shards of {args.shard_mb:g} MB, the flow's default task sizing, {cores} cores. Each build "
        "starts from an empty data folder; the runner's start (processes, Dask's local cluster) is included.",
        "fixed s: the build's wall time outside every stage's task runs (flow start, scan, planning, catalog, the "
        "runner's start), from Prefect's task-run records. Amdahl: the speed-up that fixed part allows over the "
        f"first run, with min(workers, {cores} cores) doing the rest.",
        "CPU s: user + system of this process, its reaped children and its live descendants (read from /proc), so "
        "task processes and Dask workers count whether or not they have exited; server CPU s: the Prefect "
        "server's process alone (also in CPU s). A process that leaves this process tree is not counted.",
        *run_notes,
        f"Prediction for {TARGET_TRACKS:,} tracks, {TARGET_AUDIO_S / 3600:.0f} h of audio, groups of {GROUP_SIZE} "
        f"tracks, from the rates above, the fixed part and Prefect's {TASK_RUN_CPU_S * 1e3:.1f} ms per task run "
        f"({TASK_RUN_CLIENT_CPU_S * 1e3:.0f} in the worker, the rest on one API server; `python -m "
        "bench.task_overhead`): stages run in waves of equal tasks, one worker per core. "
        + "; ".join(
            f"{runner}: " + ", ".join(f"{w} workers {s / 3600:.2f} h ({p[1] / s:.1f}×)" for w, s in p.items() if w != 1)
            for runner, p in predictions.items()
        )
        + ". Not included: serial work that grows with the library (scan, planning, catalog writes) beyond the "
        "fixed part measured here, and stragglers longer than the mean task.",
        f"Load average at the end: {os.getloadavg()[0]:.1f} on {cores} cores.",
    ]
    report("scaling", command_line(), rows, notes, write=not args.no_write)


def _stage_note(r: BuildRun) -> str:
    """Per stage: task runs, the stage's wall seconds, and its longest task run (the stage's floor)."""
    parts = []
    for stage, (first, last) in stage_windows(r.spans).items():
        durations = [s.end - s.start for s in r.spans if s.stage == stage]
        parts.append(
            f"{stage.split()[0]} {len(durations)} tasks in {last - first:.1f} s (longest {max(durations):.1f} s)"
        )
    return "; ".join(parts) + f"; outside tasks {r.fixed_s:.1f} s."


if __name__ == "__main__":
    main()
