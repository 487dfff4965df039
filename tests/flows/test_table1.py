"""The `table1` flow end to end on five short tone tracks: four datasets, four tiny runs, one table."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import tone_pcm, write_pcm
from tests.flows.test_evaluate_ladle import SEEDS, TINY


@pytest.mark.slow
def test_table1_builds_trains_evaluates_and_tabulates(prefect_harness, tmp_path):
    from flows.table1 import APPROACHES, table1

    for seed in SEEDS:
        write_pcm(tmp_path / "library" / f"tone {seed}.flac", tone_pcm(3.0, seed=seed))
    out = tmp_path / "table1"
    result = table1(
        sources=[str(tmp_path / "library")], out=str(out), steps=2, model="drrn1d", overrides=TINY, visqol_excerpts=0
    )

    rows = pd.read_parquet(out / "table1.parquet")
    assert list(rows["approach"]) == [a.label for a in APPROACHES] + ["lossy input (identity)"]
    assert list(rows["strategy"][:4]) == ["pad-edges", "spread-zeros", "spread-zeros", "resample"]
    assert list(rows["steps"][:4]) == [2, 2, 2, 2]
    assert rows["mse"].between(0, 1).all() and rows["perceptual"].notna().all() and rows["lsd"].gt(0).all()
    baseline = rows.iloc[-1]
    # every approach is scored on the same test track against the same lossy input
    for _label, run_dir in result["runs"].items():
        report = pd.read_parquet(f"{run_dir}/eval/paper-32k/tracks.parquet")
        assert report[report["system"] == "lossy input"]["mse"].iloc[0] == pytest.approx(baseline["mse"])
        assert (report["preset"] == "paper-32k").all()
    markdown = (out / "table1.md").read_text()
    assert (
        "| 0.01-s spread-zeros |" in markdown
        and "| lossy input (identity) |" in markdown
        and "perceptual loss" in markdown
    )
