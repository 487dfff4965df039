"""A library that changes a little: the first build, a no-op re-run, and one album added.

    python -m bench.incremental --tracks 1000 --shard-mb 8

A generated library of `--tracks` 2-s stereo 44.1 kHz FLAC tracks, tagged 12 to an album, is built
with `ladle build-corpus` (in this process, as a user runs it); then built again unchanged; then one
album is added and it is built once more, with the same preset and config each time. Each build
reports its wall and CPU time (this process and FFmpeg) and the shard bytes it wrote: shard files
that are new, or whose inode or mtime changed. The targets (issue 30): one album added writes at
most 5 % of the first build's shard bytes in at most 10 % of its time. A shard is the unit a
night rewrites, so `--shard-mb` sets the granularity of reuse: the album's split(s) each rewrite
one shard of at most that size.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import command_line, report
from bench.corpus import cpu_seconds
from bench.soak_library import tone_noise_pcm, write_pcm

SAMPLE_RATE = 44100


def write_album(root: Path, index: int, n_tracks: int, seconds: float, rng: np.random.Generator) -> None:
    """One album of `n_tracks` tagged FLAC tracks under root/artist NN/album NNNN/."""
    from mutagen.flac import FLAC

    folder = root / f"artist {index % 37:02d}" / f"album {index:04d}"
    for t in range(n_tracks):
        path = folder / f"{t + 1:02d} track.flac"
        write_pcm(path, tone_noise_pcm(rng, int(seconds * SAMPLE_RATE), SAMPLE_RATE, 2, 16), SAMPLE_RATE, 16)
        tags = FLAC(path)
        tags.update({"artist": f"artist {index % 37}", "album": f"album {index}", "tracknumber": str(t + 1)})
        tags.save()


def write_library(root: Path, n_tracks: int, per_album: int, seconds: float, seed: int = 0) -> int:
    """`n_tracks` tracks in albums of `per_album` (the last one shorter); returns the number of albums."""
    rng = np.random.default_rng(seed)
    n_albums = -(-n_tracks // per_album)
    for a in range(n_albums):
        write_album(root, a, min(per_album, n_tracks - a * per_album), seconds, rng)
    return n_albums


def shard_files(data: Path) -> dict[str, tuple[int, int, int]]:
    """Every shard under DATA (pooled or in a version folder): path -> (inode, mtime_ns, size)."""
    found = {}
    for path in [*data.glob("shards/*/*.tar"), *data.glob("datasets/*/*.tar")]:
        st = path.stat()
        found[str(path)] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return found


def written_bytes(before: dict, after: dict) -> int:
    return sum(stat[2] for path, stat in after.items() if before.get(path, (None, None))[:2] != stat[:2])


def timed_build(argv: list[str], data: Path) -> dict:
    from flows.cli import main

    before = shard_files(data)
    out = io.StringIO()
    start, cpu = time.perf_counter(), cpu_seconds()
    with contextlib.redirect_stdout(out):
        main(argv)
    wall_s, cpu_s = time.perf_counter() - start, cpu_seconds() - cpu
    summary = json.loads(out.getvalue())
    after = shard_files(data)
    return {
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "bytes": written_bytes(before, after),
        "pool_bytes": sum(s[2] for s in after.values()),
        "n_shards_written": summary.get("n_shards_written", 0),
        "n_shards": len(after),
        "version": summary["datasets"][0]["version"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=1000, help="tracks in the first library")
    parser.add_argument("--per-album", type=int, default=12, help="tracks per album")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each track")
    parser.add_argument("--preset", default="mp3-128")
    parser.add_argument("--shard-mb", type=float, default=8.0, help="shard size (the build's --shard-size-mb)")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--no-write", action="store_true", help="print only, do not append to BENCHMARKS.md")
    args = parser.parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows.cli.server import start_temporary_server

    work = Path(tempfile.mkdtemp(prefix="ladle-bench-incremental-"))
    library, data = work / "library", work / "data"
    n_albums = write_library(library, args.tracks, args.per_album, args.seconds)
    build = ["build-corpus", str(library), "--data", str(data), "--preset", args.preset]
    build += ["--shard-size-mb", str(args.shard_mb), "--workers", str(args.workers), "--json"]
    start_temporary_server()  # its start is not a build's cost

    first = timed_build(build, data)
    noop = timed_build(build, data)
    write_album(library, n_albums, args.per_album, args.seconds, np.random.default_rng(12345))
    added = timed_build(build, data)

    def row(what: str, r: dict) -> dict:
        return {
            "what": what,
            "wall s": r["wall_s"],
            "of first (wall)": r["wall_s"] / first["wall_s"],
            "CPU s": r["cpu_s"],
            "of first (CPU)": r["cpu_s"] / first["cpu_s"],
            "shard MB written": r["bytes"] / 2**20,
            "of first (bytes)": r["bytes"] / first["bytes"],
            "shards written": r["n_shards_written"],
            "pool MB": r["pool_bytes"] / 2**20,
        }

    rows = [row("first build", first), row("no-op re-run", noop), row("one album added", added)]
    notes = [
        f"{args.tracks} tracks of {args.seconds} s in albums of {args.per_album}, preset {args.preset}, shards of "
        f"{args.shard_mb} MB, {args.workers} workers; one album of {args.per_album} tracks added.",
        f"After the album: {added['n_shards']} shard files for 2 versions "
        f"({first['n_shards']} after the first build): the versions share every shard the album did not touch.",
        f"Targets: one album writes <= 5 % of the first build's shard bytes ({added['bytes'] / first['bytes']:.1%}) "
        f"in <= 10 % of its time ({added['wall_s'] / first['wall_s']:.1%} wall, "
        f"{added['cpu_s'] / first['cpu_s']:.1%} CPU); the no-op re-run takes {noop['wall_s']:.2f} s.",
        f"Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: read the ratios.",
    ]
    report("incremental", command_line(), rows, notes=notes, write=not args.no_write)


if __name__ == "__main__":
    main()
