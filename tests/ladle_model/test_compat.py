"""What the code keeps across refactors: a checkpoint written by an earlier release loads, restores the same
samples and resumes. The fixture is a 3-step SpecNeXt run (noise filling, a 4-column gain table) on the tiny
dataset of tests/conftest.py; tests/ladle_model/fixtures/README.md says how it was made."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import torch

from ladle_model.inference.enhance import enhance_track, load_enhancer
from ladle_model.runs.checkpoint import load_checkpoint
from ladle_model.training.config import TrainConfig
from ladle_model.training.loop import train
from tests.conftest import write_tiny_dataset

FIXTURE = Path(__file__).parent / "fixtures" / "specnext_tiny_step3.pt"
# sha256 of the float32 samples the fixture restores from `fixed_input()`, as written by the release that made it.
RESTORED_SHA256 = "2b4bc743f56f3f3fcd0c95ac1f4a5e2b90fd410de147d3d5bffcf2424a1205c5"


def fixed_input() -> np.ndarray:
    """0.75 s of a 440-Hz tone in noise at 8 kHz, the right channel 5 samples late: (2, 6000) float32."""
    rng = np.random.default_rng(7)
    t = np.arange(6000) / 8000
    mono = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    return np.stack([mono, np.roll(mono, 5)])


def test_an_earlier_releases_checkpoint_restores_the_same_samples():
    enhancer = load_enhancer(FIXTURE, device="cpu")
    audio = fixed_input()
    restored = enhance_track(enhancer.model, audio, enhancer.spec)
    assert restored.shape == (2, 6000)
    assert float(np.abs(restored - audio).max()) > 1e-3  # the model changes its input: the pin means something
    digest = hashlib.sha256(np.ascontiguousarray(restored, dtype=np.float32).tobytes()).hexdigest()
    assert digest == RESTORED_SHA256


def test_an_earlier_releases_checkpoint_resumes(tmp_path):
    write_tiny_dataset(tmp_path / "data")
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(FIXTURE, run / "checkpoints" / "last.pt")
    saved = load_checkpoint(FIXTURE)
    cfg = TrainConfig.from_dict({**saved["config"]["train"], "max_steps": 4})
    result = train(tmp_path / "data", run, cfg)
    assert (result.start_step, result.step) == (3, 4)
    resumed = load_checkpoint(run / "checkpoints" / "last.pt")
    moved = [k for k, v in resumed["model"].items() if not torch.equal(v, saved["model"][k])]
    assert moved  # one more optimizer step changed the weights it started from
