"""Ingest decodes a file's bytes once per data folder: unchanged or touched files come from the record."""

import os

from storage import ingest
from storage.ingest import Quarantined, Track, ingest_file_cached
from tests.conftest import tone_pcm, write_pcm


def test_each_file_is_decoded_once_and_changed_bytes_are_ingested_again(tmp_path, monkeypatch):
    path = write_pcm(tmp_path / "lib" / "a.flac", tone_pcm(0.5, seed=1))
    (tmp_path / "lib" / "bad.flac").write_text("not audio\n" * 10)
    calls = []
    real = ingest.ingest_file
    monkeypatch.setattr(ingest, "ingest_file", lambda p: calls.append(str(p)) or real(p))
    cache = tmp_path / "cache"

    first = ingest_file_cached(path, cache)
    assert isinstance(first, Track) and calls == [str(path)]
    assert ingest_file_cached(path, cache) == first and len(calls) == 1
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched only
    assert ingest_file_cached(path, cache) == first and len(calls) == 1

    copy = tmp_path / "lib" / "copy.flac"
    copy.write_bytes(path.read_bytes())  # same bytes, other name: the record, with its own path
    assert ingest_file_cached(copy, cache) == Track(**{**first.__dict__, "path": str(copy)}) and len(calls) == 1

    write_pcm(path, tone_pcm(0.5, seed=2))  # new audio under the old name
    second = ingest_file_cached(path, cache)
    assert len(calls) == 2 and second.track_id != first.track_id

    bad = ingest_file_cached(tmp_path / "lib" / "bad.flac", cache)
    assert isinstance(bad, Quarantined) and ingest_file_cached(tmp_path / "lib" / "bad.flac", cache) == bad
    assert len(calls) == 3
