"""File keys: the bytes' SHA-256, from the stat record while a file is unchanged."""

import hashlib
import os

from storage import filekey
from storage.filekey import file_key


def test_key_is_the_bytes_hash_and_unchanged_files_are_not_read_again(tmp_path, monkeypatch):
    path = tmp_path / "a.flac"
    path.write_bytes(b"x" * 300_000)
    cache = tmp_path / "cache"
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_key(path) == file_key(path, cache) == expected

    reads = []
    real = filekey.full_sha256
    monkeypatch.setattr(filekey, "full_sha256", lambda p: reads.append(p) or real(p))
    assert file_key(path, cache) == expected and reads == []  # from the record

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched, same bytes
    assert file_key(path, cache) == expected and len(reads) == 1
    assert file_key(path, cache) == expected and len(reads) == 1  # recorded again

    # Same size, same mtime, one byte changed at the start: the quick hash catches it.
    data = bytearray(path.read_bytes())
    data[10] ^= 1
    mtime = path.stat().st_mtime_ns
    path.write_bytes(bytes(data))
    os.utime(path, ns=(mtime, mtime))
    assert file_key(path, cache) == hashlib.sha256(bytes(data)).hexdigest() != expected
