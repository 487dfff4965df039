"""A training corpus small enough to carry to a GPU machine that has no registry, no FFmpeg and no music21.

    python -m bench.gpu_kit export --data /tmp/q/data --library /tmp/q/library --out gpu-kit    # here
    python -m bench.gpu_kit build --kit gpu-kit --out /tmp/work/data --workers 16                # there

A library's lossless FLACs are most of a corpus's bytes (about 2.6 MB per 40-s piece), far more than
the 64 MiB a call to the GPU machine carries. What makes them is small: each piece's MIDI, the way its
parts are played and the SoundFont. `export` writes those, the lossy bitstreams (about 0.3 MB per
piece and preset), the ingest, encode and alignment records and each dataset's manifest and shard
plans. `build` plays the MIDI again through the same SoundFont (storage.sources.library.render_plan),
checks every render against the PCM MD5 recorded at ingest, decodes the bitstreams with libsndfile
(measured within 2e-6 of FFmpeg's decode of the same files, under half of the 16-bit grid) and writes
the shards with the corpus builder's own `write_shard`: the datasets come out with the versions,
manifests and plans of the corpus they were exported from.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures as cf
import dataclasses
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from storage.align import Alignment
from storage.atomic import write_json_atomic
from storage.encode import Encoded
from storage.ingest import Track
from storage.manifest import MANIFEST_NAME, read_manifest
from storage.shards import PairInputs, plan_from_record, stats_path, write_shard

KIT_JSON = "kit.json"


# ----------------------------------------------------------------------------- export (where the corpus was built)


def _library_pieces(library: Path) -> dict[str, dict]:
    """file path relative to the library → its library.json piece (work, number, variation)."""
    meta = json.loads((library / "library.json").read_text())
    return {
        f: {**piece, "max_seconds": meta["max_seconds"], "min_seconds": meta["min_seconds"]}
        for piece in meta["pieces"]
        for f in piece["files"]
    }


def _relative_to_library(path: str, pieces: dict[str, dict]) -> str:
    """The library-relative path of a track file (found by its last parts: a track may sit in a linked copy)."""
    parts = Path(path).parts
    for n in range(1, len(parts) + 1):
        candidate = Path(*parts[-n:]).as_posix()
        if candidate in pieces:
            return candidate
    raise ValueError(f"{path}: not a file of the library")


def export(data_dir: Path, library: Path, out: Path) -> dict:
    import pyarrow.parquet as pq

    from storage.sources.library import Variation, Work, score_plan
    from storage.sources.midi_render import bundled_soundfont

    pieces = _library_pieces(library)
    tracks = {row["track_id"]: row for row in pq.read_table(data_dir / "catalog" / "tracks.parquet").to_pylist()}
    out.mkdir(parents=True, exist_ok=True)
    kit: dict = {"soundfont": "soundfont.sf2", "tracks": {}, "pairs": {}, "datasets": []}
    shutil.copyfile(bundled_soundfont(), out / "soundfont.sf2")
    needed: set[str] = set()
    for folder in sorted((data_dir / "datasets").iterdir()):
        manifest = read_manifest(folder)
        target = out / "datasets" / folder.name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / MANIFEST_NAME, target / MANIFEST_NAME)
        for split in manifest.splits.values():
            for shard in split.shards:
                stats = stats_path(folder / shard)
                shutil.copyfile(stats, target / stats.name)
                for item in plan_from_record(json.loads(stats.read_text())["plan"]).items:
                    needed.add(item.track_id)
                    kit["pairs"].setdefault(manifest.preset, {})[item.track_id] = None
        kit["datasets"].append(folder.name)
    for preset, pairs in kit["pairs"].items():
        for track_id in pairs:
            encoded = json.loads((data_dir / "encodes" / preset / f"{track_id}.json").read_text())
            alignment = json.loads((data_dir / "pairs" / preset / f"{track_id}.json").read_text())
            name = f"encodes/{preset}/{Path(encoded['path']).name}"
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(data_dir / encoded["path"], out / name)
            pairs[track_id] = {"encoded": {**encoded, "path": name}, "alignment": alignment}
    for track_id in sorted(needed):
        row = tracks[track_id]
        relative = _relative_to_library(row["path"], pieces)
        piece = pieces[relative]
        if piece.get("drums"):  # the kit's samples would have to travel too
            raise ValueError(f"{relative} has drums, which the kit cannot replay yet: build the library without them")
        work = Work(piece["work"], _corpus_path(piece["work"]), piece["number"])
        plan = score_plan(
            work,
            Variation(**{k: tuple(v) if isinstance(v, list) else v for k, v in piece["variation"].items()}),
            piece["max_seconds"],
        )
        kit["tracks"][track_id] = {
            "track": {**row, "path": relative},
            "midi": base64.b64encode(plan.midi).decode(),
            "voices": [dataclasses.asdict(v) for v in plan.voices],
            "velocity_scales": list(plan.velocity_scales),
            "max_seconds": piece["max_seconds"],
            "min_seconds": piece["min_seconds"],
            "production": piece.get("production"),  # the chain drawn for the work; None for a dry library
        }
    write_json_atomic(out / KIT_JSON, kit)
    return {
        "tracks": len(kit["tracks"]),
        "datasets": kit["datasets"],
        "bytes": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()),
    }


def _corpus_path(work_id: str) -> str:
    from music21 import common

    return str(Path(common.getCorpusFilePath()) / work_id)


# ----------------------------------------------------------------------------- build (on the GPU machine)


def _render(args: tuple[dict, bytes, str]) -> tuple[str, bool]:
    """Play one track's MIDI into its FLAC; (path, whether its PCM matches the MD5 recorded at ingest)."""
    from storage.audio import pcm_md5, probe_lossless
    from storage.sources.library import ScorePlan, render_plan
    from storage.sources.midi_render import SAMPLE_RATE, Voice, write_flac
    from storage.sources.production import Production, apply_production

    entry, soundfont, path = args
    plan = ScorePlan(
        base64.b64decode(entry["midi"]),
        tuple(Voice(**v) for v in entry["voices"]),
        tuple(entry["velocity_scales"]),
        0.0,
        None,
        None,
    )
    audio, _ = render_plan(plan, soundfont, entry["max_seconds"], entry["min_seconds"])
    if entry.get("production"):
        audio = apply_production(audio, SAMPLE_RATE, Production(**entry["production"]))
    write_flac(Path(path), audio, {})
    md5, _, _ = pcm_md5(path, probe_lossless(path))
    return path, md5 == entry["track"]["pcm_md5"]


