"""The server path end to end: a real `prefect server`, a process work pool, `prefect deploy --all`
from prefect.yaml, a worker, and `prefect deployment run` of every deployment with tiny parameters; the
deployment's training is the one `ladle train` runs from the same arguments.

Everything it starts runs on a free loopback port with its own PREFECT_HOME, and is stopped at the end.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ladle_model.runs.checkpoint import checkpoint_datasets, load_checkpoint
from storage.catalog import catalog_summary
from tests.conftest import tone_pcm, write_pcm

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"prefect server at {url} not healthy after {timeout_s} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def prefect_server(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "LADLE_HOME": str(REPO),
    }
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_healthy(env["PREFECT_API_URL"], server)
        yield env
    finally:
        _stop(server)
        log.close()


def _prefect(env, *args, timeout=300) -> str:
    result = subprocess.run(
        [PREFECT, "--no-prompt", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"prefect {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _run_deployment(env: dict, name: str, params: dict) -> None:
    """`prefect deployment run NAME --params ... --watch`, which must end Completed."""
    out = _prefect(
        env, "deployment", "run", name, "--params", json.dumps(params), "--watch", "--watch-timeout", "600", timeout=700
    )
    assert "Completed" in out, out[-2000:]


def test_deploy_and_run_every_deployment_through_a_worker(prefect_server, tmp_path):
    env = prefect_server
    library, data, run_dir = tmp_path / "library", tmp_path / "data", tmp_path / "runs" / "server"
    for i in range(6):
        write_pcm(library / f"{i}.flac", tone_pcm(2.0, seed=700 + i))

    _prefect(env, "work-pool", "create", "ladle-process", "--type", "process")
    deployed = _prefect(env, "deploy", "--all")
    for name in (
        "nightly/nightly",
        "build-corpus/default",
        "train-ladle/default",
        "evaluate-ladle/default",
        "prune-datasets/default",
    ):
        assert name in deployed
    schedules = json.loads(_prefect(env, "deployment", "inspect", "nightly/nightly", "--output", "json"))["schedules"]
    assert [s["schedule"]["cron"] for s in schedules] == ["0 2 * * *"]

    worker_log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen(
        [PREFECT, "worker", "start", "--pool", "ladle-process"],
        env=env,
        cwd=REPO,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        build_params = {"sources": [str(library)], "data": str(data), "presets": ["mp3-128"], "segment_seconds": 0.5}
        _run_deployment(env, "build-corpus/default", build_params)
        summary = catalog_summary(data)
        assert summary["tracks"] == 6 and len(summary["datasets"]) == 1

        train_params = {
            "data": str(data),
            "run_dir": str(run_dir),
            "recipe": "paper",
            "preset": "mp3-128",
            "overrides": {
                "model": "drrn1d",
                "max_steps": 3,
                "batch_size": 2,
                "model_overrides": {"channels": 8, "n_units": 2},
                "feature_net_steps": 2,
            },
        }
        _run_deployment(env, "train-ladle/default", train_params)
        assert (run_dir / "checkpoints" / "last.pt").is_file()
        # the same arguments to `ladle train` train the same model: the same config, dataset version and step
        cli_run = tmp_path / "runs" / "cli"
        overrides = json.dumps(train_params["overrides"])
        argv = ["train", "--data", str(data), "--run", str(cli_run), "--recipe", "paper", "--preset", "mp3-128"]
        cli = subprocess.run(
            [sys.executable, "-m", "flows.cli", *argv, "--overrides", overrides],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=700,
        )
        assert cli.returncode == 0, cli.stderr[-3000:]
        served, local = (load_checkpoint(r / "checkpoints" / "last.pt") for r in (run_dir, cli_run))
        assert served["config"] == local["config"] and served["step"] == local["step"] == 3
        assert checkpoint_datasets(served) == checkpoint_datasets(local)

        eval_params = {
            "run_dir": str(run_dir),
            "data": str(data),
            "max_tracks": 1,
            "split": "all",  # six tracks hashed into splits: the test split may be empty, and that is an error now
            "visqol_excerpts": 0,
            "device": "cpu",
        }
        _run_deployment(env, "evaluate-ladle/default", eval_params)
        assert (run_dir / "eval" / "mp3-128" / "report.html").is_file()

        prune_params = {"data": str(data), "keep": 1, "protect_runs": [str(run_dir)]}
        _run_deployment(env, "prune-datasets/default", prune_params)
        assert len(catalog_summary(data)["datasets"]) == 1  # one version: nothing to free, and nothing lost
    finally:
        _stop(worker)
        worker_log.close()
