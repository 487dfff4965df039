"""Corpus build speed against FFmpeg alone doing the same encodes and decodes on the same cores.

    python -m bench.corpus --preset vorbis-160 --workers 2

The reference runs FFmpeg once to encode each demo track with the preset's exact settings and once
to decode the result, `--workers` processes at a time: the codec's own cost, the floor of any
pipeline. `build-corpus` then builds the same files into shards with the same number of workers
(ingest, encode, align, segment, shard, catalog), and once more with everything cached.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import soundfile as sf

from bench.common import command_line, report


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (FFmpeg, task processes).

    Steadier than wall time on a shared machine: other people's load slows the wall clock, not this.
    """
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="vorbis-160")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--tracks", type=int, default=10)
    parser.add_argument("--max-seconds", type=float, default=40.0,
                        help="cap on each demo piece's length (600: whole pieces)")
    parser.add_argument("--no-write", action="store_true", help="print only, do not append to BENCHMARKS.md")
    args = parser.parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

    from flows.build_corpus import build_corpus
    from storage.sources.demo_corpus import write_demo_corpus

    work = Path(tempfile.mkdtemp(prefix="ladle-bench-corpus-"))
    files = write_demo_corpus(work / "library", n_tracks=args.tracks, max_seconds=args.max_seconds)
    audio_s = sum(sf.info(str(f)).duration for f in files)

    (work / "ffmpeg").mkdir()
    cpu = cpu_seconds()
    ffmpeg_s = ffmpeg_alone(files, args.preset, args.workers, work / "ffmpeg")
    ffmpeg_cpu = cpu_seconds() - cpu

    def build():
        return build_corpus(sources=[str(work / "library")], data=str(work / "data"), presets=[args.preset],
                            workers=args.workers)

    build_corpus(sources=[str(work / "library" / "none")], data=str(work / "warmup"))  # start the embedded server
    start, cpu = time.perf_counter(), cpu_seconds()
    build()
    first_s, first_cpu = time.perf_counter() - start, cpu_seconds() - cpu
    start, cpu = time.perf_counter(), cpu_seconds()
    cached = build()
    cached_s, cached_cpu = time.perf_counter() - start, cpu_seconds() - cpu
    assert cached["n_encoded"] == 0, "the re-run should be fully cached"

    rows = [
        {"what": f"FFmpeg alone: encode + decode ({args.workers} at a time)", "wall s": ffmpeg_s,
         "audio s / wall s": audio_s / ffmpeg_s, "ratio to FFmpeg": 1.0, "CPU s": ffmpeg_cpu, "CPU ratio": 1.0},
        {"what": "build-corpus, first run", "wall s": first_s, "audio s / wall s": audio_s / first_s,
         "ratio to FFmpeg": ffmpeg_s / first_s, "CPU s": first_cpu, "CPU ratio": ffmpeg_cpu / first_cpu},
        {"what": "build-corpus, cached re-run", "wall s": cached_s, "audio s / wall s": audio_s / cached_s,
         "ratio to FFmpeg": ffmpeg_s / cached_s, "CPU s": cached_cpu, "CPU ratio": ffmpeg_cpu / cached_cpu},
    ]
    notes = [
        f"{len(files)} demo tracks, {audio_s:.0f} s of 44.1 kHz stereo audio, preset {args.preset}, {args.workers} workers.",
        f"Cached re-run took {cached_s / first_s:.1%} of the first run.",
        "Wall times of build-corpus exclude the embedded Prefect server's start (warmed up first).",
        f"Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores. CPU s: user + system of this "
        "process and its children (FFmpeg), the number to read when the machine is shared (the embedded server's "
        "own threads count too).",
    ]
    report("corpus", command_line(), rows, notes, write=not args.no_write)


if __name__ == "__main__":
    main()
