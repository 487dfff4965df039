import pyarrow.parquet as pq

from storage.catalog import read_rows, table_path, upsert_records, write_records
from storage.ingest import Quarantined


def test_write_read_round_trip_and_empty_table_has_columns(tmp_path):
    rows = [Quarantined("a b.flac", "ingest", "empty file (0 bytes)"), Quarantined("ü.wav", "align", "SNR 1 dB", "abc", "mp3-64")]
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
