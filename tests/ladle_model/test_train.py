"""The training loop: config checks, learning on a fixed batch, checkpoints, exact resume, logs, DDP."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import ladle_model.training.loop as train_module
from ladle_model.data.loader import make_loader
from ladle_model.losses.perceptual import pretrain_feature_net
from ladle_model.models.build import build_model
from ladle_model.reports.training import read_log
from ladle_model.runs.checkpoint import load_checkpoint
from ladle_model.training.config import TrainConfig
from ladle_model.training.loop import scheduled_lr, train, train_step
from ladle_model.training.state import init_state
from storage.config import ConfigError, code_version
from storage.manifest import find_dataset

REPO = Path(__file__).resolve().parents[2]

# Small enough for ~20 steps/s on 2 CPU cores; every model still sees (B, 2, 800) crops.
TINY_MODELS = {
    "ladle": {"d_model": 16, "n_layers": 1, "n_heads": 2, "stride": 4, "pos_conv_kernel": 0},
    "drrn1d": {"channels": 16, "n_units": 3},
    "srresnet1d": {"channels": 16, "n_blocks": 2},
    "resunit": {"channels": 16, "n_units": 1},
}


def tiny_config(**overrides) -> TrainConfig:
    d = {
        "model": "ladle",
        "model_overrides": TINY_MODELS["ladle"],
        "lr": 3e-3,
        "segment_seconds": 0.1,  # 800-sample crops of the 2000-sample segments
        "num_workers": 0,
        "feature_net_steps": 4,
        "checkpoint_every_steps": 2,
        "max_steps": 4,
    }
    return TrainConfig.from_dict({**d, **overrides})


def weights(path: str | Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


# ----------------------------------------------------------------------------- config


def test_config_defaults_are_the_papers():
    cfg = TrainConfig()
    assert (cfg.lr, cfg.weight_decay, cfg.batch_size, cfg.max_epochs) == (1e-4, 1e-5, 4, 20)
    assert (cfg.plateau_factor, cfg.plateau_patience) == (0.5, 5)


def test_config_from_dict_checks_keys_types_and_nesting():
    cfg = TrainConfig.from_dict(
        {
            "lr": 1,
            "loss": {"lambda_perc": 0.0, "stft_fft_sizes": [256], "stft_win_lengths": [200], "stft_hop_lengths": [50]},
            "model_overrides": {"stride": 4},
        }
    )
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.loss.lambda_perc == 0.0 and cfg.loss.stft_fft_sizes == (256,)
    assert cfg.model_config()["stride"] == 4
    with pytest.raises(ConfigError, match="unknown key"):
        TrainConfig.from_dict({"learning_rate": 1e-3})
    with pytest.raises(ConfigError, match="batch_size"):
        TrainConfig.from_dict({"batch_size": "4"})
    with pytest.raises(ConfigError, match="unknown key"):
        TrainConfig.from_dict({"loss": {"lambda_typo": 1.0}})
    # One validator (storage/config.py): a bad model override is a ConfigError naming the model's config.
    with pytest.raises(ConfigError, match=r"LadLeConfig: unknown key"):
        TrainConfig.from_dict({"model_overrides": {"depth": 3}})
    with pytest.raises(ConfigError, match="unknown model"):
        TrainConfig.from_dict({"model": "wavenet"})
    with pytest.raises(ConfigError, match="device"):
        TrainConfig.from_dict({"device": "tpu"})


def test_a_recipe_then_overrides():
    cfg = TrainConfig.from_recipe("paper", {"model": "drrn1d", "max_epochs": 3, "batch_size": 2, "lr": 5e-4})
    assert (cfg.model, cfg.max_epochs, cfg.batch_size, cfg.lr) == ("drrn1d", 3, 2, 5e-4)
    specnext = TrainConfig.from_recipe("specnext", {"max_steps": 7})
    assert (specnext.model, specnext.max_steps, specnext.lr, specnext.model_overrides) == (
        "specnext",
        7,
        1e-3,
        {"noise_fill": True},
    )


# ----------------------------------------------------------------------------- learning


# The tiniest LadLe above only learns to output silence on a fixed batch; d_model 64 learns the task.
LEARNING_MODELS = {**TINY_MODELS, "ladle": {"d_model": 64, "n_layers": 1, "stride": 4}}


@pytest.mark.parametrize("model", sorted(LEARNING_MODELS))
def test_fifty_steps_on_one_batch_cut_the_loss(model, tiny_data_dir):
    manifest = find_dataset(tiny_data_dir)
    lossless, lossy = next(iter(make_loader(manifest.shard_paths("train"), 4, True, seed=0, crop_samples=800)))
    cfg = tiny_config(model=model, model_overrides=LEARNING_MODELS[model], lr=1e-3)
    feature_net = pretrain_feature_net([(lossless, lossy)], steps=4, seed=0)
    state = init_state(cfg)
    history = [train_step(state, state.model, lossless, lossy, feature_net, cfg)[0] for _ in range(50)]
    start, end = history[0]["loss/total"].item(), history[-1]["loss/total"].item()
    print(f"{model}: loss/total {start:.4g} -> {end:.4g}")
    assert state.step == 50
    assert end < 0.5 * start
    # and not by learning to output silence: closer to the lossless audio than zeros are
    assert history[-1]["loss/mse"].item() < 0.5 * torch.mean(lossless**2).item()


# ----------------------------------------------------------------------------- runs on the shards


@pytest.fixture(scope="module")
def uninterrupted(tiny_data_dir, tmp_path_factory) -> tuple[Path, object]:
    """4 steps in one go: epoch 0 has 3 batches (12 segments / 4), so the run crosses an epoch end."""
    run_dir = tmp_path_factory.mktemp("runs") / "straight"
    return run_dir, train(tiny_data_dir, run_dir, tiny_config())


def test_run_result_and_files(uninterrupted):
    run_dir, result = uninterrupted
    assert (result.step, result.epochs, result.dataset_version) == (4, 1, "tiny-v1")
    assert result.checkpoint == str(run_dir / "checkpoints" / "last.pt")
    assert np.isfinite(result.last_train_loss) and np.isfinite(result.best_val_loss)
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    # every 2 steps, at the epoch end (step 3) and at the end of the run (step 4 again)
    assert names == ["best.pt", "last.pt", "step-00000002.pt", "step-00000003.pt", "step-00000004.pt"]
    assert (run_dir / "feature_net.pt").is_file()
    assert (run_dir / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_checkpoint_loads_weights_only_and_holds_the_configs(uninterrupted):
    run_dir, _ = uninterrupted
    ckpt = load_checkpoint(run_dir / "checkpoints" / "last.pt")  # torch.load(weights_only=True) inside
    cfg = tiny_config()
    assert ckpt["config"]["train"] == cfg.to_dict()
    assert ckpt["config"]["model"] == cfg.model_config()
    assert (ckpt["dataset_version"], ckpt["model_name"], ckpt["step"], ckpt["epoch"], ckpt["batch_in_epoch"]) == (
        "tiny-v1",
        "ladle",
        4,
        1,
        1,
    )
    assert ckpt["code_version"] == code_version() and ckpt["code_version"].startswith("ladle 0.1.0")
    assert set(ckpt["rng"][0]) == {"torch", "cuda", "numpy", "python"}
    assert ckpt["optimizer"]["state"] and ckpt["scheduler"]["patience"] == 5
    # the saved config rebuilds the same network
    model = build_model(ckpt["model_name"], **ckpt["config"]["model"])
    model.load_state_dict(ckpt["model"])
    assert sum(p.numel() for p in model.parameters()) == sum(v.numel() for k, v in ckpt["model"].items())


def test_logs_have_every_step_and_the_lossy_baseline(uninterrupted, tiny_data_dir):
    run_dir, _ = uninterrupted
    steps = read_log(run_dir / "log_steps.csv")
    assert [r["step"] for r in steps] == [1, 2, 3, 4] and [r["epoch"] for r in steps] == [0, 0, 0, 1]
    assert all(r["loss/total"] >= r["loss/mse"] > 0 and r["loss/perceptual"] > 0 for r in steps)
    epochs = read_log(run_dir / "log_epochs.csv")
    assert [(r["epoch"], r["step"], r["complete"]) for r in epochs] == [(0, 3, 1), (1, 4, 0)]
    assert epochs[0]["train/loss/total"] == pytest.approx(np.mean([r["loss/total"] for r in steps[:3]]))
    # the validation baseline: MSE of the untouched lossy input over the same tiled 800-sample crops
    manifest = find_dataset(tiny_data_dir)
    pairs = [
        (a, b) for x, y in make_loader(manifest.shard_paths("val"), 4, False, crop_samples=800) for a, b in zip(x, y)
    ]
    baseline = np.mean([torch.mean((b - a) ** 2).item() for a, b in pairs])
    assert epochs[0]["val/mse_lossy_input"] == pytest.approx(baseline, rel=1e-5)


def test_resumed_run_ends_with_the_same_weights(uninterrupted, tiny_data_dir, tmp_path):
    straight_dir, _ = uninterrupted
    first = train(tiny_data_dir, tmp_path, tiny_config(max_steps=2))  # stops inside epoch 0
    feature_net_mtime = (tmp_path / "feature_net.pt").stat().st_mtime_ns
    second = train(
        tiny_data_dir, tmp_path, tiny_config(max_steps=4)
    )  # skips 2 batches, ends epoch 0, one step of epoch 1
    assert (first.step, second.step, second.epochs) == (2, 4, 1)
    assert (tmp_path / "feature_net.pt").stat().st_mtime_ns == feature_net_mtime  # phi came from the cache
    resumed, straight = weights(tmp_path / "checkpoints" / "last.pt"), weights(straight_dir / "checkpoints" / "last.pt")
    assert resumed.keys() == straight.keys()
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], rtol=1e-5, atol=1e-6, msg=name)
    losses = [r["loss/total"] for r in read_log(tmp_path / "log_steps.csv")]
    assert losses == pytest.approx([r["loss/total"] for r in read_log(straight_dir / "log_steps.csv")], rel=1e-5)
    # a third call has nothing left to do and changes nothing
    third = train(tiny_data_dir, tmp_path, tiny_config(max_steps=4))
    assert third.step == 4 and len(read_log(tmp_path / "log_epochs.csv")) == 3  # partial@2, epoch 0@3, partial@4


def test_crash_after_logging_redoes_steps_without_duplicate_rows(uninterrupted, tiny_data_dir, tmp_path, monkeypatch):
    straight_dir, _ = uninterrupted
    real_save = train_module.save_checkpoint

    def save_or_crash(ctx, state, *args, **kwargs):
        if state.step == 3:
            raise RuntimeError("simulated crash at step 3")
        return real_save(ctx, state, *args, **kwargs)

    monkeypatch.setattr(train_module, "save_checkpoint", save_or_crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(tiny_data_dir, tmp_path, tiny_config())
    assert [r["step"] for r in read_log(tmp_path / "log_steps.csv")] == [1, 2, 3]  # step 3 logged, not checkpointed
    monkeypatch.setattr(train_module, "save_checkpoint", real_save)
    result = train(tiny_data_dir, tmp_path, tiny_config())  # resumes from step 2
    assert result.step == 4
    assert [r["step"] for r in read_log(tmp_path / "log_steps.csv")] == [1, 2, 3, 4]
    assert [r["step"] for r in read_log(tmp_path / "log_epochs.csv")] == [3, 4]
    for name, value in weights(straight_dir / "checkpoints" / "last.pt").items():
        torch.testing.assert_close(weights(tmp_path / "checkpoints" / "last.pt")[name], value, rtol=1e-5, atol=1e-6)


def test_refuses_a_run_folder_of_another_model_or_preset(uninterrupted, tiny_data_dir, tmp_path):
    run_dir, _ = uninterrupted
    before = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    with pytest.raises(ValueError, match="of model 'ladle'"):
        train(tiny_data_dir, run_dir, tiny_config(model="drrn1d", model_overrides=TINY_MODELS["drrn1d"]))
    with pytest.raises(ValueError, match="of model 'ladle'"):
        train(tiny_data_dir, run_dir, tiny_config(model_overrides={**TINY_MODELS["ladle"], "stride": 2}))
    # a dataset of another preset is not a newer version of the run's: the message names both ways out
    from tests.conftest import write_tiny_dataset

    write_tiny_dataset(tmp_path, version="tiny-mp3", preset="mp3-128")
    with pytest.raises(ValueError, match="trained on preset.s. vorbis-160, not mp3-128.*--preset vorbis-160"):
        train(tmp_path, run_dir, tiny_config(), dataset_version="tiny-mp3")
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == before


def test_an_older_checkpoint_on_a_newer_version_warm_starts_and_records_both(uninterrupted, tiny_data_dir, tmp_path):
    import json
    import shutil

    from tests.conftest import write_tiny_dataset

    old_dir, _ = uninterrupted
    run_dir, data = tmp_path / "run", tmp_path / "data"
    shutil.copytree(old_dir, run_dir)
    shutil.copytree(tiny_data_dir / "datasets", data / "datasets")
    write_tiny_dataset(data, version="tiny-v2", seed=1)  # the same preset's newer version
    old = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    result = train(data, run_dir, tiny_config(max_steps=2), preset="vorbis-160")  # the preset names its newest
    history = [{"version": "tiny-v1", "start_step": 0}, {"version": "tiny-v2", "start_step": 4}]
    assert (result.warm_start, result.dataset_version, result.dataset_history) == (True, "tiny-v2", history)
    assert (result.start_step, result.step) == (4, 6)  # max_steps counts from the warm start
    ckpt = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert ckpt["dataset_history"] == history and ckpt["dataset_version"] == "tiny-v2"
    assert (ckpt["epoch"], ckpt["batch_in_epoch"]) == (0, 2)  # epoch counters start again on the new version
    # Adam's moments carried on (its step count continues); best.pt is this version's, picked on its val split
    assert ckpt["optimizer"]["state"][0]["step"] == old["optimizer"]["state"][0]["step"] + 2
    best = load_checkpoint(run_dir / "checkpoints" / "best.pt")
    assert best["dataset_version"] == "tiny-v2" and best["best_val_loss"] == ckpt["best_val_loss"]
    assert json.loads((run_dir / "config.json").read_text())["dataset_history"] == history
    assert json.loads((run_dir / "feature_net.json").read_text())["dataset_version"] == "tiny-v2"
    assert [r["step"] for r in read_log(run_dir / "log_steps.csv")] == [1, 2, 3, 4, 5, 6]
    # the same call again is a plain resume on tiny-v2: nothing left to do
    again = train(data, run_dir, tiny_config(max_steps=2), preset="vorbis-160")
    assert (again.warm_start, again.step, again.dataset_history) == (False, 6, history)


def test_moving_average_follows_its_decay_step_by_step(tiny_data_dir):
    manifest = find_dataset(tiny_data_dir)
    lossless, lossy = next(iter(make_loader(manifest.shard_paths("train"), 4, True, seed=0, crop_samples=800)))
    cfg = tiny_config(ema_decay=0.3, loss={"lambda_perc": 0.0}, feature_net_steps=0)
    state = init_state(cfg)
    expected: dict[str, torch.Tensor] = {}
    # the first update copies the weights; the n-th later one keeps min(0.3, (1 + n) / (10 + n)) of the average
    decays = [None, 2 / 11, 3 / 12, 0.3, 0.3]
    for decay in decays:
        train_step(state, state.model, lossless, lossy, None, cfg)
        now = {k: v.detach().clone() for k, v in state.model.named_parameters()}
        expected = now if decay is None else {k: decay * expected[k] + (1 - decay) * now[k] for k in now}
    averaged = dict(state.served_model.named_parameters())
    for name, value in expected.items():
        torch.testing.assert_close(averaged[name], value, msg=name)
    assert not torch.equal(averaged[name], dict(state.model.named_parameters())[name])  # not the raw weights
    assert int(state.ema.n_averaged) == len(decays)
    with pytest.raises(ConfigError, match="ema_decay"):
        tiny_config(ema_decay=1.0)


def test_moving_average_is_served_checkpointed_and_resumed_exactly(tiny_data_dir, tmp_path):
    from ladle_model.runs.checkpoint import model_from_checkpoint
    from ladle_model.training.distributed import setup_distributed
    from ladle_model.training.validate import validate

    cfg = tiny_config(ema_decay=0.5, loss={"lambda_perc": 0.0}, feature_net_steps=0)
    straight = train(tiny_data_dir, tmp_path / "straight", cfg)
    train(
        tiny_data_dir,
        tmp_path / "resumed",
        tiny_config(ema_decay=0.5, loss={"lambda_perc": 0.0}, feature_net_steps=0, max_steps=2),
    )
    resumed = train(tiny_data_dir, tmp_path / "resumed", cfg)  # resumed inside epoch 0
    assert straight.step == resumed.step == 4
    a, b = (load_checkpoint(tmp_path / name / "checkpoints" / "last.pt") for name in ("straight", "resumed"))
    assert a["ema_updates"] == b["ema_updates"] == 4
    for name, value in a["ema"].items():
        torch.testing.assert_close(b["ema"][name], value, rtol=1e-5, atol=1e-6, msg=name)
    # inference gets the average, training resumes from the raw weights
    served = model_from_checkpoint(a)
    assert all(torch.equal(v, a["ema"][k]) for k, v in served.state_dict().items())
    assert any(not torch.equal(a["ema"][k], a["model"][k]) for k in a["model"])
    # validation scored the average: the epoch log's last val loss is the served model's, not the raw weights'
    val_shards = find_dataset(tiny_data_dir).shard_paths("val")
    logged = read_log(tmp_path / "straight" / "log_epochs.csv")[-1]["val/loss/total"]
    of_served = validate(served, val_shards, cfg, 800, None, setup_distributed("cpu"))["val/loss/total"]
    raw = build_model(a["model_name"], **a["config"]["model"])
    raw.load_state_dict(a["model"])
    of_raw = validate(raw, val_shards, cfg, 800, None, setup_distributed("cpu"))["val/loss/total"]
    assert logged == pytest.approx(of_served, rel=1e-5) and of_raw != pytest.approx(of_served, rel=1e-5)


def test_a_run_resumed_with_a_moving_average_starts_it_from_the_resumed_weights(tiny_data_dir, tmp_path):
    plain = {"loss": {"lambda_perc": 0.0}, "feature_net_steps": 0}
    train(tiny_data_dir, tmp_path, tiny_config(**plain, max_steps=2))  # saved without an average
    train(tiny_data_dir, tmp_path, tiny_config(**plain, ema_decay=0.5))  # steps 3 and 4 keep one
    ckpt = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert ckpt["ema_updates"] == 2
    # step 3's update copies its weights, step 4's keeps min(0.5, 2 / 11) of them
    w3, w4 = weights(tmp_path / "checkpoints" / "step-00000003.pt"), ckpt["model"]
    for name, value in ckpt["ema"].items():
        torch.testing.assert_close(value, 2 / 11 * w3[name] + 9 / 11 * w4[name], msg=name)


# ----------------------------------------------------------------------------- time budget, several presets, leftovers


class FakeClock:
    """Minutes that pass only when the test says: here, one per training step."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def a_minute_per_step(monkeypatch) -> tuple[FakeClock, object]:
    """A clock that train_step moves on by a minute each step, and the real train_step (to put back)."""
    clock, real_step = FakeClock(), train_module.train_step

    def step_taking_a_minute(*args, **kwargs):
        out = real_step(*args, **kwargs)
        clock.now += 60.0
        return out

    monkeypatch.setattr(train_module, "train_step", step_taking_a_minute)
    return clock, real_step


