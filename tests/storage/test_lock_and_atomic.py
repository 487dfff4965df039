import subprocess
import sys

import pytest

from storage.atomic import TMP_MARKER, atomic_path, remove_stale_temporaries, temporary_name
from storage.lock import LockHeld, data_lock

# The holder is a separate Python process: it takes the lock, says so, and lets go when told.
HOLDER = "import sys; from storage.lock import data_lock\nwith data_lock(sys.argv[1]):\n    print('ready', flush=True); sys.stdin.readline()\n"


def _start_holder(data_dir) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "ready"
    return holder


def test_second_writer_gets_a_clear_error_then_waits(tmp_path):
    holder = _start_holder(tmp_path)
    with pytest.raises(LockHeld, match=rf"pid {holder.pid} on"):
        with data_lock(tmp_path):
            pass
    holder.stdin.write("go\n")
    holder.stdin.flush()
    with data_lock(tmp_path, wait_seconds=60, poll_seconds=0.05):  # returns once the holder lets go
        assert holder.wait(30) == 0


def test_lock_is_released_when_the_holder_dies(tmp_path):
    holder = _start_holder(tmp_path)
    holder.kill()
    holder.wait()
    with data_lock(tmp_path):
        pass  # acquired without waiting: a dead holder releases the lock
    assert (tmp_path / ".lock").read_text() == ""


def test_atomic_path_leaves_nothing_on_error_and_stale_temporaries_are_swept(tmp_path):
    target = tmp_path / "sub" / "shard.tar"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half a shard")
            raise RuntimeError("crash mid-write")
    assert not target.exists() and list(target.parent.iterdir()) == []
    (tmp_path / "sub" / ".shard.tar.tmp-123-abcd").write_bytes(b"left by a killed process")
    target.write_bytes(b"finished")
    assert remove_stale_temporaries(tmp_path) == 1
    assert [p.name for p in target.parent.iterdir()] == ["shard.tar"]


def test_temporaries_of_the_longest_names_fit_the_filesystem_limit(tmp_path):
    for name in ("x" * 255, "é" * 125 + ".flac", "音" * 83 + ".wav"):  # 255, 255 and 253 bytes of UTF-8
        with atomic_path(tmp_path / name) as tmp:
            assert len(tmp.name.encode()) <= 255 and tmp.name.startswith(".") and TMP_MARKER in tmp.name
            tmp.name.encode().decode()  # whole characters only
            tmp.write_bytes(name.encode())
        assert (tmp_path / name).read_bytes() == name.encode()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    crashed = tmp_path / temporary_name("y" * 255)  # what a crash mid-write leaves
    crashed.write_bytes(b"half")
    assert remove_stale_temporaries(tmp_path) == 1 and not crashed.exists()
