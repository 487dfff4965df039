"""A prepared listening test made from tiny synthetic audio (no model, no corpus): what the server and the results read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ladle_model.listening.layout import LOSSY, REFERENCE, ListeningFiles, ListeningTest, Trial, write_test
from ladle_model.listening.prepare import render_trial

RATE = 8000


def tiny_audio(seconds: float = 1.0, seed: int = 0, rate: int = RATE) -> dict[str, np.ndarray]:
    """(2, T) conditions of one trial: the reference, a duller "lossy" copy, a "model" between the two."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    ref = np.stack([0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t)) for _ in range(2)]).astype(
        np.float32
    )
    lossy = (0.5 * ref + 0.5 * np.roll(ref, 1, axis=1)).astype(np.float32)  # a gentle low-pass, and quieter overall
    model = (0.5 * (ref + lossy)).astype(np.float32)
    return {REFERENCE: ref, LOSSY: lossy, "model": model}


def make_test(run_dir: Path, scale: str = "ladle", n_trials: int = 2, seed: str = "seed-1") -> ListeningTest:
    files = ListeningFiles.of(run_dir)
    labelled = [REFERENCE, LOSSY] if scale == "ladle" else [REFERENCE]
    trials = []
    for i in range(n_trials):
        excerpt = f"e{i + 1:02d}"
        hidden, shown = render_trial(files, seed, excerpt, tiny_audio(seed=i), RATE, labelled)
        metrics = {
            LOSSY: {"lsd": 1.0 + i, "snr_db": 10.0, "visqol": None},
            "model": {"lsd": 0.5 + i, "snr_db": 12.0, "visqol": None},
        }
        trials.append(Trial(excerpt, "paper-32k", f"track{i}", f"Tone {i}", 0.0, 1.0, hidden, shown, metrics))
    test = ListeningTest(
        key="k" * 32,
        scale=scale,
        sample_rate=RATE,
        seed=seed,
        run_dir=str(run_dir),
        runs={"model": str(run_dir)},
        conditions=[REFERENCE, LOSSY, "model"],
        trials=trials,
    )
    write_test(files, test)
    return test


@pytest.fixture
def prepared(tmp_path) -> tuple[Path, ListeningTest]:
    run = tmp_path / "run"
    run.mkdir()
    return run, make_test(run)
