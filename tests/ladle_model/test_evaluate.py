"""Evaluation without Prefect: the metric registry reaches the scores, the summary, the report and Table I."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from ladle_model.evaluation import metrics as M
from ladle_model.evaluation.evaluate import BASELINE, MODEL, EvalConfig, EvaluationError, evaluate_run
from ladle_model.evaluation.verdict import headline, summarise, verdict
from ladle_model.inference.enhance import Enhancer
from ladle_model.inference.windows import make_spec
from ladle_model.models.restorer import PassThrough
from ladle_model.reports.table1 import table1_markdown, table1_rows
from storage import catalog
from storage import ffmpeg as ff
from storage.align import Alignment
from storage.config import get_preset
from storage.encode import Encoded
from storage.ingest import Track, ingest_file
from storage.manifest import DatasetManifest, write_manifest
from tests.conftest import tone_pcm, write_pcm


def peak_error(reference, estimate, ctx: M.ScoreContext) -> float:
    return float(np.max(np.abs(np.asarray(reference) - np.asarray(estimate))))


@pytest.fixture
def extra_metric():
    """A metric registered for one test only, as a contributor would add one."""
    metric = M.register_metric(
        M.Metric(
            "peak_error",
            "peak error",
            "lower",
            peak_error,
            "Peak error: the largest absolute sample difference ({visqol_excerpts} is a config field).",
        )
    )
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
    values, reasons = M.score_all(ref, est, M.ScoreContext(sample_rate=8000, visqol_excerpts=0))
    assert list(values) == list(M.METRICS) and reasons == {}
    assert values["mse"] == pytest.approx(M.mse(ref, est)) and values["snr_db"] == pytest.approx(M.snr_db(ref, est))
    assert (
        np.isnan(values["perceptual"]) and np.isnan(values["visqol"]) and np.isnan(values["lsd_hf"])
    )  # no phi, skipped, no cutoff


def test_verdict_follows_each_metrics_direction():
    assert verdict("mse", 2.0, 1.0) == "better than the input" and verdict("snr_db", 2.0, 1.0) == "worse than the input"
    assert verdict("lsd", 1.0, 1.0) == "same as the input" and verdict("visqol", float("nan"), 3.0) == "n/a"


def write_data(data, library, tracks: list[tuple[str, float, str]], preset: str = "vorbis-160") -> list[Track]:
    """A data folder whose catalog holds `tracks` (name, seconds, split), each with its encode and a passing alignment."""
    rows, encodes, pairs = [], [], []
    for i, (name, seconds, split) in enumerate(tracks):
        source = write_pcm(library / f"{name}.flac", tone_pcm(seconds, seed=30 + i))
        track = dataclasses.replace(ingest_file(source), split=split, title=name)
        encode = data / "encodes" / preset / f"{track.track_id}.ogg"
        encode.parent.mkdir(parents=True, exist_ok=True)
        ff.encode_file(source, encode, get_preset(preset))
        rows.append(track)
        encodes.append(Encoded(track.track_id, preset, str(encode), encode.stat().st_size, 160.0, 44100, f"e{i}"))
        pairs.append(Alignment(track.track_id, preset, 0, track.n_frames, 0.99, 20.0, True, f"a{i}"))
    catalog.write_records(data, "tracks", rows, Track)
    catalog.write_records(data, "encodes", encodes, Encoded)
    catalog.write_records(data, "pairs", pairs, Alignment)
    return rows


@pytest.fixture
def eval_data(tmp_path):
    """A data folder with one test track of 1.5 s, its vorbis-160 encode and a passing alignment."""
    data = tmp_path / "data"
    write_data(data, tmp_path / "library", [("tone a", 1.5, "test")])
    return data


DATASET = {"preset": "vorbis-160", "strategy": "resample", "segment_seconds": 0.25, "sample_rate": 44100}


def identity_run(run) -> Enhancer:
    """A run folder with a stand-in best.pt (hashed into the cache key only) and an identity model in its place."""
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run / "checkpoints" / "best.pt").write_bytes(b"weights")
    return Enhancer(PassThrough(), make_spec(44100, 0.25), "best.pt", "identity", 7, "v1", dict(DATASET))


def test_a_registered_metric_is_scored_summarised_reported_and_tabulated(extra_metric, eval_data, tmp_path):
    run = tmp_path / "run"
    report = evaluate_run(
        run, eval_data, None, EvalConfig(visqol_excerpts=0, n_spectrograms=0), enhancer=identity_run(run)
    )

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
    assert (
        "| LSD above cutoff | peak error | MSE verdict |" in markdown
    )  # the per-track table, after the built-in metrics
    assert "- Peak error: the largest absolute sample difference (0 is a config field)." in markdown  # the methods text
    assert "peak_error" in pd.read_parquet(folder / "tracks.parquet").columns
    assert any(s["metric"] == "peak_error" for s in json.loads((folder / "eval.json").read_text())["summary"])

    table = table1_rows([("identity", report)])
    assert [r["peak_error"] for r in table] == pytest.approx([summary["model"], summary["lossy_input"]])
    assert "snr_db" not in table[0]  # not a Table I column
    text = table1_markdown(table, {"preset": "vorbis-160"})
    assert (
        "| approach | MSE | perceptual loss | SI-SDR (dB) | LSD | LSD above cutoff | ViSQOL MOS-LQO | peak error |"
        in text
    )
    assert "lower is better for MSE, perceptual loss, LSD, LSD above cutoff and peak error" in text


def test_summary_of_rows_without_a_metric_is_nan_for_it(extra_metric):
    rows = [{"system": BASELINE, "mse": 1.0}, {"system": MODEL, "mse": 0.5}]
    by_key = {s["metric"]: s for s in summarise(rows)}
    assert by_key["mse"]["verdict"] == "better than the input" and by_key["mse"]["relative"] == pytest.approx(-0.5)
    assert by_key["peak_error"]["verdict"] == "n/a"


# ----------------------------------------------------------------------------- issue 15: short tracks, ties, failures, any library


def test_verdicts_call_a_difference_within_the_noise_a_tie():
    assert verdict("visqol", 4.633, 4.6333) == "same as the input"  # the demo's 3e-4 ViSQOL "loss"
    assert verdict("visqol", 4.633, 4.62) == "worse than the input"
    assert (
        verdict("snr_db", 20.0, 20.005) == "same as the input"
        and verdict("snr_db", 20.0, 20.02) == "better than the input"
    )
    assert verdict("mse", 1e-4, 1.004e-4) == "same as the input"  # 0.4 % < 0.5 %
    assert verdict("mse", 1e-4, 1.006e-4) == "worse than the input"
    assert verdict("lsd", 1.0, 0.994) == "better than the input" and verdict("lsd", 1.0, 0.996) == "same as the input"
    summary = summarise([{"system": BASELINE, "mse": 1e-4}, {"system": MODEL, "mse": 1.001e-4}])
    assert "the same as its lossy input on MSE" in headline(summary)


def test_short_tracks_get_na_with_the_reason_and_the_rest_is_scored(tmp_path):
    data, run = tmp_path / "data", tmp_path / "run"
    write_data(
        data,
        tmp_path / "library",
        [("a 0.1 s", 0.1, "test"), ("b 0.9 s", 0.9, "test"), ("c 2 s", 2.0, "test"), ("d 6 s", 6.0, "test")],
    )
    report = evaluate_run(run, data, None, EvalConfig(visqol_excerpts=1, n_spectrograms=4), enhancer=identity_run(run))
    assert report["n_tracks"] == 4 and report["failed"] == []
    rows = {(r["title"], r["system"]): r for r in report["rows"]}
    for title in ("a 0.1 s", "b 0.9 s", "c 2 s", "d 6 s"):
        for system in (BASELINE, MODEL):
            row = rows[(title, system)]
            assert all(np.isfinite(row[k]) for k in ("mse", "snr_db", "si_sdr_db", "lsd")), title
            if title in ("a 0.1 s", "b 0.9 s"):
                assert row["visqol"] is None and "shorter than the 0.96 s ViSQOL MOS-LQO needs" in row["notes"]
            elif M.visqol_available():
                assert 1.0 <= row["visqol"] <= 4.8 and row["notes"] == ""
    # an identity model is within every metric's noise of its input: no verdict claims a change
    assert {s["verdict"] for s in report["summary"]} <= {"same as the input", "n/a"}
    markdown = (run / "eval" / "vorbis-160" / "report.md").read_text()
    assert "| notes |" in markdown and "0.90-s track is shorter than the 0.96 s ViSQOL MOS-LQO needs" in markdown
    assert len(list((run / "eval" / "vorbis-160" / "spectrograms").glob("*.png"))) == 4


def test_a_track_that_fails_is_reported_and_only_all_failing_fails(tmp_path):
    data, run = tmp_path / "data", tmp_path / "run"
    tracks = write_data(data, tmp_path / "library", [("fine", 1.0, "test"), ("gone", 1.0, "test")])
    (tmp_path / "library" / "gone.flac").unlink()  # its lossless source is no longer there
    cfg = EvalConfig(visqol_excerpts=0, n_spectrograms=0)
    report = evaluate_run(run, data, None, cfg, enhancer=identity_run(run))
    assert report["n_tracks"] == 1 and {r["title"] for r in report["rows"]} == {"fine"}
    (failed,) = report["failed"]
    assert failed["title"] == "gone" and "gone.flac" in failed["reason"]
    markdown = (run / "eval" / "vorbis-160" / "report.md").read_text()
    assert "## Tracks that could not be evaluated" in markdown and "| gone |" in markdown
    assert not evaluate_run(run, data, None, cfg, enhancer=identity_run(run))["reused"]  # a failed track is tried again

    (tmp_path / "library" / "fine.flac").unlink()
    with pytest.raises(EvaluationError, match="none of the 2 track"):
        evaluate_run(run, data, None, cfg, enhancer=identity_run(run))
    assert tracks[0].split == "test"


def test_split_all_on_another_library_and_which_tracks_the_model_saw(tmp_path):
    run = tmp_path / "run"
    other = tmp_path / "other"
    write_data(other, tmp_path / "other-library", [("x", 1.0, "train"), ("y", 1.0, "val"), ("z", 1.0, "test")])
    cfg = EvalConfig(split="all", visqol_excerpts=0, n_spectrograms=0)
    report = evaluate_run(run, other, None, cfg, enhancer=identity_run(run))
    assert report["n_tracks"] == 3 and sorted(r["split"] for r in report["rows"] if r["system"] == MODEL) == [
        "test",
        "train",
        "val",
    ]
    assert (
        report["n_trained_on"] == 0 and "its training dataset (v1) is not in this data folder" in report["trained_on"]
    )
    markdown = (run / "eval" / "vorbis-160" / "report.md").read_text()
    assert (
        "- the model was trained on none of these tracks: its training dataset (v1) is not in this data folder"
        in markdown
    )

    # the run's own data folder: it holds dataset v1, whose train split the model was trained on
    write_manifest(
        other / "datasets" / "v1", DatasetManifest("v1", "vorbis-160", "resample", 0.25, 0.25, 44100, 44100, {})
    )
    report = evaluate_run(run, other, None, cfg, enhancer=identity_run(run))
    assert not report["reused"] and report["n_trained_on"] == 1
    assert {r["title"] for r in report["rows"] if r["trained_on"]} == {"x"}
    markdown = (run / "eval" / "vorbis-160" / "report.md").read_text()
    assert (
        "- the model was trained on 1 of these 3 tracks (the train split of dataset v1 in this data folder)" in markdown
    )
    assert "| trained on |" in markdown


def test_a_multi_preset_model_knows_its_presets_versions_and_each_codec_rate():
    records = [
        {
            "version": "v1",
            "preset": "paper-32k",
            "strategy": "pad-edges",
            "segment_seconds": 0.1,
            "sample_rate": 44100,
            "lossy_sample_rate": 32000,
        },
        {
            "version": "v2",
            "preset": "mp3-64",
            "strategy": "pad-edges",
            "segment_seconds": 0.1,
            "sample_rate": 44100,
            "lossy_sample_rate": 44100,
        },
    ]
    spec = make_spec(44100, 0.1, "pad-edges", 32000)
    enhancer = Enhancer(PassThrough(), spec, "best.pt", "identity", 7, "v1+v2", records[0], records)
    assert enhancer.presets == ["paper-32k", "mp3-64"] and enhancer.dataset_versions == ["v1", "v2"]
    assert enhancer.spec_for("paper-32k") == spec and enhancer.spec_for("mp3-64").input_rate == 44100
    assert enhancer.spec_for("mp3-64").input_window_samples == 4410  # the codec ran at the model's rate: no padding
    one = Enhancer(
        PassThrough(), make_spec(44100, 0.25), "best.pt", "identity", 7, "v1", dict(DATASET)
    )  # before "datasets"
    assert one.presets == ["vorbis-160"] and one.dataset_versions == ["v1"] and one.spec_for("mp3-64") == one.spec
