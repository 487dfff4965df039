"""One writer per data folder: an advisory lock file, so two builds can't interleave their writes.

    with data_lock("data", wait_seconds=0):      # raises LockHeld at once if another build holds it
        ...

The lock is `fcntl.flock` on `DATA/.lock`: the kernel drops it when the holder dies, so a crashed
build never leaves the folder locked. The file records who holds it, for the error message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

LOCK_NAME = ".lock"  # the lock file inside the data folder; never synced to object storage


class LockHeld(RuntimeError):
    """Another process is writing this data folder."""


@contextlib.contextmanager
def data_lock(data_dir: str | Path, wait_seconds: float = 0.0, poll_seconds: float = 0.5) -> Iterator[None]:
    path = Path(data_dir) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    f.seek(0)
                    holder = f.read().strip() or "another process"
                    raise LockHeld(f"{data_dir} is being written by {holder}; try again when it finishes") from None
                time.sleep(poll_seconds)
        f.seek(0)
        f.truncate()
        f.write(
            f"pid {os.getpid()} on {socket.gethostname()} since {datetime.now(timezone.utc).isoformat(timespec='seconds')}"
        )
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            fcntl.flock(f, fcntl.LOCK_UN)
