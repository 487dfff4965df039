"""The run folder and checkpoint format: every path, checkpoint lookup, old checkpoints, RNG round trips, resume checks."""

from __future__ import annotations

import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ladle_model.models.build import model_config_dict
from ladle_model.runs.checkpoint import (
    CHECKPOINT_FORMAT,
    checkpoint_datasets,
    checkpoint_presets,
    load_checkpoint,
    model_from_checkpoint,
    upgrade_config,
)
from ladle_model.runs.errors import CheckpointError
from ladle_model.runs.folder import RunDir, resolve_checkpoint, save_checkpoint_file
from ladle_model.runs.resume import (
    capture_rng_state,
    check_resumable,
    restore_rng_state,
    resume_step,
    warm_start_history,
)
from ladle_model.training.loop import train
from ladle_model.training.state import init_state
from tests.ladle_model.test_train import tiny_config

# The keys of a checkpoint written before ladle_model/runs/checkpoint.py existed (ladle-checkpoint/1, saved
# by the old ladle_model/training/loop.py in a 2-step run); a checkpoint written today has exactly these.
OLD_KEYS = {
    "format",
    "model",
    "optimizer",
    "scheduler",
    "step",
    "epoch",
    "batch_in_epoch",
    "epoch_loss_sum",
    "best_val_loss",
    "last_train_loss",
    "last_eval_step",
    "rng",
    "model_name",
    "config",
    "dataset_version",
    "dataset",
    "feature_net",
    "code_version",
}
OLD_DATASET_KEYS = {"preset", "strategy", "segment_seconds", "hop_seconds", "sample_rate", "lossy_sample_rate"}
OLD_FEATURE_NET_KEYS = {"dataset_version", "feature_net", "steps", "lr", "seed", "batch_size", "crop_samples"}


def old_format_checkpoint(c: dict) -> dict:
    """A checkpoint exactly as the old train.py's `checkpoint_payload` built it, from the parts of `c`."""
    return {
        "format": "ladle-checkpoint/1",
        "model": c["model"],
        "optimizer": c["optimizer"],
        "scheduler": c["scheduler"],
        "step": c["step"],
        "epoch": c["epoch"],
        "batch_in_epoch": c["batch_in_epoch"],
        "epoch_loss_sum": c["epoch_loss_sum"],
        "best_val_loss": c["best_val_loss"],
        "last_train_loss": c["last_train_loss"],
        "last_eval_step": c["last_eval_step"],
        "rng": [
            {"torch": r["torch"], "cuda": r["cuda"], "numpy": dict(r["numpy"]), "python": dict(r["python"])}
            for r in c["rng"]
        ],
        "model_name": c["model_name"],
        "config": {"train": c["config"]["train"], "model": c["config"]["model"]},
        "dataset_version": c["dataset_version"],
        "dataset": {
            k: c["dataset"][k]
            for k in ("preset", "strategy", "segment_seconds", "hop_seconds", "sample_rate", "lossy_sample_rate")
        },
        "feature_net": c["feature_net"],
        "code_version": "ladle 0.1.0",
    }


# ----------------------------------------------------------------------------- the layout


def test_run_dir_knows_every_path(tmp_path):
    run = RunDir(str(tmp_path / "r"))
    root = tmp_path / "r"
    assert run.root == root and run.name == "r"
    assert (run.checkpoints, run.last, run.best) == (
        root / "checkpoints",
        root / "checkpoints/last.pt",
        root / "checkpoints/best.pt",
    )
    assert run.step_checkpoint(1000) == root / "checkpoints/step-00001000.pt"
    assert (run.feature_net, run.feature_net_key, run.config) == (
        root / "feature_net.pt",
        root / "feature_net.json",
        root / "config.json",
    )
    assert (run.step_log, run.epoch_log, run.loss_curve) == (
        root / "log_steps.csv",
        root / "log_epochs.csv",
        root / "loss_curve.png",
    )
    assert run.training_report == root / "training_report.md"
    files = run.eval_files("paper-32k")
    assert run.eval_folder("paper-32k") == files.root == root / "eval/paper-32k"
    assert (files.eval_json, files.report_md) == (root / "eval/paper-32k/eval.json", root / "eval/paper-32k/report.md")
    assert sorted(files.reports) == ["report.html", "report.md", "tracks.parquet"]
    assert files.spectrogram("t1") == root / "eval/paper-32k/spectrograms/t1.png"
    assert RunDir(root) == run  # a value: equal folders are equal


