"""Atomic writes: a file appears under its final name complete, or not at all.

    with atomic_path(out / "train-000000.tar") as tmp:
        write_shard(tmp, samples)

The temporary file sits next to the target (same filesystem, so `os.replace` is atomic) and is
named `.{name}.tmp-{pid}-{random}` so a crash leaves only an obviously unfinished dot-file, which
`remove_stale_temporaries` sweeps up on the next run. A long name is shortened (on a character
boundary) so the temporary stays within the 255-byte limit of a file name on Linux filesystems.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

TMP_MARKER = ".tmp-"
NAME_MAX_BYTES = 255  # NAME_MAX of ext4, XFS, btrfs, tmpfs and most others


def temporary_name(name: str, suffix: str = "") -> str:
    """`.{name}{suffix}.tmp-{pid}-{random}`, `name` cut short enough for the whole to fit in NAME_MAX_BYTES."""
    tail = f"{suffix}{TMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}"
    room = NAME_MAX_BYTES - 1 - len(tail.encode())
    head = name.encode()[:room].decode(errors="ignore")  # never half a UTF-8 character
    return f".{head}{tail}"


def _temporary_sibling(path: Path) -> Path:
    return path.with_name(temporary_name(path.name))


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
