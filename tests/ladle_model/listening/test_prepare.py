"""Rendering a trial: the written stimuli are loudness-matched, blind, and faithful to the audio they came from."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from ladle_model.listening.app import listener_view
from ladle_model.listening.layout import ListeningFiles
from ladle_model.listening.loudness import integrated_loudness
from ladle_model.listening.prepare import condition_names, write_stimulus
from tests.ladle_model.listening.conftest import RATE, make_test, tiny_audio


def test_written_stimuli_are_within_half_an_lu_and_keep_their_waveform(prepared):
    run, test = prepared
    root = ListeningFiles.of(run).root
    source = tiny_audio(seed=0)
    trial = test.trial("e01")
    loudness = {}
    for condition, stimulus in trial.stimuli.items():
        audio, rate = sf.read(root / stimulus.file, always_2d=True, dtype="float32")
        assert rate == RATE and audio.shape == (RATE, 2)
        loudness[condition] = integrated_loudness(audio.T, RATE)
        # away from the fades, the file is the source times its gain, to 16-bit precision
        expected = source[condition][:, 400:-400] * 10 ** (stimulus.gain_db / 20)
        np.testing.assert_allclose(audio.T[:, 400:-400], expected, atol=3 / 32768)
    assert max(loudness.values()) - min(loudness.values()) < 0.5
    assert (
        trial.stimuli["lossy"].loudness_lufs < trial.stimuli["reference"].loudness_lufs
    )  # it was quieter before matching
    # the labelled reference plays the hidden reference's file, under another id
    assert trial.labelled["reference"].file == trial.stimuli["reference"].file
    assert trial.labelled["reference"].id != trial.stimuli["reference"].id


def test_the_mushra_scale_labels_only_the_reference(tmp_path):
    test = make_test(tmp_path / "run", scale="mushra")
    view = listener_view(test, "alice", [])
    assert view["scale"] == {
        "name": "mushra",
        "min": 0.0,
        "max": 100.0,
        "step": 1.0,
        "default": 50.0,
        "low": "bad",
        "high": "excellent",
    }
    assert [x["name"] for x in view["trials"][0]["labelled"]] == ["Reference"]
    assert len(view["trials"][0]["stimuli"]) == 3  # the hidden reference, the lossy anchor, the model


def test_condition_names_are_the_run_folders_made_unique(tmp_path):
    assert condition_names([tmp_path / "runs" / "drrn 1d", tmp_path / "other" / "drrn 1d", tmp_path / "reference"]) == [
        "drrn-1d",
        "drrn-1d-2",
        "reference-2",
    ]


def test_write_stimulus_dithers_to_16_bits(tmp_path):
    x = (0.25 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)).astype(np.float32)[None].repeat(2, axis=0)
    path = write_stimulus(tmp_path / "x.wav", x, RATE, seed=1)
    back, rate = sf.read(path, dtype="float32", always_2d=True)
    assert sf.info(str(path)).subtype == "PCM_16" and rate == RATE
    error = back.T - x
    assert np.abs(error).max() <= 2 / 32767 + 1e-6 and abs(error.mean()) < 1e-5  # TPDF: within 2 LSB, no bias
    assert write_stimulus(tmp_path / "y.wav", x, RATE, seed=1).read_bytes() == path.read_bytes()  # reproducible
    assert write_stimulus(tmp_path / "z.wav", x, RATE, seed=2).read_bytes() != path.read_bytes()  # the dither is seeded
