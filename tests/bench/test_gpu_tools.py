"""bench.gpu_quality's and bench.gpu_kit's pure parts: the runs' config, the checkpoint that comes back, the library paths."""

from __future__ import annotations

import pytest
import torch

from bench.gpu_kit import _relative_to_library
from bench.gpu_quality import DROPPED_KEYS, run_config, strip_checkpoint
from ladle_model.models.build import build_model
from ladle_model.runs.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, model_from_checkpoint
from ladle_model.runs.folder import save_checkpoint_file
from ladle_model.training.recipes import DEFAULT_RECIPE, RECIPES


def test_runs_train_the_default_recipe_by_the_clock_alone_and_calibrate_later():
    cfg = run_config({"model_overrides": {"dim": 32}}, minutes=5.5, batch_size=16, device="cpu")
    assert cfg.model == RECIPES[DEFAULT_RECIPE]["model"] and cfg.lr == RECIPES[DEFAULT_RECIPE]["lr"]
    assert cfg.ema_decay == RECIPES[DEFAULT_RECIPE]["ema_decay"]
    assert (cfg.max_minutes, cfg.batch_size, cfg.calibrate) == (5.5, 16, False)
    assert cfg.model_overrides == {
        **RECIPES[DEFAULT_RECIPE]["model_overrides"],
        "dim": 32,
    }  # the recipe's, and the run's on top
    assert cfg.max_epochs >= 10**6  # the budget, not an epoch count, ends a run
    assert run_config({"batch_size": 4}, 5.5, 16, "cpu").batch_size == 4  # a run's overrides win


def test_the_checkpoint_brought_back_serves_the_average_and_drops_the_optimizer(tmp_path):
    torch.manual_seed(0)
    config = {"dim": 16, "n_blocks": 1}
    model, average = build_model("specnext", **config), build_model("specnext", **config)
    torch.nn.init.normal_(average.head.weight, std=0.1)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(1, 2, 2048)).pow(2).mean().backward()
    optimizer.step()
    full = {
        "format": CHECKPOINT_FORMAT,
        "model": model.state_dict(),
        "ema": average.state_dict(),
        "ema_updates": 7,
        "optimizer": optimizer.state_dict(),
        "scheduler": {},
        "rng": [],
        "model_name": "specnext",
        "step": 3,
        "config": {"model": config, "train": {}},
        "dataset_version": "v1",
        "dataset": {"preset": "mp3-64"},
    }
    save_checkpoint_file(full, tmp_path / "best.pt")
    strip_checkpoint(tmp_path / "best.pt", tmp_path / "back" / "best.pt")
    back = load_checkpoint(tmp_path / "back" / "best.pt")
    assert not set(DROPPED_KEYS) & set(back) and back["step"] == 3 and back["dataset"] == {"preset": "mp3-64"}
    served = model_from_checkpoint(back).state_dict()
    assert all(torch.equal(served[k], v) for k, v in average.state_dict().items())  # the average, not the raw weights
    assert (tmp_path / "back" / "best.pt").stat().st_size < (tmp_path / "best.pt").stat().st_size


def test_a_track_file_is_found_in_the_library_by_its_last_parts():
    pieces = {"TimGM6mb/bach/bwv269.flac": {}, "TimGM6mb/schubert/Lindenbaum.flac": {}}
    assert _relative_to_library("/tmp/q/train-library/TimGM6mb/bach/bwv269.flac", pieces) == "TimGM6mb/bach/bwv269.flac"
    with pytest.raises(ValueError, match="not a file of the library"):
        _relative_to_library("/elsewhere/TimGM6mb/bach/other.flac", pieces)
