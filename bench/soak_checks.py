"""The soak's checks: what a data folder must hold after kills and a final run, against a clean build.

    findings = check_data_folder(library, Path("soak/data"), Path("soak/clean"))
    findings.lost            # good tracks (or source files) the build lost: must be empty
    findings.inconsistent    # every other disagreement, one line each: must be empty

Nothing here trusts the catalog alone: track ids come from the PCM the library generator wrote,
shards are read back sample by sample through storage/sample_format.py, and every file's bytes are
hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from bench.soak_library import BAD_KINDS, SoakLibrary, flac_md5

TMP_MARKER = ".tmp-"  # storage/atomic.py's temporaries
VOLATILE = {"catalog/runs.parquet", ".lock"}  # differ between any two data folders by design
PER_FOLDER = ("cache/",)  # keyed by absolute paths, so named differently in every data folder


@dataclass
class Findings:
    lost: list[str] = field(default_factory=list)
    inconsistent: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)


def sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def relative_files(folder: Path) -> dict[str, Path]:
    """Every regular file under `folder` by its relative path."""
    files = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            path = Path(parent) / name
            files[path.relative_to(folder).as_posix()] = path
    return files


def _resolve(data: Path, recorded: str) -> Path:
    """A path the catalog recorded: absolute, relative to the data folder, or (older builds) to the cwd."""
    path = Path(recorded)
    if path.is_absolute():
        return path
    return data / path if (data / path).exists() else Path.cwd() / path


def _decoded_track_id(path: Path) -> str | None:
    import soundfile as sf

    from storage.ingest import track_id_for

    try:
        info = sf.info(str(path))
        bits = {"PCM_16": 16, "PCM_24": 24}.get(info.subtype, 16)
        pcm = sf.read(str(path), dtype="int32", always_2d=True)[0] >> (32 - bits)
    except Exception as e:  # noqa: BLE001 - any failure to read is what we report
        return f"unreadable: {e}"
    return track_id_for(flac_md5(pcm, bits), info.samplerate, info.channels)


def check_catalog(lib: SoakLibrary, data: Path, preset: str, out: Findings) -> dict[str, dict]:
    """Tracks, duplicates, discs, quarantine and encodes tables against the library and the disk."""
    from storage.catalog import catalog_summary, read_rows

    tracks = {r["track_id"]: r for r in read_rows(data, "tracks")}
    for track_id in sorted(set(lib.good) - set(tracks)):
        out.lost.append(
            f"good track {track_id} ({(lib.good[track_id] or ['a disc track'])[0]!r}) is not in the tracks table"
        )
    for track_id in sorted(set(tracks) - set(lib.good)):
        out.inconsistent.append(
            f"tracks table has {track_id} ({tracks[track_id]['path']!r}), which is no good track of the library"
        )
    for track_id, row in tracks.items():
        path = Path(row["path"])
        if not path.is_file():
            out.inconsistent.append(f"track {track_id}: its file {row['path']!r} does not exist")
        elif track_id in lib.good and lib.good[track_id] and row["path"] != sorted(lib.good[track_id])[0]:
            out.inconsistent.append(
                f"track {track_id} recorded at {row['path']!r}, not its first path {sorted(lib.good[track_id])[0]!r}"
            )
        elif track_id in lib.disc_track_ids and _decoded_track_id(path) != track_id:
            out.inconsistent.append(f"disc track {track_id}: {row['path']!r} decodes to {_decoded_track_id(path)}")

    duplicates = {r["path"] for r in read_rows(data, "duplicates")}
    for path in sorted(lib.duplicates() - duplicates):
        out.inconsistent.append(f"duplicate {path!r} is not in the duplicates table")
    for path in sorted(duplicates - lib.duplicates()):
        out.inconsistent.append(f"duplicates table has {path!r}, which is no duplicate")

    discs = {r["cue_path"] for r in read_rows(data, "discs")}
    if discs != set(lib.good_cues):
        out.inconsistent.append(f"discs table holds {sorted(discs)}, expected {sorted(lib.good_cues)}")

    check_quarantine(lib, read_rows(data, "quarantine"), set(tracks), out)

    encodes = {r["track_id"]: r for r in read_rows(data, "encodes") if r["preset"] == preset}
    for track_id in sorted(set(lib.good) - set(encodes)):
        out.inconsistent.append(f"no encode of {track_id} for {preset} in the encodes table")
    for track_id, row in encodes.items():
        path = _resolve(data, row["path"])
        if not path.is_file():
            out.inconsistent.append(f"encode of {track_id}: {row['path']!r} does not exist")
        elif path.stat().st_size != row["size_bytes"]:
            out.inconsistent.append(
                f"encode of {track_id}: {row['path']!r} has {path.stat().st_size} bytes, catalog says {row['size_bytes']}"
            )
    pairs = {r["track_id"] for r in read_rows(data, "pairs") if r["preset"] == preset}
    for track_id in sorted(set(lib.good) - pairs):
        out.inconsistent.append(f"no alignment of {track_id} for {preset} in the pairs table")

    summary = catalog_summary(data)
    if summary["tracks"] != len(lib.good) or summary["duplicates"] != len(lib.duplicates()):
        out.inconsistent.append(
            f"`ladle catalog` counts {summary['tracks']} tracks and {summary['duplicates']} duplicates, "
            f"expected {len(lib.good)} and {len(lib.duplicates())}"
        )
    if len(summary["datasets"]) != 1:
        out.inconsistent.append(f"`ladle catalog` lists {len(summary['datasets'])} datasets, expected 1")
    out.figures["catalog"] = {
        "tracks": summary["tracks"],
        "duplicates": summary["duplicates"],
        "quarantined": len(summary["quarantine"]),
        "datasets": len(summary["datasets"]),
    }
    return tracks


def check_quarantine(lib: SoakLibrary, rows: list[dict], track_ids: set[str], out: Findings) -> None:
    """Every bad file quarantined with a reason of the right kind; no good file and no non-file in it."""
    by_path: dict[str, list[dict]] = {}
    for row in rows:
        by_path.setdefault(row["path"], []).append(row)
    for path, kind in sorted(lib.bad.items()):
        if kind == "broken_cue":  # reported under the sheet or its folder
            found = [r for p, rs in by_path.items() for r in rs if os.path.dirname(p) == os.path.dirname(path)]
        else:
            found = by_path.get(path, [])
        if kind == "unreadable" and os.geteuid() == 0:
            continue  # root reads it: a good track (lib.good holds it)
        if not found:
            out.inconsistent.append(f"bad file ({kind}) {path!r} is not quarantined")
        elif not all(r["reason"] for r in found):
            out.inconsistent.append(f"bad file ({kind}) {path!r} is quarantined without a reason")
        elif not any(re.search(BAD_KINDS[kind], r["reason"], re.IGNORECASE) for r in found):
            out.inconsistent.append(
                f"bad file ({kind}) {path!r} quarantined for the wrong reason: {found[0]['stage']}: {found[0]['reason']!r}"
            )
    good_paths = {p for paths in lib.good.values() for p in paths}
    for path in sorted(good_paths & set(by_path)):
        out.lost.append(f"good file {path!r} quarantined: {by_path[path][0]['reason']!r}")
    for path, kind in lib.not_tracks.items():
        reported = path in by_path or any(p.startswith(path + os.sep) and p not in good_paths for p in by_path)
        out.notes.append(f"{kind} {Path(path).name!r}: {'quarantined' if reported else 'skipped without a report'}")
    out.figures["quarantine_by_stage"] = dict(Counter(r["stage"] for r in rows))


def check_shards(lib: SoakLibrary, data: Path, out: Findings) -> str | None:
    """Read every sample of the one dataset version: every good track in exactly one split, counts as catalogued."""
    import webdataset as wds

    from storage.catalog import read_rows
    from storage.manifest import read_manifest, resolve_shard
    from storage.pool import POOL_GLOB
    from storage.sample_format import decode_sample, sample_key

    folders = sorted(p for p in (data / "datasets").glob("*") if p.is_dir()) if (data / "datasets").is_dir() else []
    finished = [f for f in folders if (f / "manifest.json").is_file()]
    for folder in set(folders) - set(finished):
        out.inconsistent.append(f"dataset folder {folder.name} has no manifest.json (an unfinished dataset)")
    if len(finished) != 1:
        out.inconsistent.append(f"{len(finished)} finished dataset versions on disk, expected 1")
        if not finished:
            return None
    folder = finished[-1]
    manifest = read_manifest(folder)
    # The manifest names its shards relative to its folder; with one version, every pooled shard is one of them.
    paths = {name: Path(resolve_shard(folder, name)) for s in manifest.splits.values() for name in s.shards}
    listed = set(paths)
    on_disk = {name for name, path in paths.items() if path.is_file()}
    pooled = {p.resolve() for p in data.glob(POOL_GLOB)} | {p.resolve() for p in folder.glob("*.tar")}
    strays = sorted(str(p) for p in pooled - {path.resolve() for path in paths.values()})
    if listed != on_disk or strays:
        out.inconsistent.append(f"shards on disk {strays} not in the manifest; {sorted(listed - on_disk)} missing")
    catalogued = {r["name"]: r for r in read_rows(data, "shards") if r["dataset_version"] == manifest.version}
    splits_of: dict[str, set[str]] = {}
    counts: Counter = Counter()
    keys: Counter = Counter()
    for name in sorted(listed & on_disk):
        split = Path(name).name.split("-")[0]
        row = catalogued.get(name)
        if row is None:
            out.inconsistent.append(f"shard {name} is not in the shards table")
        elif row["sha256"] != sha256(paths[name]):
            out.inconsistent.append(f"shard {name}: bytes differ from the sha256 the catalog holds")
        try:
            for raw in wds.WebDataset(str(paths[name]), shardshuffle=False, empty_check=False):
                key, lossless, lossy, meta = decode_sample(raw)
                keys[key] += 1
                if meta["split"] != split or key != sample_key(meta["track_id"], meta["offset_samples"]):
                    out.inconsistent.append(
                        f"shard {name}: sample {key} says split {meta['split']}, key {meta['track_id']}"
                    )
                splits_of.setdefault(meta["track_id"], set()).add(split)
                counts[meta["track_id"]] += 1
        except Exception as e:  # noqa: BLE001 - a shard that cannot be read to its end is what we report
            out.inconsistent.append(f"shard {name} cannot be read: {type(e).__name__}: {e}")
    for key, n in keys.items():
        if n > 1:
            out.inconsistent.append(f"sample {key} is in the dataset {n} times")
    for track_id in sorted(set(lib.good) - set(splits_of)):
        out.lost.append(f"good track {track_id} ({(lib.good[track_id] or ['a disc track'])[0]!r}) is in no shard")
    for track_id, splits in sorted(splits_of.items()):
        if track_id not in lib.good:
            out.inconsistent.append(f"track {track_id} in the shards is no good track of the library")
        if len(splits) != 1:
            out.inconsistent.append(f"track {track_id} is in {len(splits)} splits: {sorted(splits)}")
    segments = {
        r["track_id"]: r["n_segments"] for r in read_rows(data, "segments") if r["dataset_version"] == manifest.version
    }
    wrong = [t for t in set(segments) | set(counts) if segments.get(t) != counts.get(t)]
    if wrong:
        out.inconsistent.append(
            f"{len(wrong)} tracks' segment counts in the catalog differ from the shards, e.g. {wrong[0]}"
        )
    out.figures["dataset"] = {
        "version": manifest.version,
        "shards": len(on_disk),
        "samples": sum(counts.values()),
        "tracks": len(splits_of),
    }
    return manifest.version


def check_leftovers(data: Path, clean: Path, out: Findings) -> None:
    """No temporaries, no empty folders, sidecars for every artifact, and the same files as a clean build."""
    files, clean_files = relative_files(data), relative_files(clean)
    temporaries = [rel for rel in files if TMP_MARKER in Path(rel).name]
    for rel in temporaries:
        out.inconsistent.append(f"orphaned temporary {rel}")
    for parent, dirs, names in os.walk(data):
        if not dirs and not names:
            out.inconsistent.append(f"empty folder left: {Path(parent).relative_to(data)}")
    for rel, path in files.items():
        if rel.startswith("encodes/") and path.suffix != ".json" and TMP_MARKER not in path.name:
            if not path.with_suffix(".json").is_file():
                out.inconsistent.append(f"encode {rel} has no sidecar (looks finished, is not trusted)")
        if rel.endswith(".tar") and not path.with_suffix(".json").is_file():
            out.inconsistent.append(f"shard {rel} has no stats sidecar")
        if path.suffix == ".json" and TMP_MARKER not in path.name:
            try:
                json.loads(path.read_bytes())
            except ValueError:
                out.inconsistent.append(f"half-written JSON under a finished name: {rel}")
        if path.suffix == ".parquet":
            try:
                pq.read_table(path)
            except Exception as e:  # noqa: BLE001 - any failure to read is what we report
                out.inconsistent.append(f"unreadable catalog table {rel}: {e}")
    real = lambda fs: {r for r in fs if TMP_MARKER not in r and r not in VOLATILE and not r.startswith(PER_FOLDER)}  # noqa: E731
    for rel in sorted(real(files) - real(clean_files)):
        out.inconsistent.append(f"orphaned file (a clean build has no such file): {rel}")
    for rel in sorted(real(clean_files) - real(files)):
        out.inconsistent.append(f"missing file (a clean build has it): {rel}")
    out.figures["data_files"] = len(real(files))


PROVENANCE_FILES = ("README.md", "tracks.json")  # storage/card.py's card and listing


def check_against_clean(data: Path, clean: Path, version: str | None, out: Findings) -> None:
    """The soaked dataset is byte-identical to the clean build's: shards, sidecars and manifest (but its code_version)."""
    clean_versions = [p.name for p in (clean / "datasets").glob("*") if (p / "manifest.json").is_file()]
    if version is None or clean_versions != [version]:
        out.inconsistent.append(f"dataset version {version} differs from the clean build's {clean_versions}")
        return
    a, b = data / "datasets" / version, clean / "datasets" / version
    # the version's own files, and the pooled shards its manifest lists (relative to the version's folder)
    from storage.manifest import read_manifest

    names = sorted(p.name for p in b.iterdir()) + sorted(
        n for s in read_manifest(b).splits.values() for n in s.shards if n.startswith("..")
    )
    differing = [n for n in names if not (a / n).is_file() or sha256(a / n) != sha256(b / n)]
    # The dataset card and its track listing describe provenance (when, from which source paths), not content.
    differing = [n for n in differing if n not in PROVENANCE_FILES]
    if "manifest.json" in differing and (a / "manifest.json").is_file():
        # The manifest records when it was made and by which commit; a soak's build differs from the clean one there.
        ours, theirs = (json.loads((f / "manifest.json").read_text()) for f in (a, b))
        for key in ("created_at", "changes"):
            ours.pop(key, None), theirs.pop(key, None)
        code = ours.pop("code_version", None), theirs.pop("code_version", None)
        if ours == theirs:
            differing.remove("manifest.json")
            if code[0] != code[1]:
                out.notes.append(f"the code changed during the soak ({code[1]} -> {code[0]})")
    for name in differing:
        out.inconsistent.append(f"{version}/{name} is not byte-identical to the clean build's")
    out.figures["identical_files"] = len(names) - len(differing)


def check_data_folder(lib: SoakLibrary, data: Path, clean: Path, preset: str) -> Findings:
    """Every check of a soaked data folder; `clean` is an uninterrupted build of the same library."""
    out = Findings()
    check_catalog(lib, data, preset, out)
    version = check_shards(lib, data, out)
    check_leftovers(data, clean, out)
    check_against_clean(data, clean, version, out)
    return out
