"""The fill-gain calibration: it picks the gain ViSQOL prefers and writes it into best.pt."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ladle_model.calibrate import Calibration, calibrate_fill_gain, calibrate_run, pick_segments
from ladle_model.checkpoint import CHECKPOINT_FORMAT, RunDir, load_checkpoint, model_from_checkpoint, save_checkpoint_file
from ladle_model.models import build_model, model_config_dict
from ladle_model.visqol import visqol_available

RATE = 44100
needs_visqol = pytest.mark.skipif(not visqol_available(), reason="visqol-python is not installed")


def band_limited_music(seed: int, seconds: float = 1.2) -> torch.Tensor:
    """(2, n) harmonics below 4 kHz: a lossless original with nothing in its top band."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    x = sum(0.2 / k * np.sin(2 * np.pi * 220.0 * k * t + rng.uniform(0, 6, size=(2, 1))) for k in range(1, 17))
    return torch.from_numpy(x.astype(np.float32))


def loud_filler():
    """A SpecNeXt whose additive head adds a loud constant fill to every bin above ~11 kHz: a fill the original lacks."""
    model = build_model("specnext", dim=16, n_blocks=1)
    with torch.no_grad():
        n_bins = model.n_bins
        model.head.bias[2 * n_bins + n_bins // 2: 3 * n_bins] = 0.05  # add_re of the top half of the bins
    return model


@needs_visqol
def test_the_gain_with_the_best_visqol_is_chosen_and_the_model_is_left_as_it_was():
    model = loud_filler()
    segments = [(band_limited_music(s), band_limited_music(s)) for s in (0, 1)]  # the input is already perfect
    result = calibrate_fill_gain(model, segments, RATE, gains=(0.0, 0.5, 1.0))
    assert result.skipped == "" and result.segments == 2
    assert result.gain == 0.0  # any fill only moves it away from the original
    assert result.scores["0"] == pytest.approx(result.scores["input"], abs=1e-3)
    assert result.scores["0"] > result.scores["0.5"] > result.scores["1"]
    assert model.config.fill_gain == 1.0


def test_segments_shorter_than_visqol_allows_are_skipped_with_a_reason():
    short = band_limited_music(0, seconds=0.5)
    result = calibrate_fill_gain(loud_filler(), [(short, short)], RATE)
    assert result.gain == 1.0 and "0.96 s" in result.skipped


def test_pick_segments_spreads_over_every_batch():
    batches = [(torch.full((4, 2, 8), float(i)), torch.full((4, 2, 8), float(i))) for i in range(6)]  # 24 segments
    picked = pick_segments(batches, n_total=24, n_pick=6)
    assert [float(y[0, 0]) for y, _ in picked] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def write_run(tmp_path, name: str, **model_overrides) -> RunDir:
    model = build_model(name, **model_overrides)
    run = RunDir(tmp_path / name)
    run.checkpoints.mkdir(parents=True)
    ckpt = {"format": CHECKPOINT_FORMAT, "model": model.state_dict(), "model_name": name,
            "config": {"model": model_config_dict(name, **model_overrides), "train": {}}}
    save_checkpoint_file(ckpt, run.best)
    return run


@needs_visqol
def test_calibrate_run_writes_the_gain_into_best_pt(tmp_path):
    run = write_run(tmp_path, "specnext", dim=16, n_blocks=1)
    segments = [(band_limited_music(s), band_limited_music(s)) for s in (0, 1)]
    result = calibrate_run(run, segments, RATE, "test excerpts")
    assert isinstance(result, Calibration) and result.segments == 2 and result.source == "test excerpts"
    ckpt = load_checkpoint(run.best)
    assert ckpt["config"]["model"]["fill_gain"] == result.gain
    assert ckpt["calibration"]["scores"] == result.scores
    assert model_from_checkpoint(ckpt).config.fill_gain == result.gain
    # a re-run that trained no further finds the record and scores nothing again
    before = run.best.read_bytes()
    assert calibrate_run(run, [], RATE, "not used") == result
    assert run.best.read_bytes() == before


def test_a_model_without_a_fill_gain_is_left_alone(tmp_path):
    run = write_run(tmp_path, "drrn1d")
    before = run.best.read_bytes()
    assert calibrate_run(run, [], RATE) is None
    assert run.best.read_bytes() == before


def test_fill_gain_zero_keeps_only_the_mask_term():
    model = loud_filler()
    x = band_limited_music(0, seconds=0.3)[None]
    model.config.fill_gain = 0.0
    with torch.no_grad():
        assert torch.allclose(model(x), x, atol=1e-6)  # the mask head is zero: the input comes back
        model.config.fill_gain = 1.0
        assert (model(x) - x).abs().max() > 1e-4
