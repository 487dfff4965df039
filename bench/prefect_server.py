"""A real Prefect server for a benchmark: `prefect server start`, a process worker, deployments run and waited for.

    with prefect_server(work / "prefect", work / "server.log") as env:     # a free loopback port, its own SQLite
        prefect(env, "work-pool", "create", POOL, "--type", "process", "--overwrite")
        prefect(env, "--no-prompt", "deploy", "--name", "nightly")        # prefect.yaml's, as a data team deploys it
        with worker(env, work / "worker.log"):
            state, seconds = trigger(env, "nightly/nightly", {...}, "night-1", timeout_s=900)

Every process it starts is in its own session and is stopped by its process group when the block ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from bench.common import REPO

POOL = "ladle-process"  # prefect.yaml's work pool


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prefect_env(home: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "LADLE_HOME": str(REPO),
    }


def prefect_cli() -> str:
    return str(Path(sys.executable).parent / "prefect")


@contextlib.contextmanager
def prefect_server(home: Path, log: Path) -> Iterator[dict[str, str]]:
    """`prefect server start` on a free loopback port; yields the environment that points at it."""
    port = free_port()
    env = prefect_env(home, port)
    with open(log, "ab") as out:
        server = subprocess.Popen([prefect_cli(), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                  env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prefect server did not start (see {log})")
            time.sleep(1)
        yield env
    finally:
        stop(server)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group this bench started, then SIGKILL after 20 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def prefect(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """`prefect ARGS` against the server `env` points at; its output, or RuntimeError with its last lines."""
    out = subprocess.run([prefect_cli(), *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"prefect {' '.join(args)} failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return out.stdout


@contextlib.contextmanager
def worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "ab") as out:
        process = subprocess.Popen([prefect_cli(), "worker", "start", "--pool", POOL, "--limit", "1"], env=env,
                                   cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        yield process
    finally:
        stop(process)


def trigger(env: dict[str, str], deployment: str, parameters: dict, key: str, timeout_s: float) -> tuple[str, float]:
    """Run `deployment` once with `parameters` (idempotency key `key`) and wait for it; (final state name, seconds)."""
    code = (
        "import json, sys\n"
        "from prefect.deployments import run_deployment\n"
        "p = json.loads(sys.argv[1])\n"
        f"run = run_deployment({deployment!r}, parameters=p, idempotency_key={key!r}, timeout={timeout_s})\n"
        "print(run.state.name if run.state else 'UNKNOWN')\n"
    )
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, json.dumps(parameters)], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=timeout_s + 120)  # fmt: skip
    state = out.stdout.strip().splitlines()[-1] if out.returncode == 0 and out.stdout.strip() else "ERROR"
    if state == "ERROR":
        print(out.stderr[-3000:], file=sys.stderr)
    return state, time.perf_counter() - started
