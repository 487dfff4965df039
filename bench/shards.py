"""Reading shards into training batches against reading the same tar bytes without decoding.

    python -m bench.shards --workers 2 --batch-size 4

Reference: every member of every train shard read from its tar with `tarfile` (bytes only, no
decoding), one pass. Measured: the real training loader (`ladle_model.data.loader.make_loader`: webdataset,
shuffle buffer, npy parsing without copies, random crops converted to float32 straight into the
batch, DataLoader workers) over the same shards. Both report segments per second; the ratio is the
number to read. Also: shard bytes per second of audio against float32 shards of the same audio,
and what FLAC inside the shards would give (size, and decoding speed against parsing npy).
"""

from __future__ import annotations

import argparse
import io
import tarfile
import time

from bench.common import command_line, report
from bench.data import bench_dataset


def read_raw(paths) -> tuple[int, int]:
    n_members = n_bytes = 0
    for path in paths:
        with tarfile.open(path) as tar:
            for member in tar:
                if member.isfile():
                    n_bytes += len(tar.extractfile(member).read())
                    n_members += 1
    return n_members, n_bytes


def flac_in_shard(paths, n_segments: int = 40) -> dict:
    """FLAC-encode the first segments' int16 arrays in memory: bytes and decode time against npy parsing."""
    import soundfile as sf

    from storage.sample_format import LOSSLESS_MEMBER, LOSSY_MEMBER, npy_view, to_float32

    members = []
    with tarfile.open(paths[0]) as tar:
        for member in tar:
            if member.name.endswith((LOSSLESS_MEMBER, LOSSY_MEMBER)):
                members.append(tar.extractfile(member).read())
            if len(members) == 2 * n_segments:
                break
    flacs = []
    for data in members:
        buf = io.BytesIO()
        sf.write(buf, npy_view(data).T, 44100, format="FLAC", subtype="PCM_16")
        flacs.append(buf.getvalue())
    start = time.perf_counter()
    for data in members:
        to_float32(npy_view(data))
    npy_s = time.perf_counter() - start
    start = time.perf_counter()
    for data in flacs:
        sf.read(io.BytesIO(data), dtype="float32")
    flac_s = time.perf_counter() - start
    return {
        "npy_bytes": sum(map(len, members)),
        "flac_bytes": sum(map(len, flacs)),
        "npy_s": npy_s,
        "flac_s": flac_s,
        "n": len(members),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--passes", type=int, default=3, help="epochs of the loader (the raw read repeats as often)")
    parser.add_argument("--shard-mb", type=float, default=32.0, help="shard size of the benchmark dataset")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    from ladle_model.data.loader import make_loader

    manifest = bench_dataset(shard_target_mb=args.shard_mb)
    paths = [str(p) for p in manifest.shard_paths("train")]
    n_segments = manifest.splits["train"].segments

    start = time.perf_counter()
    for _ in range(args.passes):
        n_members, n_bytes = read_raw(paths)
    raw_s = time.perf_counter() - start
    assert n_members == 3 * n_segments

    raw_rate = args.passes * n_segments / raw_s
    rows = [
        {
            "what": "raw tar read (bytes, no decoding)",
            "segments/s": raw_rate,
            "MB/s": args.passes * n_bytes / raw_s / 1e6,
            "ratio": 1.0,
        }
    ]
    for workers in sorted({0, args.workers}):
        for _ in make_loader(paths, args.batch_size, train=True, epoch=99, num_workers=workers):
            pass  # warm-up: page cache, and the forkserver that starts workers (once per training process)
        start = time.perf_counter()
        n_loaded = 0
        for epoch in range(args.passes):
            loader = make_loader(
                paths, args.batch_size, train=True, epoch=epoch, num_workers=workers, shuffle_buffer=256
            )
            for lossless, _lossy in loader:
                n_loaded += lossless.shape[0]
        loader_s = time.perf_counter() - start
        assert n_loaded == args.passes * n_segments
        where = "in the training process" if workers == 0 else f"{workers} DataLoader workers"
        rows.append(
            {
                "what": f"training loader, {where}, batch {args.batch_size}",
                "segments/s": n_loaded / loader_s,
                "MB/s": args.passes * n_bytes / loader_s / 1e6,
                "ratio": n_loaded / loader_s / raw_rate,
            }
        )

    audio_s = n_segments * manifest.segment_seconds
    shard_bytes = sum(__import__("os").path.getsize(p) for p in paths)
    float32_bytes = 2 * 2 * 4 * manifest.sample_rate  # two (2, rate) float32 arrays per audio second
    flac = flac_in_shard(paths)
    notes = [
        f"{n_segments} train segments of {manifest.segment_seconds} s stereo in {len(paths)} shard(s), "
        f"{args.passes} timed passes after one warm-up pass; the loader's time includes forking its workers each epoch "
        "(the forkserver itself starts once per process, in the warm-up).",
        f"Shard bytes per audio second: {shard_bytes / audio_s:,.0f} ({shard_bytes / audio_s / float32_bytes:.1%} of "
        f"float32 arrays of the same audio, {float32_bytes:,} B/s, what shards held before).",
        f"FLAC in the shard instead of int16 npy (first {flac['n']} arrays): {flac['flac_bytes'] / flac['npy_bytes']:.1%} "
        f"of the bytes, but decoding took {flac['flac_s'] / flac['npy_s']:.0f}x as long as parsing npy and converting "
        f"({flac['npy_bytes'] / flac['npy_s'] / 1e6:,.0f} vs {flac['npy_bytes'] / flac['flac_s'] / 1e6:,.0f} MB/s of PCM).",
    ]
    report("shards", command_line(), rows, notes, write=not args.no_write)


if __name__ == "__main__":
    main()
