import pyarrow.parquet as pq

from storage.catalog import (
    RunRecord,
    append_run,
    build_summary,
    dataset_entry,
    read_rows,
    table_path,
    upsert_records,
    write_records,
)
from storage.ingest import Quarantined


def test_write_read_round_trip_and_empty_table_has_columns(tmp_path):
    rows = [
        Quarantined("a b.flac", "ingest", "empty file (0 bytes)"),
        Quarantined("ü.wav", "align", "SNR 1 dB", "abc", "mp3-64"),
    ]
    write_records(tmp_path, "quarantine", rows, Quarantined)
    assert read_rows(tmp_path, "quarantine") == [
        {"path": "a b.flac", "stage": "ingest", "reason": "empty file (0 bytes)", "track_id": None, "preset": None},
        {"path": "ü.wav", "stage": "align", "reason": "SNR 1 dB", "track_id": "abc", "preset": "mp3-64"},
    ]
    write_records(tmp_path, "quarantine", [], Quarantined)
    table = pq.read_table(table_path(tmp_path, "quarantine"))
    assert table.num_rows == 0 and table.column_names == ["path", "stage", "reason", "track_id", "preset"]


def test_upsert_replaces_by_key_and_keeps_the_rest(tmp_path):
    first = [{"path": "x", "stage": "s", "reason": "old"}, {"path": "y", "stage": "s", "reason": "kept"}]
    upsert_records(tmp_path, "q", first, Quarantined, key=("path",))
    upsert_records(tmp_path, "q", [{"path": "x", "stage": "s", "reason": "new"}], Quarantined, key=("path",))
    assert sorted((r["path"], r["reason"]) for r in read_rows(tmp_path, "q")) == [("x", "new"), ("y", "kept")]


def _run(n_encoded: int, seconds: float) -> RunRecord:
    return RunRecord("2026-01-01T00:00:00+00:00", seconds, 3, n_encoded, 3 - n_encoded, 1, 0)


def test_runs_accumulate_and_the_summary_names_the_last_run_that_encoded(tmp_path):
    assert append_run(tmp_path, _run(3, 12.5)) == []
    previous = append_run(tmp_path, _run(0, 1.5))
    assert [r["seconds"] for r in previous] == [12.5]
    assert [r["n_encoded"] for r in read_rows(tmp_path, "runs")] == [3, 0]
    summary = build_summary(
        _run(0, 1.0), 0, 0, [Quarantined("x.wav", "ingest", "too short")], [], "data", read_rows(tmp_path, "runs")
    )
    assert summary["last_encoding_run_seconds"] == 12.5 and summary["n_encoded"] == 0
    assert summary["quarantine"] == [{"path": "x.wav", "stage": "ingest", "reason": "too short", "preset": None}]


def test_a_dataset_entry_counts_and_lists_its_shards_under_the_location():
    entry = dataset_entry(
        "v1",
        "mp3-128",
        "resample",
        1.0,
        1.0,
        44100,
        "s3://b/data",
        {"train": (2, 10, ["train-000000.tar", "train-000001.tar"]), "val": (0, 0, [])},
    )
    assert entry["folder"] == "s3://b/data/datasets/v1"
    assert entry["splits"]["train"] == {
        "tracks": 2,
        "segments": 10,
        "n_shards": 2,
        "shards": ["s3://b/data/datasets/v1/train-000000.tar", "s3://b/data/datasets/v1/train-000001.tar"],
    }
    assert entry["splits"]["val"]["n_shards"] == 0 and entry["splits"]["val"]["shards"] == []