@pytest.mark.parametrize(
    "budget_minutes, stop_step, stop_epochs", [(2, 2, 0), (3, 3, 1)]
)  # mid-epoch; at the epoch end
def test_time_budget_stops_with_a_checkpoint_and_a_rerun_resumes_exactly(
    uninterrupted, tiny_data_dir, tmp_path, monkeypatch, budget_minutes, stop_step, stop_epochs
):
    straight_dir, _ = uninterrupted
    clock, real_step = a_minute_per_step(monkeypatch)
    stopped = train(tiny_data_dir, tmp_path, tiny_config(max_minutes=budget_minutes), clock=clock)
    assert (stopped.step, stopped.epochs, stopped.stopped_by, stopped.start_step) == (
        stop_step,
        stop_epochs,
        "max_minutes",
        0,
    )
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == stop_step  # stopped with a checkpoint
    monkeypatch.setattr(train_module, "train_step", real_step)
    resumed = train(tiny_data_dir, tmp_path, tiny_config())  # no budget: runs to max_steps
    assert (resumed.step, resumed.epochs, resumed.stopped_by, resumed.start_step) == (4, 1, "max_steps", stop_step)
    for name, value in weights(straight_dir / "checkpoints" / "last.pt").items():
        torch.testing.assert_close(
            weights(tmp_path / "checkpoints" / "last.pt")[name], value, rtol=1e-5, atol=1e-6, msg=name
        )
    losses = [r["loss/total"] for r in read_log(tmp_path / "log_steps.csv")]
    assert losses == pytest.approx([r["loss/total"] for r in read_log(straight_dir / "log_steps.csv")], rel=1e-5)


