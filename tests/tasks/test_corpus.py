"""The build-corpus tasks' cache keys: made of content, offered only while the artifacts exist."""

from __future__ import annotations

import os

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
