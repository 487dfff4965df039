"""The Parquet catalog under `DATA/catalog/`: one table per kind of record, readable by pandas or DuckDB.

    write_records("data", "tracks", tracks, Track)                 # replace the table
    upsert_records("data", "encodes", encodes, Encoded, key=("track_id", "preset"))
    catalog_summary("data")   # what `ladle catalog DATA --json` prints

    duckdb.sql("select split, count(*) from 'data/catalog/tracks.parquet' group by split")

tracks, duplicates and quarantine describe the latest ingest (replaced each run); encodes, pairs,
datasets, shards and segments accumulate across runs (upserted by key), so every dataset version
ever built stays listed.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from storage.atomic import atomic_path

# Fields that describe one run's view of a record, not the record: never stored.
RUN_ONLY_FIELDS = {"reused"}
# dicts and lists are stored as JSON text: readable by any Parquet reader, no nested types to agree on.
_ARROW_TYPES = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_(), dict: pa.string(), list: pa.string()}


def table_path(data_dir: str | Path, name: str) -> Path:
    return Path(data_dir) / "catalog" / f"{name}.parquet"


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
    return pq.read_table(path) if path.is_file() else None


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


def catalog_summary(data_dir: str | Path, location: str | None = None) -> dict:
    """Counts of good tracks and duplicates, the quarantine, and every dataset version with its shards.

    Shard paths are given under `location` (a URL for data in object storage), by default `data_dir`.
    """
    from storage.fs import join

    data_dir = Path(data_dir)
    location = location or str(data_dir)
    segments = read_rows(data_dir, "segments")
    shards = read_rows(data_dir, "shards")
    datasets = []
    for ds in sorted(read_rows(data_dir, "datasets"), key=lambda d: d["version"]):
        splits = {}
        for split in ("train", "val", "test"):
            rows = [s for s in segments if s["dataset_version"] == ds["version"] and s["split"] == split]
            split_shards = sorted(
                (s for s in shards if s["dataset_version"] == ds["version"] and s["split"] == split),
                key=lambda s: s["name"],
            )
            splits[split] = {
                "tracks": len(rows),
                "segments": sum(r["n_segments"] for r in rows),
                "shards": [join(location, "datasets", ds["version"], s["name"]) for s in split_shards],
            }
        datasets.append(
            {
                "version": ds["version"],
                "preset": ds["preset"],
                "strategy": ds["strategy"],
                "segment_seconds": ds["segment_seconds"],
                "hop_seconds": ds["hop_seconds"],
                "sample_rate": ds["sample_rate"],
                "splits": splits,
            }
        )
    return {
        "data": location,
        "tracks": len(read_rows(data_dir, "tracks")),
        "duplicates": len(read_rows(data_dir, "duplicates")),
        "quarantine": [
            {"path": q["path"], "reason": q["reason"], "stage": q["stage"], "preset": q["preset"]}
            for q in read_rows(data_dir, "quarantine")
        ],
        "datasets": datasets,
    }
