"""Shard creation with 1 and 2 workers (processes and Dask): the speed-up, next to what the codec predicts.

    python -m bench.scaling --preset vorbis-160

The same demo library is built from scratch into a fresh data folder by each runner and worker
count, with the flow's own task sizing (groups of up to 32 tracks, at least two groups per worker).
The prediction: a build is bound by per-track work that parallelises perfectly (FFmpeg encoding,
decoding, resampling), so with w workers on w free cores it should approach w× the 1-worker speed;
the reference for that is FFmpeg alone encoding the same files with 1 and 2 jobs at a time, measured
in the same run. Wall-clock speed-ups need the cores to be free: the load average is reported.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from bench.common import command_line, report
from bench.corpus import ffmpeg_alone
from bench.data import bench_library


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="vorbis-160")
    parser.add_argument("--runners", nargs="+", default=["processes", "dask"])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with one_prefect_server():
        run(args)


def run(args: argparse.Namespace) -> None:
    from flows.build_corpus import build_corpus

    library = bench_library()
    files = sorted(library.rglob("*.flac"))
    work = Path(tempfile.mkdtemp(prefix="ladle-bench-scaling-"))
    build_corpus(sources=[str(work / "none")], data=str(work / "warmup"))  # start the embedded server

    ffmpeg_s = {}
    for w in (1, 2):
        (work / f"ff{w}").mkdir()
        ffmpeg_s[w] = ffmpeg_alone(files, args.preset, w, work / f"ff{w}")
    rows = [{"runner": "FFmpeg alone (prediction)", "1 worker s": ffmpeg_s[1], "2 workers s": ffmpeg_s[2],
             "speed-up": ffmpeg_s[1] / ffmpeg_s[2]}]
    for runner in args.runners:
        seconds = {}
        for w in (1, 2):
            start = time.perf_counter()
            build_corpus(sources=[str(library)], data=str(work / f"{runner}{w}"), presets=[args.preset],
                         task_runner=runner, workers=w)
            seconds[w] = time.perf_counter() - start
        rows.append({"runner": f"build-corpus, {runner}", "1 worker s": seconds[1], "2 workers s": seconds[2],
                     "speed-up": seconds[1] / seconds[2]})
    notes = [f"{len(files)} demo tracks, preset {args.preset}, the flow's default task sizing, {os.cpu_count()} cores. "
             "Each build starts from an empty data folder; Dask's local cluster start is included.",
             f"Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores."]
    report("scaling", command_line(), rows, notes, write=not args.no_write)


if __name__ == "__main__":
    main()
