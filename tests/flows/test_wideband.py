"""One model for every bitrate: `--preset wideband` trains on each of its presets, and the model leaves
near-transparent input as it found it.

The tiny real pipeline: five tone tracks encoded with every wideband preset, the default recipe (SpecNeXt)
at a tiny size trained briefly on all fifteen datasets and calibrated as `ladle train` does, then evaluated
on the held-out track's MP3 at 320 kbps and at 32 kbps.
"""

from __future__ import annotations

import pytest

from ladle_model.evaluation.evaluate import EvalConfig, evaluate_run, run_presets
from ladle_model.runs.checkpoint import load_checkpoint
from ladle_model.runs.folder import RunDir
from storage.config import PRESET_GROUPS, expand_presets
from tests.conftest import tone_pcm, write_pcm

# tone tracks whose audio hashes them to: train (0, 1, 2), test (3), val (9)
SEEDS = (0, 1, 2, 3, 9)
TINY = {
    "model_overrides": {"dim": 16, "n_blocks": 1, "noise_fill": True},
    "num_workers": 0,
    "warmup_steps": 0,
    "ema_decay": None,  # the raw weights: a moving average of 40 steps would still be the untrained model
    "batch_size": 4,
}


@pytest.fixture(scope="module")
def wideband(prefect_harness, tmp_path_factory):
    from flows.build_corpus import build_corpus
    from flows.train_ladle import train_ladle

    root = tmp_path_factory.mktemp("wideband")
    for seed in SEEDS:
        write_pcm(root / "library" / f"tone {seed}.flac", tone_pcm(3.0, seed=seed))
    data, run = root / "data", root / "run"
    presets = list(expand_presets(["wideband"]))  # as `ladle build-corpus --preset wideband` passes them
    build_corpus(sources=[str(root / "library")], data=str(data), presets=presets, segment_seconds=0.25)
    # a 3-minute budget bounds the whole flow: the calibration over fifteen presets stops at its deadline
    overrides = {**TINY, "max_steps": 40, "max_minutes": 3}
    train_ladle(data=str(data), run_dir=str(run), preset="wideband", overrides=overrides)
    return data, run


@pytest.mark.slow
def test_wideband_trains_one_model_on_every_member_preset(wideband):
    data, run = wideband
    assert sorted(run_presets(run)) == sorted(PRESET_GROUPS["wideband"])
    ckpt = load_checkpoint(RunDir(run).best)
    assert ckpt["step"] == 40 and len(ckpt["datasets"]) == len(PRESET_GROUPS["wideband"])


@pytest.mark.slow
def test_a_model_trained_on_a_wideband_mix_leaves_320_kbps_input_unchanged(wideband):
    data, run = wideband
    cfg = EvalConfig(visqol_excerpts=1, n_spectrograms=0)
    transparent = evaluate_run(run, data, "mp3-320", cfg)
    assert transparent["n_tracks"] == 1 and transparent["split"] == "test"
    verdicts = {s["metric"]: s["verdict"] for s in transparent["summary"]}
    assert "worse than the input" not in verdicts.values(), verdicts  # each metric within its noise, or better

    # and the model is not an identity: it changes a 32-kbps input beyond the noise
    low = evaluate_run(run, data, "mp3-32", cfg)
    assert any(s["verdict"] != "same as the input" for s in low["summary"] if s["verdict"] != "n/a")
