"""Recipes: the paper's stays TrainConfig's defaults; the default recipe trains through the real loop."""

from __future__ import annotations

import pytest
import torch

from ladle_model.data.loader import make_loader
from ladle_model.training.config import TrainConfig
from ladle_model.training.loop import train, train_step
from ladle_model.training.recipes import DEFAULT_RECIPE, RECIPES, recipe_config
from ladle_model.training.state import init_state
from storage.manifest import find_dataset

SMALL_SPECNEXT = {"n_fft": 256, "hop": 64, "dim": 16, "n_blocks": 1}  # 8-kHz tiny data: a small model


def test_paper_recipe_is_the_train_config_defaults():
    assert TrainConfig.from_dict(recipe_config("paper")) == TrainConfig()
    assert TrainConfig().spectral.active is False  # the paper's loss, unchanged


def test_recipe_overrides_merge_nested_dicts_and_unknown_names_fail():
    merged = recipe_config(DEFAULT_RECIPE, {"spectral": {"lambda_wave": 2.0}, "lr": 5e-4})
    assert merged["spectral"] == {**RECIPES[DEFAULT_RECIPE]["spectral"], "lambda_wave": 2.0}
    assert merged["lr"] == 5e-4 and RECIPES[DEFAULT_RECIPE]["lr"] == 1e-3  # the table itself is untouched
    with pytest.raises(ValueError, match="unknown recipe 'wavenet'"):
        recipe_config("wavenet")


def test_the_recipes_model_options_follow_its_model_only():
    assert recipe_config(DEFAULT_RECIPE)["model_overrides"] == {"noise_fill": True}
    assert recipe_config(DEFAULT_RECIPE, {"model_overrides": {"dim": 64}})["model_overrides"] == {
        "noise_fill": True,
        "dim": 64,
    }
    other = recipe_config(
        DEFAULT_RECIPE, {"model": "drrn1d"}
    )  # `ladle train --model drrn1d`: specnext's options left out
    assert "model_overrides" not in other and other["spectral"] == RECIPES[DEFAULT_RECIPE]["spectral"]
    TrainConfig.from_dict(other)  # builds: no specnext option reaches drrn1d


def default_recipe_config(**overrides) -> TrainConfig:
    d = recipe_config(
        DEFAULT_RECIPE, {"model_overrides": SMALL_SPECNEXT, "num_workers": 0, "shuffle_buffer": 8, **overrides}
    )
    return TrainConfig.from_dict(d)


def test_default_recipe_steps_lower_its_loss_on_one_batch(tiny_data_dir):
    lossless, lossy = next(iter(make_loader(find_dataset(tiny_data_dir).shard_paths("train"), 4, True, seed=0)))
    # the same coded batch every step (clean-input swaps would change it from step to step; tests/ladle_model/test_augment.py)
    cfg = default_recipe_config(lr=3e-3, clean_input_fraction=0.0)
    assert cfg.model == "specnext" and cfg.spectral.active and cfg.loss.lambda_perc == 0
    state = init_state(cfg)
    history = [train_step(state, state.model, lossless, lossy, None, cfg)[0] for _ in range(30)]
    assert history[0]["loss/wave"].item() == pytest.approx(1.0, abs=1e-4)  # untrained: the input itself
    assert history[-1]["loss/total"].item() < 0.9 * history[0]["loss/total"].item()


def test_default_recipe_runs_the_real_training_entry_point(tiny_data_dir, tmp_path):
    result = train(tiny_data_dir, tmp_path / "run", default_recipe_config(max_steps=2))
    assert result.step == 2
    ckpt = torch.load(result.checkpoint, weights_only=True)
    assert ckpt["model_name"] == "specnext"
    assert ckpt["config"]["train"]["spectral"]["lambda_wave"] == RECIPES[DEFAULT_RECIPE]["spectral"]["lambda_wave"]
    rows = (tmp_path / "run" / "log_epochs.csv").read_text()
    assert "val/loss/logmag" in rows and "val/loss/wave" in rows


def test_the_default_recipe_shows_some_segments_their_lossless_original(tiny_data_dir):
    from ladle_model.data.augment import clean_input_mask

    lossless, lossy = next(iter(make_loader(find_dataset(tiny_data_dir).shard_paths("train"), 4, True, seed=0)))
    assert RECIPES[DEFAULT_RECIPE]["clean_input_fraction"] == 0.2
    first = {}
    for fraction in (0.0, 0.5):
        cfg = default_recipe_config(clean_input_fraction=fraction)
        state = init_state(cfg)  # untrained: returns its input, so a swapped segment costs nothing
        first[fraction] = train_step(state, state.model, lossless, lossy, None, cfg)[0]["loss/logmag"].item()
    picked = clean_input_mask(4, 0.5, cfg.seed, 0)
    assert 0 < int(picked.sum()) < 4
    assert first[0.5] == pytest.approx(first[0.0] * (4 - int(picked.sum())) / 4, rel=0.35)  # about their share less
    assert first[0.5] < first[0.0]