def test_the_closing_validation_counts_in_the_time_budget(tiny_data_dir, tmp_path, monkeypatch):
    """Training stops early enough for the validation that ends it: before one was timed, its batches at
    VAL_BATCH_SHARE of a (measured) training step each."""
    clock, _ = a_minute_per_step(monkeypatch)
    monkeypatch.setattr(train_module, "VAL_BATCH_SHARE", 1.0)  # a val batch as dear as a step: one minute here
    val_batches = math.ceil(4 / tiny_config().batch_size)  # the tiny val split's 4 segments
    stopped = train(tiny_data_dir, tmp_path, tiny_config(max_minutes=3), clock=clock)
    # after step k the clock reads k minutes, and k + val_batches >= 3 stops it
    assert (stopped.step, stopped.stopped_by) == (3 - val_batches, "max_minutes")


def test_scheduled_lr_warms_up_linearly_to_the_configured_lr():
    cfg = tiny_config(lr=1e-3, warmup_steps=4)
    assert [scheduled_lr(cfg, s) for s in range(5)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3])
    assert scheduled_lr(tiny_config(lr=1e-3), 10) == 1e-3  # no warm-up: the plateau scheduler's business


def test_several_presets_train_one_model_on_their_union(tmp_path):
    from ladle_model.inference.enhance import load_enhancer
    from ladle_model.runs.checkpoint import checkpoint_presets
    from tests.conftest import write_tiny_dataset

    data = tmp_path / "data"
    write_tiny_dataset(data, version="tiny-a", preset="vorbis-160", seed=0)
    write_tiny_dataset(data, version="tiny-b", preset="mp3-64", seed=1)
    run = tmp_path / "run"
    result = train(data, run, tiny_config(max_steps=None, max_epochs=1), preset=["vorbis-160", "mp3-64"])
    # 12 + 12 train segments in batches of 4: both datasets read, one epoch is 6 steps (3 for either alone)
    assert (result.step, result.epochs, result.stopped_by) == (6, 1, "max_epochs")
    assert (result.dataset_version, result.presets) == ("tiny-b+tiny-a", ["mp3-64", "vorbis-160"])  # ordered by preset
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    assert checkpoint_presets(ckpt) == ["mp3-64", "vorbis-160"] and [d["version"] for d in ckpt["datasets"]] == [
        "tiny-b",
        "tiny-a",
    ]
    # validation covers both val splits: the lossy-input baseline is the mean over all 8 val segments (2 crops each)
    pairs = [
        (a, b)
        for version in ("tiny-a", "tiny-b")
        for x, y in make_loader(find_dataset(data, version=version).shard_paths("val"), 4, False, crop_samples=800)
        for a, b in zip(x, y)
    ]
    baseline = np.mean([torch.mean((b - a) ** 2).item() for a, b in pairs])
    assert len(pairs) == 16 and read_log(run / "log_epochs.csv")[0]["val/mse_lossy_input"] == pytest.approx(
        baseline, rel=1e-5
    )
    # enhance loads the one model (either preset's lossy input is laid out alike)
    assert load_enhancer(run, device="cpu").spec.sample_rate == 8000
    # a bare re-run finds both datasets again (two match DATA: without the checkpoint it would have to ask)
    again = train(data, run, tiny_config(max_steps=7, max_epochs=2))
    assert (again.step, again.start_step, again.presets) == (7, 6, ["mp3-64", "vorbis-160"])
    # presets named in another order are the same run
    assert train(data, run, tiny_config(max_steps=7, max_epochs=2), preset=["mp3-64", "vorbis-160"]).step == 7
    # datasets of another layout cannot share one model
    write_tiny_dataset(data, version="tiny-c", preset="opus-96", sample_rate=16000)
    with pytest.raises(ConfigError, match="lay segments out differently"):
        train(data, tmp_path / "run-c", tiny_config(), preset=["vorbis-160", "opus-96"])
    assert not (tmp_path / "run-c").exists()


