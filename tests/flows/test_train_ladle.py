"""The `train-ladle` flow on tiny shards under a temporary Prefect server, and prefect.yaml's deployments."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from ladle_model.reports.training import read_log
from tests.conftest import write_tiny_dataset

REPO = Path(__file__).resolve().parents[2]

TINY_OVERRIDES = {
    "model_overrides": {"d_model": 16, "n_layers": 1, "n_heads": 2, "stride": 4, "pos_conv_kernel": 0},
    "num_workers": 0,
    "feature_net_steps": 4,
    "checkpoint_every_steps": 2,
    "lr": 3e-3,
}


def read_artifacts(keys: list[str]) -> dict:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)))
    return {a.key: a for a in found}


@pytest.mark.slow
def test_flow_trains_resumes_and_publishes(prefect_harness, tmp_path):
    from flows.train_ladle import train_ladle

    data = tmp_path / "data"
    write_tiny_dataset(data)
    run_dir = tmp_path / "runs" / "Flow Run_1"
    summary = train_ladle(
        data=str(data),
        run_dir=str(run_dir),
        recipe="paper",
        overrides={**TINY_OVERRIDES, "model": "ladle", "max_steps": 3, "segment_seconds": 0.1},
    )

    # 12 train segments in batches of 4: step 3 ends epoch 0
    assert (summary["step"], summary["epochs"], summary["dataset_version"]) == (3, 1, "tiny-v1")
    ckpt = torch.load(summary["checkpoint"], weights_only=True)
    assert ckpt["step"] == 3 and ckpt["config"]["train"]["max_steps"] == 3 and ckpt["config"]["train"]["lr"] == 3e-3
    assert [r["step"] for r in read_log(summary["log_steps"])] == [1, 2, 3]
    epochs = read_log(summary["log_epochs"])
    assert len(epochs) == 1 and epochs[0]["val/loss/total"] == pytest.approx(summary["best_val_loss"])
    assert Path(summary["loss_curve"]).read_bytes()[:4] == b"\x89PNG"
    assert Path(summary["feature_net"]).is_file()

    artifacts = read_artifacts(list(summary["artifacts"].values()))
    assert summary["artifacts"] == {"epochs": "train-flow-run-1-epochs", "report": "train-flow-run-1-report"}
    table = artifacts["train-flow-run-1-epochs"]
    assert table.type == "table" and "val/loss/total" in str(table.data)
    report = artifacts["train-flow-run-1-report"]
    assert report.type == "markdown" and "data:image/png;base64," in report.data and "tiny-v1" in report.data

    # the same run folder again, with a higher cap: resumes at step 3, the feature net comes from the cache
    again = train_ladle(
        data=str(data),
        run_dir=str(run_dir),
        recipe="paper",
        overrides={**TINY_OVERRIDES, "model": "ladle", "max_steps": 5, "segment_seconds": 0.1},
    )
    assert again["step"] == 5 and again["epochs"] == 1
    assert [r["step"] for r in read_log(again["log_steps"])] == [1, 2, 3, 4, 5]


@pytest.mark.slow
def test_cli_says_starting_or_resuming_and_prints_losses_briefly(prefect_harness, tmp_path, capsys):
    import json
    import re

    from flows.cli import main

    data = tmp_path / "data"
    write_tiny_dataset(data)
    run = tmp_path / "run"
    command = [
        "train",
        "--data",
        str(data),
        "--run",
        str(run),
        "--recipe",
        "paper",
        "--segment-seconds",
        "0.1",
        "--overrides",
        json.dumps(TINY_OVERRIDES),
    ]
    assert main([*command, "--max-steps", "1"]) == 0
    first = capsys.readouterr().out.splitlines()
    assert first[0] == f"starting {run}"
    # a budget it does not reach; --preset (repeatable) reaches the flow as a list
    assert main([*command, "--max-steps", "2", "--max-minutes", "600", "--preset", "vorbis-160"]) == 0
    second = capsys.readouterr().out.splitlines()
    assert second[0] == f"resuming {run} from step 1"
    assert not any("budget" in line for line in second)
    (losses,) = [line for line in second if line.startswith("last train loss:")]
    numbers = re.findall(r"\d[\d.e+-]*", losses)
    assert len(numbers) == 2 and all(len(n.split("e")[0].replace(".", "").lstrip("0")) <= 4 for n in numbers), losses
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["config"]["train"]["max_minutes"] == 600


def test_flow_rejects_a_bad_config_before_any_work(prefect_harness, tmp_path):
    from flows.train_ladle import train_ladle

    with pytest.raises(ValueError, match="unknown key"):
        train_ladle(data=str(tmp_path), run_dir=str(tmp_path / "run"), overrides={"learning_rate": 1.0})
    assert not (tmp_path / "run").exists()


def test_prefect_yaml_deployments():
    from prefect.cli.deploy._models import PrefectYamlModel, RawScheduleConfig

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    parsed = PrefectYamlModel.model_validate(spec)  # the model `prefect deploy` reads the file with
    # names are unique per flow, not per file: each deployment is addressed as FLOW/NAME
    assert [d.name for d in parsed.deployments][:3] == ["default", "nightly", "default"]
    assert isinstance(parsed.deployments[1].schedules[0], RawScheduleConfig)
    assert spec["prefect-version"].startswith("3.")
    pull = spec["pull"][0]["prefect.deployments.steps.set_working_directory"]
    assert pull["directory"]
    deployments = {d["entrypoint"]: d for d in spec["deployments"]}
    assert len(deployments) == len(spec["deployments"])  # one deployment per flow
    train = deployments["flows/train_ladle.py:train_ladle"]
    assert train["entrypoint"] == "flows/train_ladle.py:train_ladle"
    assert train["parameters"]["data"] == "data" and train["parameters"]["run_dir"] == "runs/default"
    assert train["work_pool"]["name"] == "ladle-process"
    build = deployments["flows/build_corpus.py:build_corpus"]
    assert build["name"] == "default" and "schedules" not in build  # the nightly loop builds on its schedule
    assert build["parameters"] == {"sources": ["library"], "data": "data", "presets": ["vorbis-160"]}
    nightly = deployments["flows/nightly.py:nightly"]
    assert nightly["name"] == "nightly"
    assert nightly["parameters"]["sources"] == ["library"] and nightly["parameters"]["presets"] == ["vorbis-160"]
    assert nightly["schedules"][0]["cron"] == "0 2 * * *"
    assert nightly["work_pool"]["name"] == "ladle-process"
    for d in spec["deployments"]:  # each says what it does, in words and in its parameters
        assert len(d["description"]) > 80 and d["parameters"]
    # every entrypoint names a flow that exists, under the name the deployment is addressed by
    import importlib

    for d, flow_name in [(train, "train-ladle"), (nightly, "nightly"), (build, "build-corpus")]:
        module_path, function = d["entrypoint"].split(":")
        module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
        assert getattr(module, function).name == flow_name
    for entrypoint in deployments:  # and so does every other deployment's
        module_path, function = entrypoint.split(":")
        assert hasattr(importlib.import_module(module_path.removesuffix(".py").replace("/", ".")), function)


@pytest.mark.slow
def test_prefect_deploy_all_accepts_prefect_yaml(prefect_harness, tmp_path):
    import os
    import subprocess
    import sys

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "LADLE_HOME": str(REPO)}
    prefect = str(Path(sys.executable).parent / "prefect")
    for cmd in (
        [prefect, "work-pool", "create", "ladle-process", "--type", "process", "--overwrite"],
        [prefect, "--no-prompt", "deploy", "--all"],
    ):
        out = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    with get_client(sync_client=True) as client:
        deployments = {f"{client.read_flow(d.flow_id).name}/{d.name}": d for d in client.read_deployments()}
    train, nightly = deployments["train-ladle/default"], deployments["nightly/nightly"]
    assert train.parameters["run_dir"] == "runs/default" and train.work_pool_name == "ladle-process"
    assert [s.schedule.cron for s in nightly.schedules] == ["0 2 * * *"]
    assert train.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}]


def test_the_train_deployment_and_ladle_train_with_the_same_arguments_build_identical_configs():
    """prefect.yaml's train-ladle/default and `ladle train` with the same arguments: one TrainConfig, built by the
    function the flow calls (TrainConfig.from_recipe), the CLI's options turned into overrides as `ladle train` does."""
    from flows.cli import build_parser
    from flows.cli.train import train_overrides
    from ladle_model.training.config import TrainConfig

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    (train,) = [d for d in spec["deployments"] if d["entrypoint"] == "flows/train_ladle.py:train_ladle"]
    params = train["parameters"]
    args = build_parser().parse_args(
        ["train", "--data", params["data"], "--run", params["run_dir"], "--preset", params["preset"]]
    )
    deployed = TrainConfig.from_recipe(params["recipe"], params["overrides"])
    assert deployed == TrainConfig.from_recipe(args.recipe, train_overrides(args))
    assert deployed.model == "specnext" and params["recipe"] == args.recipe
    # and with overrides: the deployment's JSON overrides and the CLI's options land on the same keys
    args = build_parser().parse_args(
        [
            "train",
            "--data",
            "data",
            "--run",
            "r",
            "--max-steps",
            "20",
            "--batch-size",
            "8",
            "--overrides",
            '{"lr": 3e-4}',
        ]
    )
    assert TrainConfig.from_recipe("specnext", {"max_steps": 20, "batch_size": 8, "lr": 3e-4}) == (
        TrainConfig.from_recipe(args.recipe, train_overrides(args))
    )


