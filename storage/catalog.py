"""The Parquet catalog under `DATA/catalog/`: one table per kind of record, readable by pandas or DuckDB.

    write_records("data", "tracks", tracks, Track)                 # replace the table
    upsert_records("data", "encodes", encodes, Encoded, key=("track_id", "preset"))
    catalog_summary("data")   # what `ladle catalog DATA --json` prints
    build_summary(run, ...)   # what `ladle build-corpus ... --json` prints: the same dataset shape

    duckdb.sql("select split, count(*) from 'data/catalog/tracks.parquet' group by split")

tracks, duplicates and quarantine describe the latest ingest (replaced each run); encodes, pairs,
datasets, shards and segments accumulate across runs (upserted by key), so every dataset version
ever built stays listed; runs gains one row per build. The row schemas that no other module owns
(discs, disc_tracks, runs) are defined here.

Both summaries describe a dataset the same way (`dataset_entry`): per split `tracks`, `segments`,
`n_shards` (a count) and `shards` (their paths or URLs).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from storage.atomic import atomic_path

if TYPE_CHECKING:
    from storage.manifest import DatasetManifest
    from storage.sources.split import DiscRecord

# Fields that describe one run's view of a record, not the record: never stored.
RUN_ONLY_FIELDS = {"reused"}
# dicts and lists are stored as JSON text: readable by any Parquet reader, no nested types to agree on.
_ARROW_TYPES = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    dict: pa.string(),
    list: pa.string(),
}


CATALOG_DIR = "catalog"  # DATA/catalog/: one Parquet file per table


def table_path(data_dir: str | Path, name: str) -> Path:
    return Path(data_dir) / CATALOG_DIR / f"{name}.parquet"


def schema_for(cls: type) -> pa.Schema:
    """An Arrow schema from a dataclass's annotations (Optional[X] → nullable X; dicts as JSON text)."""
    fields = []
    for name, annotation in typing.get_type_hints(cls).items():
        if name in RUN_ONLY_FIELDS:
            continue
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        fields.append(pa.field(name, _ARROW_TYPES.get(typing.get_origin(annotation) or annotation, pa.string())))
    return pa.schema(fields)


def _rows(records: list, cls: type) -> list[dict]:
    rows = []
    for record in records:
        row = dataclasses.asdict(record) if dataclasses.is_dataclass(record) else dict(record)
        rows.append(
            {
                k: json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v
                for k, v in row.items()
                if k not in RUN_ONLY_FIELDS
            }
        )
    return rows


def _write(data_dir: str | Path, name: str, table: pa.Table) -> Path:
    path = table_path(data_dir, name)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def write_records(data_dir: str | Path, name: str, records: list, cls: type) -> Path:
    """Replace table `name` with `records` (dataclass instances or dicts shaped like `cls`)."""
    schema = schema_for(cls)
    return _write(data_dir, name, pa.Table.from_pylist(_rows(records, cls), schema=schema))


def read_table(data_dir: str | Path, name: str) -> pa.Table | None:
    path = table_path(data_dir, name)
    if not path.is_file():
        return None
    with pq.ParquetFile(path) as f:  # not pq.read_table: its dataset layer imports pandas (~0.7 s a command)
        return f.read()


def read_rows(data_dir: str | Path, name: str) -> list[dict]:
    table = read_table(data_dir, name)
    return [] if table is None else table.to_pylist()


def upsert_records(data_dir: str | Path, name: str, records: list, cls: type, key: tuple[str, ...]) -> Path:
    """Merge `records` into table `name`: rows with the same `key` are replaced, others kept."""
    new_rows = _rows(records, cls)
    new_keys = {tuple(r[k] for k in key) for r in new_rows}
    schema = schema_for(cls)
    kept = [
        {f: r.get(f) for f in schema.names}
        for r in read_rows(data_dir, name)
        if tuple(r.get(k) for k in key) not in new_keys
    ]
    return _write(data_dir, name, pa.Table.from_pylist(kept + new_rows, schema=schema))