def test_half_written_files_of_a_killed_run_are_swept_at_the_start(uninterrupted, tiny_data_dir, tmp_path):
    import shutil

    straight_dir, _ = uninterrupted
    run = tmp_path / "run"
    shutil.copytree(straight_dir, run)
    leftovers = [
        run / "checkpoints" / ".last.pt.tmp-4242-0a1b2c3d",
        run / "checkpoints" / ".step-00000004.pt.tmp-4242-ffff0000",
        run / ".log_steps.csv.tmp-4242-12345678",
    ]
    for path in leftovers:
        path.write_bytes(b"torn")
    result = train(tiny_data_dir, run, tiny_config())  # nothing left to train: it only opens the run
    assert (result.step, result.start_step) == (4, 4)
    assert not any(path.exists() for path in leftovers)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == sorted(
        p.name for p in (straight_dir / "checkpoints").iterdir()
    )


# ----------------------------------------------------------------------------- several processes


DDP_SCRIPT = textwrap.dedent(
    """
    import os, sys, torch
    import ladle_model.training.loop as t

    real_save = t.save_checkpoint

    def save_and_dump(ctx, state, *args, **kwargs):
        # test only: every rank dumps its weights, to check that DDP kept them identical
        torch.save(state.model.state_dict(), f"{ctx.run_dir}/rank{os.environ['RANK']}-step{state.step}.pt")
        return real_save(ctx, state, *args, **kwargs)

    t.save_checkpoint = save_and_dump
    cfg = t.TrainConfig.from_dict(dict(
        model="ladle", model_overrides=MODEL, lr=3e-3, segment_seconds=0.1, num_workers=0,
        feature_net_steps=4, max_epochs=2, checkpoint_every_steps=100, device="cpu"))
    result = t.train(sys.argv[1], sys.argv[2], cfg)
    print("RESULT", os.environ["RANK"], result.step, result.epochs, flush=True)
    """
)


