"""Content keys of source files, known without reading an unchanged file again.

    key = file_key("library/01.flac", cache_dir="data/cache/file-keys")   # sha256 of the file's bytes

A key is always the SHA-256 of the whole file. Computing it reads the file, so the result is kept
in a small record per path beside the data folder, with the file's (size, mtime, inode) and a quick
hash of its first and last 64 KiB. A later call whose stat and quick hash still match returns the
recorded key without reading the rest: a rebuild of an unchanged 10,000-track library reads about
1 GB instead of the whole library. Touching a file (new mtime, same bytes) costs one full hash and
gives the same key; a file whose bytes changed gets a new key even if its mtime was kept.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from storage.atomic import write_json_atomic

QUICK_BYTES = 64 << 10
READ_BYTES = 1 << 20


def full_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(READ_BYTES):
            digest.update(block)
    return digest.hexdigest()


def quick_hash(path: str | Path, size: int) -> str:
    """SHA-256 of the size and the first and last 64 KiB: catches a rewrite that kept size and mtime."""
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        digest.update(f.read(QUICK_BYTES))
        if size > QUICK_BYTES:
            f.seek(max(size - QUICK_BYTES, QUICK_BYTES))
            digest.update(f.read(QUICK_BYTES))
    return digest.hexdigest()


def _record_path(cache_dir: Path, path: Path) -> Path:
    return cache_dir / f"{hashlib.sha256(str(path).encode()).hexdigest()[:32]}.json"


def file_key(path: str | Path, cache_dir: str | Path | None = None) -> str:
    """SHA-256 of the file's bytes; from the record under `cache_dir` while the file is unchanged."""
    path = Path(path).resolve()
    if cache_dir is None:
        return full_sha256(path)
    stat = os.stat(path)
    fingerprint = {
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "inode": stat.st_ino,
        "quick": quick_hash(path, stat.st_size),
    }
    record_path = _record_path(Path(cache_dir), path)
    try:
        record = json.loads(record_path.read_text())
        if record.get("path") == str(path) and all(record.get(k) == v for k, v in fingerprint.items()):
            return record["sha256"]
    except (FileNotFoundError, json.JSONDecodeError):
        pass
    key = full_sha256(path)
    after = os.stat(path)
    if (after.st_size, after.st_mtime_ns) == (stat.st_size, stat.st_mtime_ns):  # not rewritten while we read it
        write_json_atomic(record_path, {"path": str(path), **fingerprint, "sha256": key})
    return key
