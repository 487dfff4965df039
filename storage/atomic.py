"""Atomic writes: a file appears under its final name complete, or not at all.

    with atomic_path(out / "train-000000.tar") as tmp:
        write_shard(tmp, samples)

The temporary file sits next to the target (same filesystem, so `os.replace` is atomic) and is
named `.{name}.tmp-{pid}-{random}` so a crash leaves only an obviously unfinished dot-file, which
`remove_stale_temporaries` sweeps up on the next run.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

TMP_MARKER = ".tmp-"


def _temporary_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}{TMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path; on success rename it over `path` (fsynced), on error delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(path)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | Path, obj: object) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def remove_stale_temporaries(folder: str | Path) -> int:
    """Delete temporaries left by crashed writers under `folder`; return how many."""
    n_removed = 0
    for tmp in Path(folder).rglob(f".*{TMP_MARKER}*"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            n_removed += 1
    return n_removed