def test_checkpoint_lookup_in_files_run_folders_and_checkpoint_folders(tmp_path):
    run = RunDir(tmp_path / "r")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        resolve_checkpoint(run.root)
    for path in (run.last, run.step_checkpoint(2)):
        save_checkpoint_file({"format": CHECKPOINT_FORMAT, "step": 2}, path)
    assert resolve_checkpoint(run.root) == run.last == run.checkpoint()  # no best.pt yet: last.pt
    save_checkpoint_file({"format": CHECKPOINT_FORMAT, "step": 2}, run.best)
    assert resolve_checkpoint(run.root) == run.best == run.checkpoint("best")
    assert resolve_checkpoint(run.root, "last") == run.last
    assert resolve_checkpoint(run.checkpoints) == run.best  # the checkpoints/ folder itself
    assert resolve_checkpoint(run.root, "step-00000002") == run.step_checkpoint(2) == run.checkpoint("step-00000002.pt")
    assert resolve_checkpoint(run.last, "best") == run.last  # a file is taken as given
    with pytest.raises(FileNotFoundError, match="step-00000009.pt"):
        run.checkpoint("step-00000009")
    assert sorted(p.name for p in run.checkpoints.iterdir()) == [
        "best.pt",
        "last.pt",
        "step-00000002.pt",
    ]  # no temporaries


def test_write_checkpoint_names_and_sweeping_temporaries(tmp_path):
    run = RunDir(tmp_path)
    payload = {"format": CHECKPOINT_FORMAT, "step": 7}
    assert run.write_checkpoint(payload) == run.last
    run.write_checkpoint({**payload, "step": 8}, best=True)
    assert sorted(p.name for p in run.checkpoints.iterdir()) == [
        "best.pt",
        "last.pt",
        "step-00000007.pt",
        "step-00000008.pt",
    ]
    assert load_checkpoint(run.last)["step"] == 8 and load_checkpoint(run.step_checkpoint(7))["step"] == 7
    (run.checkpoints / ".last.pt.tmp-123-abcd").write_bytes(b"torn")
    (run.root / ".log_steps.csv.tmp-123-abcd").write_bytes(b"torn")
    run.eval_folder("p").mkdir(parents=True)
    (run.eval_folder("p") / ".report.md.tmp-9-ffff").write_bytes(
        b"being written"
    )  # an evaluation's: not the run's to sweep
    assert run.sweep_temporaries() == 2
    assert sorted(p.name for p in run.checkpoints.iterdir()) == [
        "best.pt",
        "last.pt",
        "step-00000007.pt",
        "step-00000008.pt",
    ]
    assert [p.name for p in run.eval_folder("p").iterdir()] == [".report.md.tmp-9-ffff"]
    assert RunDir(tmp_path / "missing").sweep_temporaries() == 0


class RunsCode:
    def __reduce__(self):  # unpickling this would call print: the safe loader must refuse it unread
        return (print, ("unpickled!",))


def bad_checkpoints(folder: Path) -> dict[str, Path]:
    """Files a user may pass as --checkpoint by mistake (or malice), by kind."""
    files = {
        name: folder / f"{name}.pt"
        for name in ("text", "random", "empty", "pickled-list", "torch-list", "malicious", "other-format", "truncated")
    }
    files["text"].write_text("epoch 3: loss 0.12\n")
    files["random"].write_bytes(np.random.default_rng(0).bytes(4096))
    files["empty"].write_bytes(b"")
    files["pickled-list"].write_bytes(pickle.dumps([1, 2, 3]))
    torch.save([1, 2, 3], files["torch-list"])  # loadable with weights_only, but not a checkpoint
    files["malicious"].write_bytes(pickle.dumps(RunsCode()))
    torch.save({"format": "something-else/1"}, files["other-format"])
    torch.save({"format": CHECKPOINT_FORMAT, "model": {"w": torch.zeros(4096)}}, folder / "whole.pt")
    files["truncated"].write_bytes((folder / "whole.pt").read_bytes()[:3000])
    return files


