"""Corpus build speed against FFmpeg alone doing the same encodes and decodes on the same cores.

    python -m bench.corpus --preset vorbis-160 --workers 2 --max-seconds 600

The reference runs FFmpeg once to encode each demo track with the preset's exact settings and once
to decode the result, `--workers` processes at a time: the codec's own cost, the floor of any
pipeline. `build-corpus` then builds the same files into shards with the same number of workers
(ingest, encode, align, segment, shard, catalog), and once more with everything cached. The first
build's time is split by stage from Prefect's task-run records (bench/stages.py); `--profile N`
adds one more build under a per-thread CPU profiler and lists its N costliest Python functions.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import soundfile as sf

from bench.common import command_line, report
from bench.data import bench_dir


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (FFmpeg, task processes).

    Steadier than wall time on a shared machine: other people's load slows the wall clock, not this.
    A child counts once it has exited and been waited for: a worker process still alive (or the
    Prefect server's subprocess) is not in it; `live_children_cpu_seconds` reads those.
    """
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def live_children_cpu_seconds(cmdline_has: str = "") -> float:
    """User + system CPU seconds of this process's running descendants, with their own reaped children.

    Only those whose command line contains `cmdline_has`, if given ("uvicorn": the Prefect server).
    """
    import psutil  # a dependency of distributed (prefect-dask)

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            if cmdline_has and cmdline_has not in " ".join(child.cmdline()):
                continue
            t = child.cpu_times()
        except psutil.NoSuchProcess:  # exited since the listing: rusage counts it once it is reaped
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def demo_library(n_tracks: int, max_seconds: float) -> tuple[Path, list[Path], float]:
    """The first `n_tracks` demo pieces of at most `max_seconds` each: (folder, files, audio seconds).

    Rendered once into the benchmark cache, one folder per (tracks, length), so that a folder holds
    exactly these files and a second benchmark reuses them (600 s gives whole pieces).
    """
    from storage.sources.demo_corpus import write_demo_corpus

    folder = bench_dir() / f"library-{n_tracks}-tracks-{max_seconds:g}s"
    files = write_demo_corpus(folder, n_tracks=n_tracks, max_seconds=max_seconds)
    return folder, files, sum(sf.info(str(f)).duration for f in files)


def ffmpeg_alone(files: list[Path], preset_name: str, workers: int, out_dir: Path) -> float:
    """Wall seconds for FFmpeg to encode then decode every file, `workers` at a time."""
    from storage import ffmpeg as ff
    from storage.config import get_preset

    preset = get_preset(preset_name)

    def one(i_path):
        i, path = i_path
        out = out_dir / f"{i}.{preset.extension}"
        ff.encode_file(path, out, preset, muxer=ff.MUXERS[preset.extension])
        ff.decode_file(out, channels=2, sample_rate=preset.sample_rate)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:  # each job is an FFmpeg process
        list(pool.map(one, enumerate(files)))
    return time.perf_counter() - start