def remove_rows(data_dir: str | Path, name: str, column: str, values: set) -> int:
    """Delete the rows of table `name` whose `column` is in `values` (a pruned version's rows); the count."""
    table = read_table(data_dir, name)
    if table is None or not values:
        return 0
    rows = table.to_pylist()
    kept = [r for r in rows if r.get(column) not in values]
    if len(kept) < len(rows):
        _write(data_dir, name, pa.Table.from_pylist(kept, schema=table.schema))
    return len(rows) - len(kept)


@dataclass(frozen=True)
class RunRecord:
    """One build-corpus run (`runs` table, one row appended per run)."""

    finished_at: str
    seconds: float
    n_tracks: int
    n_encoded: int  # encoder runs this time
    n_encodes_reused: int
    n_shards_written: int
    n_quarantined: int


@dataclass(frozen=True)
class DiscRow:
    """A disc image's identity, as the `discs` catalog table holds it."""

    cue_path: str
    disc_key: str
    musicbrainz_disc_id: str
    freedb_disc_id: str
    accuraterip_disc_id: str
    album: str | None
    albumartist: str | None
    n_tracks: int
    image_paths: list
    notes: list
    cue_encoding: str = "utf-8"  # the sheet's encoding as detected, and how sure (below 0.8: no text tags)
    cue_encoding_confidence: float = 1.0
    checks: list = dataclasses.field(default_factory=list)  # crc32, accuraterip, disc_ids, rip_log: those applied
    warnings: list = dataclasses.field(default_factory=list)  # what the sheet's parser read leniently


@dataclass(frozen=True)
class DiscTrackRow:
    """One split track of a disc and its checksums (`disc_tracks` table)."""

    disc_key: str
    number: int
    track_id: str | None  # None when the split track was not ingested (quarantined)
    path: str
    title: str | None
    performer: str | None
    start_sector: int
    n_sectors: int
    crc32: str
    accuraterip_v1: str
    accuraterip_v2: str
    log_crc32: str | None
    crc_matches_log: bool | None


def disc_rows(discs: list[DiscRecord], track_ids: dict[str, str]) -> tuple[list[DiscRow], list[DiscTrackRow]]:
    """The `discs` and `disc_tracks` rows of split disc images; `track_ids` maps an ingested split file to its track."""
    rows, track_rows = [], []
    for d in discs:
        rows.append(
            DiscRow(
                d.cue_path,
                d.disc_key,
                d.musicbrainz_disc_id,
                d.freedb_disc_id,
                d.accuraterip_disc_id,
                d.album,
                d.albumartist,
                len(d.tracks),
                list(d.image_paths),
                list(d.notes),
                d.cue_encoding,
                d.cue_encoding_confidence,
                list(d.checks),
                list(d.warnings),
            )
        )
        for t in d.tracks:
            info = {k: v for k, v in dataclasses.asdict(t).items() if k not in ("path", "number")}
            track_rows.append(DiscTrackRow(d.disc_key, t.number, track_ids.get(t.path), t.path, **info))
    return rows, track_rows


def append_run(data_dir: str | Path, run: RunRecord) -> list[dict]:
    """Append `run` to the `runs` table; return the rows of the runs before it."""
    previous = read_rows(data_dir, "runs")
    write_records(data_dir, "runs", previous + [dataclasses.asdict(run)], RunRecord)
    return previous


def dataset_recorded(data_dir: str | Path, manifest: DatasetManifest) -> bool:
    """Whether the catalog holds `manifest`'s dataset row, every shard row and every track's segment count.

    A build killed between writing a dataset's manifest and its catalog rows leaves this False; the
    next build then records it again from the (reused) shards, so the catalog always catches up
    with what is on disk.
    """
    version = manifest.version
    if not any(r["version"] == version for r in read_rows(data_dir, "datasets")):
        return False
    n_shards = sum(r["dataset_version"] == version for r in read_rows(data_dir, "shards"))
    n_tracks = sum(r["dataset_version"] == version for r in read_rows(data_dir, "segments"))
    splits = manifest.splits.values()
    return n_shards == sum(len(s.shards) for s in splits) and n_tracks == sum(s.tracks for s in splits)