@pytest.mark.slow
def test_max_minutes_bounds_the_whole_command_calibration_included(prefect_harness, tmp_path, monkeypatch, capsys):
    """`ladle train --max-minutes 10` ends within 10 minutes plus one step, calibration included, on a fake clock:
    each training step takes a minute and each ViSQOL excerpt five seconds."""
    import json

    import ladle_model.training.loop as loop
    from flows.build_corpus import build_corpus
    from flows.cli import main
    from ladle_model.calibration import budget, search
    from ladle_model.evaluation.visqol import visqol_available
    from ladle_model.runs.checkpoint import load_checkpoint
    from tests.conftest import tone_pcm, write_pcm

    if not visqol_available():
        pytest.skip("visqol-python is not installed")
    for seed in (0, 1, 2, 3, 9):  # train (0, 1, 2), test (3), val (9)
        write_pcm(tmp_path / "library" / f"tone {seed}.flac", tone_pcm(3.0, seed=seed))
    data, run = tmp_path / "data", tmp_path / "run"
    build_corpus(sources=[str(tmp_path / "library")], data=str(data), presets=["paper-32k"], segment_seconds=0.25)

    start = 1_000_000.0
    now = [start]
    monkeypatch.setattr(budget, "wall_clock", lambda: now[0])
    real_step, real_visqol = loop.train_step, search.visqol_scores

    def step_taking_a_minute(*args, **kwargs):
        out = real_step(*args, **kwargs)
        now[0] += 60.0
        return out

    def visqol_taking_five_seconds(lossless, estimate, sample_rate):
        out = real_visqol(lossless, estimate, sample_rate)
        now[0] += 5.0 * len(lossless)
        return out

    monkeypatch.setattr(loop, "train_step", step_taking_a_minute)
    monkeypatch.setattr(search, "visqol_scores", visqol_taking_five_seconds)
    overrides = {"model_overrides": {"dim": 16, "n_blocks": 1}, "num_workers": 0, "max_steps": 100}
    argv = ["train", "--data", str(data), "--run", str(run), "--model", "specnext", "--max-minutes", "10"]
    assert main([*argv, "--overrides", json.dumps(overrides)]) == 0

    assert now[0] - start <= 10 * 60 + 60  # the budget, plus the step that crossed the training's deadline
    out = capsys.readouterr().out
    assert "stopped at the 10-minute budget" in out
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    # 7 of 10 minutes trained: a fifth held back for the calibration, and the closing validation's 3 batches (12
    # one-quarter-second val segments in 4s) at half a one-minute step each
    assert ckpt["step"] == 7
    record = load_checkpoint(run / "checkpoints" / "best.pt")["calibration"]
    assert not record["skipped"] and record["table"][-1] == [1.0, 0.0, 0.0, 0.0]  # chose among what it scored
    assert "calibration: " in out and "of the 10-minute budget" in out