def _decode_with_libsndfile(track: Track, encoded: Encoded) -> tuple[np.ndarray, np.ndarray]:
    """What `storage.segment.decode_sources` returns, with libsndfile decoding the lossy side instead of FFmpeg."""
    import soundfile as sf

    from storage.ingest import read_track

    lossy, rate = sf.read(encoded.path, dtype="float32", always_2d=True)
    if rate != encoded.sample_rate:
        raise ValueError(f"{encoded.path}: {rate} Hz, the encode record says {encoded.sample_rate}")
    return read_track(track), np.ascontiguousarray(lossy.T)


def build(kit_dir: Path, data_dir: Path, workers: int) -> dict:
    from storage.config import SegmentConfig

    kit = json.loads((kit_dir / KIT_JSON).read_text())
    soundfont = (kit_dir / kit["soundfont"]).read_bytes()
    library = data_dir / "library"
    track_fields = {f.name for f in dataclasses.fields(Track)}
    alignment_fields = {f.name for f in dataclasses.fields(Alignment)}
    tracks: dict[str, Track] = {}
    jobs = []
    for track_id, entry in kit["tracks"].items():
        path = library / entry["track"]["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        tracks[track_id] = Track(
            **{**{k: v for k, v in entry["track"].items() if k in track_fields}, "path": str(path)}
        )
        jobs.append((entry, soundfont, str(path)))
    with cf.ProcessPoolExecutor(max_workers=workers) as pool:
        matched = dict(pool.map(_render, jobs))
    mismatched = sorted(p for p, ok in matched.items() if not ok)

    summary = {"tracks": len(tracks), "renders_not_bit_exact": mismatched, "datasets": {}}
    for version in kit["datasets"]:
        source = kit_dir / "datasets" / version
        manifest = read_manifest(source)
        folder = data_dir / "datasets" / version
        folder.mkdir(parents=True, exist_ok=True)
        seg_cfg = SegmentConfig(**manifest.config["segment"])
        pairs = kit["pairs"][manifest.preset]
        inputs = {tid: PairInputs(tracks[tid],
                                  Encoded(**{**p["encoded"], "path": str(kit_dir / p["encoded"]["path"])}),
                                  Alignment(**{k: v for k, v in p["alignment"].items() if k in alignment_fields}))
                  for tid, p in pairs.items()}  # fmt: skip
        plans = []
        for split in manifest.splits.values():
            for shard in split.shards:
                record = json.loads(stats_path(source / shard).read_text())
                plans.append((plan_from_record(record["plan"]), record["n_samples"]))
        with cf.ThreadPoolExecutor(max_workers=workers) as pool:  # soxr and libsndfile release the GIL
            results = list(
                pool.map(
                    lambda pr: write_shard(
                        pr[0], inputs, seg_cfg, manifest.preset, folder, version, decode=_decode_with_libsndfile
                    ),
                    plans,
                )
            )
        for (plan, expected), result in zip(plans, results):
            if result.n_samples != expected:
                raise RuntimeError(
                    f"{version}/{plan.name}: {result.n_samples} samples, the exported corpus had {expected}"
                )
        shutil.copyfile(source / MANIFEST_NAME, folder / MANIFEST_NAME)
        summary["datasets"][version] = {"preset": manifest.preset, "samples": sum(r.n_samples for r in results)}
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="write a kit from a built corpus and the library it was built from")
    ex.add_argument("--data", type=Path, required=True)
    ex.add_argument("--library", type=Path, required=True)
    ex.add_argument("--out", type=Path, required=True)
    bd = sub.add_parser("build", help="render, decode and shard a kit into a data folder")
    bd.add_argument("--kit", type=Path, required=True)
    bd.add_argument("--out", type=Path, required=True)
    bd.add_argument("--workers", type=int, default=8)
    args = parser.parse_args(argv)
    try:
        if args.command == "export":
            result = export(args.data, args.library, args.out)
        else:
            result = build(args.kit, args.out, args.workers)
    except (OSError, KeyError, ValueError) as e:  # a folder that is not a built corpus, a library or a kit
        raise SystemExit(f"gpu_kit {args.command}: {type(e).__name__}: {e}") from None
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
