"""The build-corpus tasks' cache keys: made of content, offered only while the artifacts exist."""

from __future__ import annotations

import os

import tasks.corpus as tasks_corpus
from tasks.corpus import _ingest_key


def test_ingest_key_follows_the_bytes_not_the_mtime(tmp_path):
    a, b = tmp_path / "a.flac", tmp_path / "b.flac"
    a.write_bytes(b"fLaC one")
    b.write_bytes(b"fLaC two")
    key = _ingest_key(None, {"paths": [str(a), str(b)]})
    assert key is not None and len(key) >= 16
    os.utime(a, ns=(1, 1))  # touched, same bytes: same key
    assert _ingest_key(None, {"paths": [str(a), str(b)]}) == key
    b.write_bytes(b"fLaC TWO")  # same size, other bytes: another key
    assert _ingest_key(None, {"paths": [str(a), str(b)]}) != key
    assert _ingest_key(None, {"paths": [str(b), str(a)]}) != _ingest_key(None, {"paths": [str(a), str(b)]})


def test_ingest_key_is_not_offered_when_a_file_is_gone(tmp_path):
    a = tmp_path / "a.flac"
    a.write_bytes(b"fLaC")
    assert _ingest_key(None, {"paths": [str(a), str(tmp_path / "gone.flac")]}) is None


def test_an_unreadable_file_keeps_its_group_cacheable(tmp_path, monkeypatch):
    a, b = tmp_path / "a.flac", tmp_path / "locked.flac"
    a.write_bytes(b"fLaC one")
    b.write_bytes(b"fLaC two")
    real = tasks_corpus.file_key

    def file_key(path, cache=None):
        if path.name == "locked.flac":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, cache)

    monkeypatch.setattr(tasks_corpus, "file_key", file_key)
    key = _ingest_key(None, {"paths": [str(a), str(b)]})
    assert key is not None and key == _ingest_key(None, {"paths": [str(a), str(b)]})  # no traceback, still cached
    monkeypatch.setattr(tasks_corpus, "file_key", real)  # readable again: another key, so it is ingested
    assert _ingest_key(None, {"paths": [str(a), str(b)]}) != key
