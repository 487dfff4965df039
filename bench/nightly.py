"""A month of nights, simulated: the `nightly` deployment on a real Prefect server, a worker and a changing library.

    python -m bench.nightly --nights 30
    python -m bench.nightly --nights 3 --no-write       # what tests/bench/test_nightly.py runs

It starts `prefect server start` on a free loopback port (bench/prefect_server.py: its own PREFECT_HOME
and SQLite database), creates the process work pool `ladle-process`, deploys `nightly/nightly` from prefect.yaml with `prefect deploy`
(LADLE_HOME set to this checkout, so the pull step starts each run here) and starts `prefect worker`. Before
each night but the first it changes a generated library (`change_library`: adds an album, deletes a track,
replaces one with a new master, retags one, drops in a corrupt file), then triggers the deployment with
`run_deployment` (an idempotency key per night) and waits for it. The run's parameters point it at the
bench's library, data and run folders, with a tiny training budget (`--max-steps`) and ViSQOL off.

Per night it records the flow run's state and time, the bytes it wrote and the disk the data folder uses,
the dataset version trained on and whether the champion changed, and checks the targets (issue 30):
every night completes; training uses that night's newest version; the datasets and pooled shards stay
within (keep + 1) x the newest version's shards (encodes, catalog and models are the shared rest); the
champion's test metrics never get worse (a new champion is not worse than the old one, beyond each
metric's noise, on the same tracks); no file is lost (every library file is a track or quarantined with
a reason, and the library is left byte for byte as it was).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.common import report
from bench.incremental import SAMPLE_RATE, write_album
from bench.prefect_server import POOL, prefect, prefect_server, trigger, worker
from bench.soak_library import file_digests, tone_noise_pcm, write_pcm

DEPLOYMENT = "nightly/nightly"


# ----------------------------------------------------------------------------- the library


def change_library(root: Path, night: int, per_album: int, seconds: float) -> list[str]:
    """The night's changes to the library, drawn from `night`: what a data team's library sees in a day."""
    from mutagen.flac import FLAC

    rng = np.random.default_rng(1000 + night)
    # the tracks pinned to test and val stay as they are: the champion and challenger are compared on them
    tracks = sorted(p for p in root.rglob("*.flac") if "corrupt" not in p.name and not pinned(p))
    done = []
    write_album(root, 100 + night, per_album, seconds, rng)
    done.append(f"added album {100 + night} ({per_album} tracks)")
    victim = tracks[int(rng.integers(len(tracks)))]
    victim.unlink()
    tracks.remove(victim)
    done.append(f"deleted {victim.relative_to(root)}")
    master = tracks[int(rng.integers(len(tracks)))]
    tags = dict(FLAC(master))
    write_pcm(master, tone_noise_pcm(rng, int(seconds * SAMPLE_RATE), SAMPLE_RATE, 2, 16), SAMPLE_RATE, 16)
    replaced = FLAC(master)
    replaced.update(tags)
    replaced.save()
    done.append(f"new master of {master.relative_to(root)}")
    others = [t for t in tracks if t != master]  # a file other than the new master, so both changes show
    retag = FLAC(others[int(rng.integers(len(others)))])
    retag["title"] = f"retitled on night {night}"
    retag.save()
    done.append(f"retagged {Path(retag.filename).relative_to(root)}")
    corrupt = root / "incoming" / f"corrupt night {night:02d}.flac"
    corrupt.parent.mkdir(parents=True, exist_ok=True)
    corrupt.write_bytes(b"fLaC" + rng.bytes(2000))
    done.append(f"corrupt file {corrupt.relative_to(root)}")
    return done


def write_first_library(root: Path, n_albums: int, per_album: int, seconds: float) -> None:
    """The first night's albums; the first track is pinned to the test split and the second to val (a `LADLE_SPLIT`
    tag), so every night's challenger and champion are scored on the same held-out track."""
    from mutagen.flac import FLAC

    rng = np.random.default_rng(0)
    for a in range(n_albums):
        write_album(root, a, per_album, seconds, rng)
    for path, split in zip(sorted(root.rglob("*.flac")), ("test", "val")):
        tagged = FLAC(path)
        tagged["ladle_split"] = split
        tagged.save()


