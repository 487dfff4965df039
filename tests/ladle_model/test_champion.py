"""The model registry (DATA/catalog/models.parquet) and the champion folder (DATA/models/champion/)."""

from __future__ import annotations

import shutil

import pytest

from ladle_model.runs.champion import (
    champion_record,
    champion_run,
    champion_versions,
    promote,
    resolve_model,
    seed_run,
)
from ladle_model.runs.checkpoint import load_checkpoint
from ladle_model.runs.folder import RunDir
from ladle_model.runs.registry import Candidate, find_candidate, read_candidates, record_candidate, registry_path
from ladle_model.training.loop import train
from tests.ladle_model.test_train import tiny_config


@pytest.fixture(scope="module")
def trained(tiny_data_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "a"
    train(tiny_data_dir, run_dir, tiny_config(max_steps=2))
    return run_dir


def test_registry_rows_are_keyed_by_dataset_version_and_read_back_as_data(tmp_path):
    assert find_candidate(tmp_path, "v1") is None and read_candidates(tmp_path) == []
    metrics = {"vorbis-160": {"mse": 1e-4, "lsd": 0.9}}
    record_candidate(tmp_path, Candidate("v1", "runs/nightly/v1", "promoted", "first champion", ["vorbis-160"],
                                         metrics=metrics, created_at="2025-01-01T02:00:00+00:00"))  # fmt: skip
    record_candidate(tmp_path, Candidate("v2", "runs/nightly/v2", "rejected", "worse on LSD", ["vorbis-160"]))
    record_candidate(tmp_path, Candidate("v2", "runs/nightly/v2", "rejected", "worse on MSE", ["vorbis-160"]))
    rows = read_candidates(tmp_path)
    assert [(r["dataset_version"], r["verdict"]) for r in rows] == [("v1", "promoted"), ("v2", "rejected")]
    assert rows[0]["metrics"] == metrics and rows[0]["presets"] == ["vorbis-160"]
    assert find_candidate(tmp_path, "v2")["reason"] == "worse on MSE"  # one row per version: replaced
    assert registry_path(tmp_path) == tmp_path / "catalog" / "models.parquet"
    assert not list((tmp_path / "catalog").glob(".*"))  # no temporary left


def test_promote_copies_best_pt_and_writes_the_record_and_champion_resolves(tiny_data_dir, trained, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_data_dir, data)
    assert champion_run(data) is None and champion_versions(data) == set()
    with pytest.raises(FileNotFoundError, match="no champion under .*the nightly flow promotes one"):
        resolve_model("champion", data)
    folder = promote(data, trained, {"reason": "first champion", "registry_key": "tiny-v1"})
    assert folder == data / "models" / "champion"
    best = RunDir(folder).best
    assert best.read_bytes() == RunDir(trained).best.read_bytes()
    assert RunDir(folder).feature_net.read_bytes() == RunDir(trained).feature_net.read_bytes()
    record = champion_record(data)
    assert (record["run_dir"], record["dataset_version"], record["registry_key"]) == (
        str(trained),
        "tiny-v1",
        "tiny-v1",
    )
    assert resolve_model("champion", data) == str(folder) and resolve_model("runs/x", data) == "runs/x"
    assert champion_versions(data) == {"tiny-v1"}


def test_prune_never_removes_the_champions_version(tiny_data_dir, trained, tmp_path, capsys):
    from flows.cli import main
    from tests.conftest import write_tiny_dataset

    data = tmp_path / "data"
    shutil.copytree(tiny_data_dir, data)
    promote(data, trained, {"registry_key": "tiny-v1"})
    write_tiny_dataset(data, version="tiny-v2", seed=1)
    write_tiny_dataset(data, version="tiny-v3", seed=2)
    assert main(["prune", "--data", str(data), "--keep", "1", "--json"]) == 0
    assert '"protected": [\n    "tiny-v1"\n  ]' in capsys.readouterr().out
    assert (data / "datasets" / "tiny-v1" / "manifest.json").is_file()
    assert not (data / "datasets" / "tiny-v2").exists()


def test_seed_run_starts_a_new_folder_from_the_champion_only(trained, tmp_path):
    cfg = tiny_config()
    run = RunDir(tmp_path / "challenger")
    assert seed_run(run.root, RunDir(trained).best, cfg.model, cfg.model_config())
    assert load_checkpoint(run.last)["step"] == load_checkpoint(RunDir(trained).best)["step"]
    assert not seed_run(run.root, RunDir(trained).best, cfg.model, cfg.model_config())  # it has a checkpoint now
    other = tiny_config(model_overrides={"d_model": 16, "n_layers": 1, "n_heads": 2, "stride": 2, "pos_conv_kernel": 0})
    assert not seed_run(tmp_path / "other", RunDir(trained).best, other.model, other.model_config())
    assert not (tmp_path / "other").exists()
