"""The server path end to end: a real `prefect server`, a process work pool, `prefect deploy --all`
from prefect.yaml, a worker, and `prefect deployment run` of every deployment with tiny parameters; the
deployment's training is the one `ladle train` runs from the same arguments.

Everything it starts runs on a free loopback port with its own PREFECT_HOME, and is stopped at the end.
"""

import json
import subprocess
import sys

import pytest

from bench.common import REPO
from bench.prefect_server import POOL, prefect, prefect_server, worker
from ladle_model.runs.checkpoint import checkpoint_datasets, load_checkpoint
from storage.catalog import catalog_summary
from tests.conftest import tone_pcm, write_pcm

pytestmark = pytest.mark.slow


@pytest.fixture
def server_env(tmp_path):
    """A `prefect server` on a free loopback port with its own PREFECT_HOME (bench/prefect_server.py)."""
    (tmp_path / "prefect-home").mkdir()
    with prefect_server(tmp_path / "prefect-home", tmp_path / "server.log") as env:
        yield env


def _run_deployment(env: dict, name: str, params: dict) -> None:
    """`prefect deployment run NAME --params ... --watch`, which must end Completed."""
    args = ("deployment", "run", name, "--params", json.dumps(params), "--watch", "--watch-timeout", "600")
    out = prefect(env, "--no-prompt", *args, timeout=700)
    assert "Completed" in out, out[-2000:]


def test_deploy_and_run_every_deployment_through_a_worker(server_env, tmp_path):
    env = server_env
    library, data, run_dir = tmp_path / "library", tmp_path / "data", tmp_path / "runs" / "server"
    for i in range(6):
        write_pcm(library / f"{i}.flac", tone_pcm(2.0, seed=700 + i))

    prefect(env, "--no-prompt", "work-pool", "create", POOL, "--type", "process")
    deployed = prefect(env, "--no-prompt", "deploy", "--all")
    for name in (
        "nightly/nightly",
        "build-corpus/default",
        "train-ladle/default",
        "evaluate-ladle/default",
        "prune-datasets/default",
    ):
        assert name in deployed
    inspected = prefect(env, "--no-prompt", "deployment", "inspect", "nightly/nightly", "--output", "json")
    schedules = json.loads(inspected)["schedules"]
    assert [s["schedule"]["cron"] for s in schedules] == ["0 2 * * *"]

    with worker(env, tmp_path / "worker.log"):
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