def pinned(path: Path) -> bool:
    from mutagen.flac import FLAC

    return "ladle_split" in FLAC(path)


# ----------------------------------------------------------------------------- what a night leaves


def folder_files(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every file under `folder`: path -> (inode, mtime_ns, size)."""
    found = {}
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            found[str(path)] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return found


def written_bytes(before: dict, after: dict) -> int:
    """Bytes of files that are new or were rewritten (another inode or mtime) between two `folder_files`."""
    return sum(stat[2] for path, stat in after.items() if before.get(path, (None, None))[:2] != stat[:2])


def disk(data: Path) -> dict[str, int]:
    """The data folder's bytes: the versions (datasets/ and the shard pool) and the shared rest."""
    sizes = {"versions": 0, "shared": 0}
    for path, (_, _, size) in folder_files(data).items():
        part = Path(path).relative_to(data).parts[0]
        sizes["versions" if part in ("datasets", "shards") else "shared"] += size
    return sizes


def lost_files(library: Path, data: Path) -> list[str]:
    """Library files that are neither a track of the latest ingest nor quarantined (nor a duplicate) with a reason."""
    from storage import catalog

    accounted = {r["path"] for table in ("tracks", "quarantine", "duplicates") for r in catalog.read_rows(data, table)}
    return sorted(str(p) for p in library.rglob("*") if p.is_file() and str(p) not in accounted)


# ----------------------------------------------------------------------------- the month


def night_parameters(work: Path, args: argparse.Namespace) -> dict:
    return {
        "sources": [str(work / "library")],
        "data": str(work / "data"),
        "presets": [args.preset],
        "runs": str(work / "runs"),
        "overrides": {
            "max_steps": args.max_steps,
            "num_workers": 0,
            "calibrate": False,
            "checkpoint_every_steps": 1000,
            "warmup_steps": 0,
            "segment_seconds": 0.25,  # random crops of the 1-s segments
            "eval_max_batches": 2,
            "model_overrides": {"noise_fill": True, "dim": 32, "n_blocks": 2},
        },
        "max_minutes": args.max_minutes,
        "keep": args.keep,
        "max_tracks": 3,
        "visqol_excerpts": 0,
        "build_options": {"shard_target_mb": 1.0},
        "device": "cpu",
    }


def check_night(record: dict, previous_champion: dict | None, keep: int) -> list[str]:
    """The targets one night missed (empty: all met)."""
    from ladle_model.evaluation.promotion import worse_than

    missed = []
    if record["state"] != "Completed":
        missed.append(f"state {record['state']}")
    if record["trained on"] != record["newest version"]:
        missed.append(f"trained on {record['trained on']}, newest is {record['newest version']}")
    if record["versions bytes"] > (keep + 1) * record["newest version bytes"]:
        missed.append("disk over (keep + 1) x the corpus")
    if record["champion changed"] and previous_champion is not None:
        for preset, values in record["metrics"].items():
            for metric, value in values.items():
                if worse_than(metric, value, record["champion metrics"].get(preset, {}).get(metric, float("nan"))):
                    missed.append(f"new champion worse on {preset} {metric}")
    if record["lost files"]:
        missed.append(f"{len(record['lost files'])} library file(s) lost: {record['lost files'][:3]}")
    if not record["library intact"]:
        missed.append("the library changed during the night")
    return missed


def run_night(env: dict, work: Path, args: argparse.Namespace, night: int) -> dict:
    from ladle_model.runs.champion import champion_record
    from ladle_model.runs.checkpoint import load_checkpoint
    from ladle_model.runs.folder import RunDir
    from ladle_model.runs.registry import read_candidates
    from storage.versions import latest_version

    library, data = work / "library", work / "data"
    changes = change_library(library, night, args.per_album, args.seconds) if night > 1 else ["first library"]
    digests, before = file_digests(library), folder_files(data) if data.exists() else {}
    champion_before = (champion_record(data) or {}).get("registry_key") if data.exists() else None
    state, seconds = trigger(env, DEPLOYMENT, night_parameters(work, args), f"bench-night-{night}", args.timeout)
    newest = latest_version(data, args.preset)
    rows = {r["dataset_version"]: r for r in read_candidates(data)}
    row = rows.get(newest.version, {})
    trained_on = ""
    if row:
        trained_on = load_checkpoint(RunDir(row["run_dir"]).checkpoint("last"))["dataset_version"]
    after = folder_files(data)
    sizes = disk(data)
    champion_after = (champion_record(data) or {}).get("registry_key")
    newest_bytes = sum(p.stat().st_size for p in newest.all_shard_paths())
    return {
        "night": night,
        "changes": changes,
        "state": state,
        "seconds": seconds,
        "written bytes": written_bytes(before, after),
        "versions bytes": sizes["versions"],
        "shared bytes": sizes["shared"],
        "newest version": newest.version,
        "newest version bytes": newest_bytes,
        "trained on": trained_on,
        "verdict": row.get("verdict", ""),
        "reason": row.get("reason", ""),
        "champion changed": champion_after != champion_before,
        "champion": champion_after,
        "metrics": row.get("metrics", {}),
        "champion metrics": row.get("champion_metrics", {}),
        "lost files": lost_files(library, data),
        "library intact": file_digests(library) == digests,
    }


def simulate(args: argparse.Namespace, work: Path) -> list[dict]:
    """Every night's record, each with the targets it missed under "missed"."""
    write_first_library(work / "library", args.albums, args.per_album, args.seconds)
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    records, champion = [], None
    with prefect_server(work / "prefect", logs / "server.log") as env:
        prefect(env, "work-pool", "create", POOL, "--type", "process", "--overwrite")
        prefect(env, "--no-prompt", "deploy", "--name", "nightly")  # prefect.yaml's, as a data team deploys it
        with worker(env, logs / "worker.log"):
            for night in range(1, args.nights + 1):
                record = run_night(env, work, args, night)
                record["missed"] = check_night(record, champion, args.keep)
                champion = record["champion"] or champion
                records.append(record)
                print(
                    f"night {night}: {record['state']} in {record['seconds']:.0f} s, version {record['newest version']}, "
                    f"{record['verdict'] or 'nothing trained'}; missed: {record['missed'] or 'none'}",
                    flush=True,
                )
    return records


def table(records: list[dict]) -> list[dict]:
    return [
        {
            "night": r["night"],
            "status": r["state"],
            "time s": r["seconds"],
            "written MB": r["written bytes"] / 2**20,
            "versions MB": r["versions bytes"] / 2**20,
            "shared MB": r["shared bytes"] / 2**20,
            "newest version MB": r["newest version bytes"] / 2**20,
            "trained on": r["trained on"] or "-",
            "newest": r["newest version"],
            "verdict": r["verdict"] or "-",
            "champion changed": "yes" if r["champion changed"] else "no",
            "targets": "met" if not r["missed"] else "; ".join(r["missed"]),
        }
        for r in records
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nights", type=int, default=30, help="nights to simulate")
    parser.add_argument("--albums", type=int, default=3, help="albums in the first library")
    parser.add_argument("--per-album", type=int, default=4, help="tracks per album (one album is added a night)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each track")
    parser.add_argument("--preset", default="mp3-64", help="the preset the loop builds and trains on")
    parser.add_argument("--max-steps", type=int, default=20, help="training steps of each challenger")
    parser.add_argument("--max-minutes", type=float, default=5.0, help="each challenger's time budget")
    parser.add_argument("--keep", type=int, default=2, help="newest versions kept of each preset")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a night may take")
    parser.add_argument(
        "--work", type=Path, default=None, help="folder for the library, data and runs (default: temporary)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only, do not append to bench/log/nightly.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="ladle-bench-nightly-"))
    try:
        records = simulate(args, work)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    missed = sum(bool(r["missed"]) for r in records)
    notes = [
        f"{len(records)} nights, {missed} with a target missed; keep {args.keep}, {args.preset}, "
        f"{args.max_steps} training steps a night, ViSQOL off",
        "written MB: data-folder files new or rewritten that night; versions MB: datasets/ and the shard pool "
        "(target: at most (keep + 1) x the newest version's shards); shared MB: encodes, catalog, cache, models",
    ]
    command = "python -m bench.nightly " + " ".join(sys.argv[1:] if argv is None else argv)  # also when a test calls it
    report("nightly", command.strip(), table(records), notes=notes, write=not args.no_write)
    return records


if __name__ == "__main__":
    sys.exit(1 if any(r["missed"] for r in main()) else 0)