def test_anything_but_a_checkpoint_is_one_line_without_unsafe_advice(tmp_path, capsys):
    for kind, path in bad_checkpoints(tmp_path).items():
        with pytest.raises(CheckpointError) as caught:
            load_checkpoint(path)
        message = str(caught.value)
        assert message.startswith(f"not a LadLe checkpoint: {path} (") and "\n" not in message, kind
        assert "weights_only" not in message and "False" not in message, kind  # never the advice to load unsafely
        error = caught.value
        assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__), (
            kind
        )  # no torch traceback chained
    assert "unpickled!" not in capsys.readouterr().out  # the malicious file's code never ran
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        load_checkpoint(tmp_path / "missing.pt")


# ----------------------------------------------------------------------------- RNG state


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path):
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    np.random.standard_normal()  # leaves a cached gaussian in the legacy numpy state
    state = capture_rng_state()
    expected = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    torch.save(state, tmp_path / "rng.pt")
    torch.manual_seed(99), np.random.seed(99), random.seed(99)
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    again = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    torch.testing.assert_close(again[0], expected[0])
    np.testing.assert_array_equal(again[1], expected[1])
    assert again[2] == expected[2]


# ----------------------------------------------------------------------------- resuming


def test_check_resumable_names_what_differs():
    ckpt = {
        "step": 4,
        "model_name": "ladle",
        "config": {"model": {"stride": 4, "sizes": [1, 2]}},
        "dataset_version": "v1",
        "feature_net": {"steps": 4, "channels": [16, 32]},
    }
    # tuples and lists compare equal, as a config read back from JSON must
    check_resumable(ckpt, "ladle", {"stride": 4, "sizes": (1, 2)}, "v1", {"steps": 4, "channels": (16, 32)}, "runs/x")
    with pytest.raises(CheckpointError, match="of model 'ladle'"):
        check_resumable(ckpt, "drrn1d", {"stride": 4, "sizes": (1, 2)}, "v1", ckpt["feature_net"], "runs/x")
    with pytest.raises(CheckpointError, match="of model 'ladle'"):
        check_resumable(ckpt, "ladle", {"stride": 2, "sizes": (1, 2)}, "v1", ckpt["feature_net"], "runs/x")
    with pytest.raises(CheckpointError, match="perceptual loss would change"):
        check_resumable(ckpt, "ladle", ckpt["config"]["model"], "v1", None, "runs/x")
    # another version of the same preset: a warm start (phi is pre-trained again on it, its config unchanged)
    ckpt |= {"dataset": {"preset": "mp3-128"}, "feature_net": {"steps": 4, "dataset_version": "v1"}}
    assert check_resumable(ckpt, "ladle", ckpt["config"]["model"], "v2", {"steps": 4, "dataset_version": "v2"}, "x")
    assert not check_resumable(ckpt, "ladle", ckpt["config"]["model"], "v1", ckpt["feature_net"], "x", ["mp3-128"])
    with pytest.raises(CheckpointError, match="perceptual loss would change"):
        check_resumable(ckpt, "ladle", ckpt["config"]["model"], "v2", {"steps": 8, "dataset_version": "v2"}, "x")
    with pytest.raises(CheckpointError, match="preset.s. mp3-128, not vorbis-160: .*--preset mp3-128"):
        check_resumable(ckpt, "ladle", ckpt["config"]["model"], "v2", None, "x", ["vorbis-160"])
    assert warm_start_history(ckpt, "v2") == [{"version": "v1", "start_step": 0}, {"version": "v2", "start_step": 4}]


def test_a_checkpoint_written_before_an_option_was_added_resumes_at_its_default():
    today = model_config_dict("specnext", dim=16)
    saved = {k: v for k, v in today.items() if k != "noise_fill"}  # written before SpecNeXt had noise_fill
    ckpt = {
        "step": 800,
        "model_name": "specnext",
        "config": {"model": saved},
        "dataset_version": "v1",
        "feature_net": None,
    }
    check_resumable(ckpt, "specnext", today, "v1", None, "runs/x")  # the option's default builds the model as before
    with pytest.raises(CheckpointError, match="of model 'specnext'"):
        check_resumable(ckpt, "specnext", {**today, "noise_fill": True}, "v1", None, "runs/x")


