import multiprocessing

# Spawned, not forked: a fork of the test process (Prefect's threads running) can die at exit.
mp = multiprocessing.get_context("spawn")

import pytest

from storage.atomic import atomic_path, remove_stale_temporaries
from storage.lock import LockHeld, data_lock


def _hold(data_dir, ready, release):
    with data_lock(data_dir):
        ready.set()
        release.wait(60)


def test_second_writer_gets_a_clear_error_then_waits(tmp_path):
    ready, release = mp.Event(), mp.Event()
    holder = mp.Process(target=_hold, args=(tmp_path, ready, release))
    holder.start()
    assert ready.wait(10)
    with pytest.raises(LockHeld, match=rf"pid {holder.pid} on"):
        with data_lock(tmp_path):
            pass
    release.set()
    with data_lock(tmp_path, wait_seconds=30, poll_seconds=0.05):  # returns once the holder lets go
        holder.join(10)
        assert holder.exitcode == 0
    holder.join()


def test_lock_is_released_when_the_holder_dies(tmp_path):
    ready = mp.Event()
    holder = mp.Process(target=_hold, args=(tmp_path, ready, mp.Event()))
    holder.start()
    assert ready.wait(10)
    holder.kill()
    holder.join()
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