def profile_threads(run, top: int) -> list[str]:
    """Call `run()` with every thread it starts under cProfile, timed by each thread's own CPU clock.

    The threads runner runs tasks in threads this call starts; thread CPU time leaves out waiting
    (on FFmpeg, on the server), so the list is where the Python side spends CPU. FFmpeg's own CPU is
    in its processes and not here.
    """
    profilers = [cProfile.Profile(time.thread_time)]

    def start_in_thread(*_):  # first event of a new thread: swap in a profiler of its own
        profilers.append(cProfile.Profile(time.thread_time))
        profilers[-1].enable()

    threading.setprofile(start_in_thread)
    profilers[0].enable()
    try:
        run()
    finally:
        profilers[0].disable()
        threading.setprofile(None)
    stats = pstats.Stats(profilers[0])
    for p in profilers[1:]:  # their threads have ended with the flow's task runner
        stats.add(p)
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]  # by own time (tottime)
    return [
        f"`{Path(file).name}:{line}({name})`: {own:.2f} CPU-s own, {cum:.2f} with callees, {calls:,} calls"
        for (file, line, name), (_, calls, own, cum, _) in rows
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="vorbis-160")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--tracks", type=int, default=10)
    parser.add_argument(
        "--max-seconds", type=float, default=40.0, help="cap on each demo piece's length (600: whole pieces)"
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="one more build under cProfile: list its N costliest Python functions",
    )
    parser.add_argument("--no-write", action="store_true", help="print only, do not append to bench/log/corpus.md")
    args = parser.parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    work = Path(tempfile.mkdtemp(prefix="ladle-bench-corpus-"))
    # A Prefect home of its own: no task result cached by an earlier run makes the first build look cheaper.
    os.environ["PREFECT_HOME"] = str(work / "prefect")

    from bench.stages import CpuSampler, read_spans, stage_breakdown
    from flows.build_corpus import build_corpus

    library, files, audio_s = demo_library(args.tracks, args.max_seconds)

    (work / "ffmpeg").mkdir()
    cpu = cpu_seconds()
    ffmpeg_s = ffmpeg_alone(files, args.preset, args.workers, work / "ffmpeg")
    ffmpeg_cpu = cpu_seconds() - cpu

    def build(data: str = "data"):
        return build_corpus(
            sources=[str(library)],
            data=str(work / data),
            presets=[args.preset],
            workers=args.workers,
            return_state=True,
        )

    build_corpus(sources=[str(work / "none")], data=str(work / "warmup"))  # start the embedded server
    server_cpu = live_children_cpu_seconds("uvicorn")
    with CpuSampler(cpu_seconds) as sampler:
        start, cpu = time.time(), cpu_seconds()
        state = build()
        end = time.time()
        first_s, first_cpu = end - start, cpu_seconds() - cpu
    server_cpu = live_children_cpu_seconds("uvicorn") - server_cpu
    state.result()  # raises if the build failed
    stages = stage_breakdown(read_spans(state.state_details.flow_run_id), start, end, sampler)
    start, cpu = time.perf_counter(), cpu_seconds()
    cached = build().result()
    cached_s, cached_cpu = time.perf_counter() - start, cpu_seconds() - cpu
    assert cached["n_encoded"] == 0, "the re-run should be fully cached"
    hotspots = profile_threads(lambda: build("profiled").result(), args.profile) if args.profile else []

    rows = [
        {
            "what": f"FFmpeg alone: encode + decode ({args.workers} at a time)",
            "wall s": ffmpeg_s,
            "audio s / wall s": audio_s / ffmpeg_s,
            "ratio to FFmpeg": 1.0,
            "CPU s": ffmpeg_cpu,
            "CPU ratio": 1.0,
        },
        {
            "what": "build-corpus, first run",
            "wall s": first_s,
            "audio s / wall s": audio_s / first_s,
            "ratio to FFmpeg": ffmpeg_s / first_s,
            "CPU s": first_cpu,
            "CPU ratio": ffmpeg_cpu / first_cpu,
        },
        *[
            {"what": f"first run, {stage}", "wall s": wall, "CPU s": stage_cpu}
            for stage, (wall, stage_cpu) in stages.items()
        ],
        {"what": "first run, Prefect server (its own process, not in CPU s above)", "CPU s": server_cpu},
        {
            "what": "build-corpus, cached re-run",
            "wall s": cached_s,
            "audio s / wall s": audio_s / cached_s,
            "ratio to FFmpeg": ffmpeg_s / cached_s,
            "CPU s": cached_cpu,
            "CPU ratio": ffmpeg_cpu / cached_cpu,
        },
    ]
    notes = [
        f"{len(files)} demo tracks, {audio_s:.0f} s ({audio_s / 60:.1f} min) of 44.1 kHz stereo audio, "
        f"preset {args.preset}, {args.workers} workers, threads runner.",
        f"Cached re-run took {cached_s / first_s:.1%} of the first run.",
        "Wall times of build-corpus exclude the embedded Prefect server's start (warmed up first).",
        f"Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores. CPU s: user + system of this "
        "process and its children (FFmpeg), the number to read when the machine is shared. The Prefect server "
        "runs in a subprocess of its own and is not in it; its row is read from the live process.",
        "Stage rows: each stage's first task-run start to its last task-run end, from Prefect's records "
        "(bench/stages.py); CPU s sampled over that window. The stages run one after another, so the rows add "
        f"up to the first run. The build spent {first_cpu - ffmpeg_cpu:.1f} CPU-s more than FFmpeg alone.",
    ]
    if hotspots:
        notes.append(
            "Costliest Python functions of one more first build (cProfile, each thread's CPU clock; "
            "FFmpeg's own CPU is not here): " + "; ".join(hotspots)
        )
    report("corpus", command_line(), rows, notes, write=not args.no_write)


if __name__ == "__main__":
    main()
