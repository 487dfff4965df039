"""The `ladle` command as a user runs it, in its own process: what reaches the console, and what it leaves running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import tone_pcm, write_pcm

pytestmark = pytest.mark.slow
LADLE = str(Path(sys.executable).with_name("ladle"))


def _env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_LOGGING")}
    return {**env, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def _library(tmp_path: Path) -> Path:
    for i in range(3):
        write_pcm(tmp_path / "library" / f"{i}.flac", tone_pcm(1.0, seed=900 + i))
    return tmp_path / "library"


def test_the_console_holds_no_per_task_info_lines_unless_verbose(tmp_path):
    command = [
        LADLE,
        "build-corpus",
        str(_library(tmp_path)),
        "--data",
        str(tmp_path / "data"),
        "--preset",
        "mp3-128",
        "--segment-seconds",
        "0.25",
    ]
    quiet = subprocess.run(command, env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert "tracks: 3" in quiet.stdout
    console = quiet.stdout + quiet.stderr
    assert "Task run" not in console and "| INFO" not in console and "Finished in state" not in console
    verbose = subprocess.run(
        [*command, "--verbose", "--force"], env=_env(tmp_path), capture_output=True, text=True, timeout=600
    )
    assert verbose.returncode == 0 and "tracks: 3" in verbose.stdout
    assert "Task run" in verbose.stderr and "| INFO" in verbose.stderr


def _server_child(process: psutil.Process) -> psutil.Process | None:
    for child in process.children(recursive=True):
        try:
            if "uvicorn" in " ".join(child.cmdline()):
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def test_killing_ladle_ends_prefects_temporary_server(tmp_path):
    command = [LADLE, "build-corpus", str(_library(tmp_path)), "--data", str(tmp_path / "data"), "--preset", "mp3-128"]
    ladle = subprocess.Popen(command, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = None
    try:
        deadline = time.monotonic() + 300
        while server is None and ladle.poll() is None and time.monotonic() < deadline:
            server = _server_child(psutil.Process(ladle.pid))
            time.sleep(0.2)
        assert server is not None, "ladle never started Prefect's temporary server"
        os.kill(ladle.pid, signal.SIGKILL)
        ladle.wait()
        gone, alive = psutil.wait_procs([server], timeout=60)
        zombie = alive and alive[0].status() == psutil.STATUS_ZOMBIE  # dead, waiting for a reaper
        assert gone or zombie, f"Prefect's server {server.pid} outlived the killed ladle"
    finally:
        if ladle.poll() is None:
            ladle.kill()
        if server is not None and server.is_running() and server.status() != psutil.STATUS_ZOMBIE:
            server.kill()