def test_a_retired_option_left_off_is_dropped_and_one_turned_on_is_refused():
    model = {
        **model_config_dict("specnext", dim=16),
        "copy_up": False,
        "fill_gain_table": [[0.5, 0.5], [1.0, 0.25, 0.0]],
    }
    train_cfg = {"lr_anneal_to": None, "clean_input_lowpass": 0.0, "spectral": {"lambda_melfloor": 0.0, "n_mels": 64}}
    ckpt = upgrade_config({"config": {"model": model, "train": train_cfg}})
    assert "copy_up" not in ckpt["config"]["model"]
    assert ckpt["config"]["model"]["fill_gain_table"] == [[0.5, 0.5, 0.5, 1.0], [1.0, 0.25, 0.0, 1.0]]
    assert ckpt["config"]["train"] == {"spectral": {}}
    with pytest.raises(CheckpointError, match="copy_up=True"):
        upgrade_config({"config": {"model": {"copy_up": True}}}, "old.pt")
    with pytest.raises(CheckpointError, match="lr_anneal_to=0.0"):
        upgrade_config({"config": {"model": {}, "train": {"lr_anneal_to": 0.0}}}, "old.pt")


def test_old_checkpoints_load_rebuild_their_model_and_resume(tiny_data_dir, tmp_path):
    run = RunDir(tmp_path / "old")
    first = train(tiny_data_dir, run.root, tiny_config(max_steps=2))
    written = load_checkpoint(run.last)
    # today's writer writes the old format, key for key, plus "datasets" (every dataset trained on) and
    # "dataset_history" (every version the weights trained on, in order)
    assert set(written) == OLD_KEYS | {"datasets", "dataset_history"} and written["format"] == CHECKPOINT_FORMAT
    assert written["dataset_history"] == [{"version": "tiny-v1", "start_step": 0}]
    assert written["datasets"] == [{**written["dataset"], "version": "tiny-v1"}]
    assert set(written["dataset"]) == OLD_DATASET_KEYS and set(written["feature_net"]) == OLD_FEATURE_NET_KEYS
    assert set(written["config"]) == {"train", "model"} and set(written["rng"][0]) == {
        "torch",
        "cuda",
        "numpy",
        "python",
    }

    # an old checkpoint, built as the old code built it, replaces last.pt of a copy of the run
    shutil.copytree(run.root, tmp_path / "new")
    old = old_format_checkpoint(written)
    torch.save(old, run.last)
    ckpt = load_checkpoint(resolve_checkpoint(run.root, "last"))
    assert ckpt["code_version"] == "ladle 0.1.0" and ckpt["step"] == first.step == 2 == resume_step(run.root)
    assert "datasets" not in ckpt and checkpoint_presets(ckpt) == ["vorbis-160"]
    assert checkpoint_datasets(ckpt) == [{**written["dataset"], "version": "tiny-v1"}]
    model = model_from_checkpoint(ckpt)
    assert all(torch.equal(v, written["model"][k]) for k, v in model.state_dict().items())
    fresh = init_state(tiny_config()).model.state_dict()
    assert any(not torch.equal(v, fresh[k]) for k, v in model.state_dict().items())  # trained weights, not a fresh init

    # resuming from the old checkpoint ends where resuming from today's does
    resumed_old = train(tiny_data_dir, run.root, tiny_config(max_steps=3))
    resumed_new = train(tiny_data_dir, tmp_path / "new", tiny_config(max_steps=3))
    assert (resumed_old.step, resumed_old.epochs) == (resumed_new.step, resumed_new.epochs) == (3, 1)
    a, b = load_checkpoint(run.last)["model"], load_checkpoint(Path(resumed_new.checkpoint))["model"]
    for name in b:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)


def test_an_evaluation_folder_never_leaves_the_run_folder(tmp_path):
    run = RunDir(tmp_path / "run")
    assert run.eval_folder("paper-32k") == tmp_path / "run" / "eval" / "paper-32k"
    for hostile in ("../../outside", "a/b", "..", "/etc"):  # a preset name read from a checkpoint or a manifest
        with pytest.raises(CheckpointError, match="not a plain folder name"):
            run.eval_folder(hostile)