@pytest.mark.slow
def test_two_process_gloo_run_with_torchrun(tiny_data_dir, tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT.replace("MODEL", repr(TINY_MODELS["ladle"])))
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(script),
        str(tiny_data_dir),
        str(run_dir),
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=REPO)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    # 12 train segments / (batch 4 x 2 ranks) = 1 step per epoch on every rank, 2 epochs
    assert sorted(line for line in out.stdout.splitlines() if line.startswith("RESULT")) == [
        "RESULT 0 2 2",
        "RESULT 1 2 2",
    ]
    ckpt = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert (ckpt["step"], ckpt["epoch"], len(ckpt["rng"])) == (2, 2, 2)
    rank0, rank1 = torch.load(run_dir / "rank0-step2.pt"), torch.load(run_dir / "rank1-step2.pt")
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)  # DDP kept the replicas identical
    step1 = torch.load(run_dir / "rank0-step1.pt")
    assert any(not torch.equal(rank0[k], step1[k]) for k in rank0)  # and they did train
    for k, v in weights(run_dir / "checkpoints" / "last.pt").items():
        assert torch.equal(v, rank0[k])
    assert [r["step"] for r in read_log(run_dir / "log_steps.csv")] == [1, 2]  # rank 0 alone writes the logs
    assert [r["epoch"] for r in read_log(run_dir / "log_epochs.csv")] == [0, 1]
