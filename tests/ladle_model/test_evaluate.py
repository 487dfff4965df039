"""Evaluation without Prefect: the metric registry reaches the scores, the summary, the report and Table I."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch.nn as nn

from ladle_model import metrics as M
from ladle_model.enhance import Enhancer
from ladle_model.evaluate import BASELINE, MODEL, EvalConfig, evaluate_run
from ladle_model.reports.table1 import table1_markdown, table1_rows
from ladle_model.verdict import summarise, verdict
from ladle_model.windows import make_spec
from storage import catalog
from storage import ffmpeg as ff
from storage.align import Alignment
from storage.config import get_preset
from storage.encode import Encoded
from storage.ingest import Track, ingest_file
from tests.conftest import tone_pcm, write_pcm


def peak_error(reference, estimate, ctx: M.ScoreContext) -> float:
    return float(np.max(np.abs(np.asarray(reference) - np.asarray(estimate))))


@pytest.fixture
def extra_metric():
    """A metric registered for one test only, as a contributor would add one."""
    metric = M.register_metric(M.Metric("peak_error", "peak error", "lower", peak_error,
                                        "Peak error: the largest absolute sample difference ({visqol_excerpts} is a config field)."))
    yield metric
    M.unregister_metric("peak_error")


def test_the_registry_is_looked_up_by_key_and_guards_its_rows():
    assert list(M.METRICS)[:2] == ["mse", "perceptual"] and M.get_metric("snr_db").better == "higher"
    assert M.get_metric("lsd").label == "LSD" and not M.get_metric("snr_db").in_table1
    with pytest.raises(KeyError, match="unknown metric 'nope'; known: mse, perceptual"):
        M.get_metric("nope")
    with pytest.raises(ValueError, match="already registered"):
        M.register_metric(M.get_metric("mse"))
    with pytest.raises(ValueError, match="better must be"):
        M.Metric("x", "x", "bigger", peak_error, "")


def test_score_all_loops_over_the_registry():
    rng = np.random.default_rng(0)
    ref = 0.1 * rng.standard_normal((2, 8000))
    est = ref + 0.01 * rng.standard_normal((2, 8000))
    values = M.score_all(ref, est, M.ScoreContext(sample_rate=8000, visqol_excerpts=0))
    assert list(values) == list(M.METRICS)
    assert values["mse"] == pytest.approx(M.mse(ref, est)) and values["snr_db"] == pytest.approx(M.snr_db(ref, est))
    assert np.isnan(values["perceptual"]) and np.isnan(values["visqol"]) and np.isnan(values["lsd_hf"])  # no phi, skipped, no cutoff


def test_verdict_follows_each_metrics_direction():
    assert verdict("mse", 2.0, 1.0) == "better than the input" and verdict("snr_db", 2.0, 1.0) == "worse than the input"
    assert verdict("lsd", 1.0, 1.0) == "same as the input" and verdict("visqol", float("nan"), 3.0) == "n/a"


@pytest.fixture
def eval_data(tmp_path):
    """A data folder with one test track of 1.5 s, its vorbis-160 encode and a passing alignment."""
    data = tmp_path / "data"
    source = write_pcm(tmp_path / "library" / "a.flac", tone_pcm(1.5, seed=1))
    track = dataclasses.replace(ingest_file(source), split="test", title="tone a")
    preset = get_preset("vorbis-160")
    encode = data / "encodes" / preset.name / f"{track.track_id}.ogg"
    encode.parent.mkdir(parents=True)
    ff.encode_file(source, encode, preset)
    catalog.write_records(data, "tracks", [track], Track)
    catalog.write_records(data, "encodes", [Encoded(track.track_id, preset.name, str(encode), encode.stat().st_size, 160.0, 44100, "e")],
                          Encoded)
    catalog.write_records(data, "pairs", [Alignment(track.track_id, preset.name, 0, track.n_frames, 0.99, 20.0, True, "a")], Alignment)
    return data


def test_a_registered_metric_is_scored_summarised_reported_and_tabulated(extra_metric, eval_data, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "best.pt").write_bytes(b"weights")  # hashed into the cache key only: the enhancer is given
    dataset = {"preset": "vorbis-160", "strategy": "resample", "segment_seconds": 0.25, "sample_rate": 44100}
    identity = Enhancer(nn.Identity(), make_spec(44100, 0.25), "best.pt", "identity", 7, "v1", dataset)
    report = evaluate_run(run, eval_data, None, EvalConfig(visqol_excerpts=0, n_spectrograms=0), enhancer=identity)

    assert report["preset"] == "vorbis-160" and report["n_tracks"] == 1 and not report["reused"]
    rows = {r["system"]: r for r in report["rows"]}
    assert rows[BASELINE]["peak_error"] > 1e-3  # the codec's damage, as the new metric sees it
    assert rows[MODEL]["peak_error"] == pytest.approx(rows[BASELINE]["peak_error"], abs=1e-5)  # identity model
    (summary,) = [s for s in report["summary"] if s["metric"] == "peak_error"]
    assert summary["name"] == "peak error" and summary["better_when"] == "lower"
    assert summary["lossy_input"] == pytest.approx(rows[BASELINE]["peak_error"])

    folder = run / "eval" / "vorbis-160"
    markdown = (folder / "report.md").read_text()
    assert "| peak error | lower |" in markdown  # the mean table
    assert "| LSD above cutoff | peak error | MSE verdict |" in markdown  # the per-track table, after the built-in metrics
    assert "- Peak error: the largest absolute sample difference (0 is a config field)." in markdown  # the methods text
    assert "peak_error" in pd.read_parquet(folder / "tracks.parquet").columns
    assert any(s["metric"] == "peak_error" for s in json.loads((folder / "eval.json").read_text())["summary"])

    table = table1_rows([("identity", report)])
    assert [r["peak_error"] for r in table] == pytest.approx([summary["model"], summary["lossy_input"]])
    assert "snr_db" not in table[0]  # not a Table I column
    text = table1_markdown(table, {"preset": "vorbis-160"})
    assert "| approach | MSE | perceptual loss | SI-SDR (dB) | LSD | LSD above cutoff | ViSQOL MOS-LQO | peak error |" in text
    assert "lower is better for MSE, perceptual loss, LSD, LSD above cutoff and peak error" in text


def test_summary_of_rows_without_a_metric_is_nan_for_it(extra_metric):
    rows = [{"system": BASELINE, "mse": 1.0}, {"system": MODEL, "mse": 0.5}]
    by_key = {s["metric"]: s for s in summarise(rows)}
    assert by_key["mse"]["verdict"] == "better than the input" and by_key["mse"]["relative"] == pytest.approx(-0.5)
    assert by_key["peak_error"]["verdict"] == "n/a"