def dataset_entry(
    version: str,
    preset: str,
    strategy: str,
    segment_seconds: float,
    hop_seconds: float,
    sample_rate: int,
    location: str,
    splits: dict[str, tuple[int, int, list[str]]],
) -> dict:
    """One dataset as both summaries show it; `splits` maps a split to (tracks, segments, shard file names)."""
    from storage.fs import join
    from storage.manifest import resolve_shard

    folder = join(location, "datasets", version)
    return {
        "version": version,
        "preset": preset,
        "strategy": strategy,
        "segment_seconds": segment_seconds,
        "hop_seconds": hop_seconds,
        "sample_rate": sample_rate,
        "folder": folder,
        "splits": {
            split: {
                "tracks": tracks,
                "segments": segments,
                "n_shards": len(names),
                "shards": [str(resolve_shard(folder, n)) for n in names],
            }
            for split, (tracks, segments, names) in splits.items()
        },
    }


def manifest_entry(manifest: DatasetManifest, location: str) -> dict:
    """`dataset_entry` of a dataset manifest, its shards under `location`."""
    m = manifest
    splits = {s: (v.tracks, v.segments, list(v.shards)) for s, v in m.splits.items()}
    return dataset_entry(
        m.version, m.preset, m.strategy, m.segment_seconds, m.hop_seconds, m.sample_rate, location, splits
    )


def quarantine_entry(row) -> dict:
    """A quarantined input as both summaries list it (a Quarantined record or its catalog row)."""
    row = row if isinstance(row, dict) else dataclasses.asdict(row)
    return {"path": row["path"], "stage": row["stage"], "reason": row["reason"], "preset": row.get("preset")}


def build_summary(
    run: RunRecord,
    n_duplicates: int,
    n_discs: int,
    quarantined: list,
    manifests: list[DatasetManifest],
    location: str,
    previous_runs: list[dict],
) -> dict:
    """What a build-corpus run returns (and `ladle build-corpus --json` prints)."""
    last_encoding_run = next((r for r in reversed(previous_runs) if r["n_encoded"] > 0), None)
    return {
        **dataclasses.asdict(run),
        "duplicates": n_duplicates,
        "discs": n_discs,
        "quarantine": [quarantine_entry(q) for q in quarantined],
        "last_encoding_run_seconds": last_encoding_run["seconds"] if last_encoding_run else None,
        "datasets": [manifest_entry(m, location) for m in manifests],
    }


def catalog_summary(data_dir: str | Path, location: str | None = None) -> dict:
    """Counts of good tracks and duplicates, the quarantine, and every dataset version with its shards.

    Shard paths are given under `location` (a URL for data in object storage), by default `data_dir`.
    """
    data_dir = Path(data_dir)
    location = location or str(data_dir)
    segments = read_rows(data_dir, "segments")
    shards = read_rows(data_dir, "shards")
    datasets = []
    for ds in sorted(read_rows(data_dir, "datasets"), key=lambda d: d["version"]):
        splits = {}
        for split in ("train", "val", "test"):
            rows = [s for s in segments if s["dataset_version"] == ds["version"] and s["split"] == split]
            names = sorted(s["name"] for s in shards if s["dataset_version"] == ds["version"] and s["split"] == split)
            splits[split] = (len(rows), sum(r["n_segments"] for r in rows), names)
        datasets.append(
            dataset_entry(
                ds["version"],
                ds["preset"],
                ds["strategy"],
                ds["segment_seconds"],
                ds["hop_seconds"],
                ds["sample_rate"],
                location,
                splits,
            )
        )
    return {
        "data": location,
        "tracks": len(read_rows(data_dir, "tracks")),
        "duplicates": len(read_rows(data_dir, "duplicates")),
        "quarantine": [quarantine_entry(q) for q in read_rows(data_dir, "quarantine")],
        "datasets": datasets,
    }
