"""The `evaluate-ladle` flow on a tiny trained run, the `ladle evaluate` / `ladle enhance` commands, and track selection."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from flows.cli import main
from ladle_model.evaluation import metrics as M
from ladle_model.evaluation.evaluate import BASELINE, MODEL, EvalConfig, evaluate_run, select_tracks
from ladle_model.evaluation.tracks import EmptySplitError
from ladle_model.models.build import build_model
from ladle_model.runs.checkpoint import CHECKPOINT_FORMAT
from ladle_model.runs.folder import RunDir, save_checkpoint_file
from storage import catalog
from storage.align import Alignment
from storage.config import SegmentConfig
from storage.encode import Encoded
from storage.ingest import Track
from storage.segment import load_pair
from tests.conftest import tone_pcm, write_pcm
from tests.flows.test_train_ladle import read_artifacts

# 3-s tone tracks whose content puts them in: train (0, 1, 2), test (3), val (9) (a hash of the audio)
SEEDS = (0, 1, 2, 3, 9)
TINY = {"model_overrides": {"channels": 8, "n_units": 2}, "num_workers": 0, "feature_net_steps": 2, "lr": 1e-3}


@pytest.fixture(scope="module")
def trained(prefect_harness, tmp_path_factory):
    """A paper-32k corpus of five tone tracks (0.25-s segments) and a drrn1d trained on it for 3 steps."""
    from flows.build_corpus import build_corpus
    from flows.train_ladle import train_ladle

    root = tmp_path_factory.mktemp("eval")
    for seed in SEEDS:
        write_pcm(root / "library" / f"tone {seed}.flac", tone_pcm(3.0, seed=seed))
    data, run = root / "data", root / "run"
    build_corpus(sources=[str(root / "library")], data=str(data), presets=["paper-32k"], segment_seconds=0.25)
    train_ladle(data=str(data), run_dir=str(run), recipe="paper", overrides={**TINY, "model": "drrn1d", "max_steps": 3})
    return data, run


@pytest.mark.slow
def test_flow_reports_the_model_against_its_lossy_input(trained):
    from flows.evaluate_ladle import evaluate_ladle

    data, run = trained
    result = evaluate_ladle(run_dir=str(run), data=str(data), visqol_excerpts=0)
    report = result["presets"]["paper-32k"]  # the run's own preset by default
    assert report["split"] == "test" and report["n_tracks"] == 1 and not report["reused"]
    folder = run / "eval" / "paper-32k"
    for name in ("report.md", "report.html", "tracks.parquet", "eval.json"):
        assert (folder / name).is_file()

    rows = pd.read_parquet(folder / "tracks.parquet")
    assert sorted(rows["system"]) == [BASELINE, MODEL]
    base = rows[rows["system"] == BASELINE].iloc[0]
    model = rows[rows["system"] == MODEL].iloc[0]
    assert base["duration_s"] == pytest.approx(3.0)
    # the baseline row is the aligned lossy input itself, scored independently here
    tracks = {t["track_id"]: t for t in catalog.read_rows(data, "tracks")}
    track = Track(**tracks[base["track_id"]])
    encoded = Encoded(**next(r for r in catalog.read_rows(data, "encodes") if r["track_id"] == track.track_id))
    alignment = Alignment(**next(r for r in catalog.read_rows(data, "pairs") if r["track_id"] == track.track_id))
    pair = load_pair(track, encoded, alignment, SegmentConfig(sample_rate=44100))
    assert base["mse"] == pytest.approx(M.mse(pair.lossless, pair.lossy), rel=1e-9)
    assert base["lsd"] == pytest.approx(M.lsd(pair.lossless, pair.lossy), rel=1e-9)
    assert 5 < base["snr_db"] < 40 and 0 < base["mse"] < 1e-2  # a real codec's damage
    assert (
        0 < model["mse"] < 1e-2 and model["mse"] != base["mse"]
    )  # the model changed the audio a little, after 3 steps
    assert np.isfinite(base["perceptual"]) and np.isnan(base["visqol"])  # phi from the run; ViSQOL skipped here
    assert 5000 < base["cutoff_hz"] < 16000  # Vorbis at 32 kHz cuts below its 16 kHz Nyquist

    summary = {s["metric"]: s for s in report["summary"]}
    assert summary["mse"]["lossy_input"] == pytest.approx(base["mse"]) and summary["mse"]["model"] == pytest.approx(
        model["mse"]
    )
    expected = "better than the input" if model["mse"] < base["mse"] else "worse than the input"
    assert (
        summary["mse"]["verdict"] == expected and expected.replace("the input", "its lossy input") in report["headline"]
    )
    markdown = (folder / "report.md").read_text()
    assert "| MSE | lower |" in markdown and "lossy input → model" in markdown and "spectrograms/" in markdown
    assert "<table>" in (folder / "report.html").read_text()
    (png,) = (folder / "spectrograms").glob("*.png")
    assert png.read_bytes()[:4] == b"\x89PNG"

    keys = report["artifacts"]
    artifacts = read_artifacts(list(keys.values()))
    assert artifacts[keys["summary"]].type == "table" and expected in str(artifacts[keys["summary"]].data)
    assert BASELINE in str(artifacts[keys["tracks"]].data)
    assert "data:image/png;base64," in artifacts[keys["report"]].data

    # nothing changed: the evaluation is reused, not redone
    again = evaluate_run(run, data, None, EvalConfig(visqol_excerpts=0))
    assert again["reused"] and again["summary"] == json.loads((folder / "eval.json").read_text())["summary"]


@pytest.mark.slow
def test_cli_evaluate_and_enhance_with_the_trained_run(trained, tmp_path, capsys):
    data, run = trained
    assert main(["evaluate", "--run", str(run), "--data", str(data), "--visqol-excerpts", "0", "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert "paper-32k (1 val tracks, step 3)" in out and "MSE" in out and "report.html" in out

    lossy = next((data / "encodes" / "paper-32k").glob("*.ogg"))
    assert main(["enhance", str(lossy), "-o", str(tmp_path / "restored.wav"), "--run", str(run)]) == 0
    info = sf.info(str(tmp_path / "restored.wav"))
    # the model's rate by default (issue 11): the 32-kHz Vorbis comes back at 44.1 kHz, same duration
    assert (info.samplerate, info.channels) == (44100, 2) and info.frames == 3 * 44100
    assert "restored.wav" in capsys.readouterr().out
    assert (
        main(
            [
                "enhance",
                str(lossy),
                "-o",
                str(tmp_path / "as-input.wav"),
                "--run",
                str(run),
                "--sample-rate",
                "32000",
            ]
        )
        == 0
    )
    assert sf.info(str(tmp_path / "as-input.wav")).samplerate == 32000

    # a whole folder of encodes: every audio file restored; the .json sidecars next to them summed up in one line
    encodes = data / "encodes" / "paper-32k"
    n_audio, n_json = len(list(encodes.glob("*.ogg"))), len(list(encodes.glob("*.json")))
    assert main(["enhance", str(encodes), "-o", str(tmp_path / "folder"), "--run", str(run)]) == 0
    out = capsys.readouterr().out
    assert len(list((tmp_path / "folder").glob("*.flac"))) == n_audio and n_json > 0
    assert f"skipped {n_json} file(s) with no audio FFmpeg can read ({n_json} .json); --json lists them" in out
    assert out.count("skipped") == 1

    # every track of the data folder: the model was trained on its three train-split tracks
    assert main(["evaluate", "--run", str(run), "--data", str(data), "--visqol-excerpts", "0", "--split", "all"]) == 0
    out = capsys.readouterr().out
    assert (
        "paper-32k (5 all tracks, step 3)" in out
        and "the model was trained on 3 of these tracks (the train split of dataset" in out
    )


def test_cli_enhance_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["enhance", str(tmp_path / "missing.mp3"), "-o", str(tmp_path / "x.flac"), "--run", str(tmp_path)])
    assert exit_info.value.code == 2 and "no file or folder" in capsys.readouterr().err
    write_pcm(tmp_path / "a.flac", tone_pcm(0.2, seed=1))
    with pytest.raises(SystemExit) as exit_info:
        main(["enhance", str(tmp_path / "a.flac"), "-o", str(tmp_path / "x.mp3"), "--run", str(tmp_path)])
    assert exit_info.value.code == 2 and "must end in .flac or .wav" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["enhance", str(tmp_path / "a.flac"), "-o", str(tmp_path / "x.flac"), "--run", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and err.count("\n") == 0 and "no checkpoint" in err


def write_tiny_run(run, preset: str = "vorbis-160") -> None:
    """A run folder whose best.pt holds an untrained tiny drrn1d (a checkpoint as training writes it, minus the optimizer)."""
    torch.manual_seed(0)
    config = {"channels": 8, "n_units": 2}
    model = build_model("drrn1d", **config)
    save_checkpoint_file(
        {
            "format": CHECKPOINT_FORMAT,
            "model": model.state_dict(),
            "model_name": "drrn1d",
            "step": 3,
            "config": {"model": config, "train": {"segment_seconds": None}},
            "dataset_version": "v1",
            "dataset": {
                "preset": preset,
                "strategy": "resample",
                "segment_seconds": 0.25,
                "hop_seconds": 0.25,
                "sample_rate": 44100,
                "lossy_sample_rate": 44100,
            },
        },
        RunDir(run).best,
    )


def test_cli_evaluate_without_a_checkpoint_is_one_line(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "data").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--run", str(tmp_path / "run"), "--data", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("ladle: error: no checkpoint in run folder") and "best.pt / last.pt" in err
    write_tiny_run(tmp_path / "run")
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["evaluate", "--run", str(tmp_path / "run"), "--data", str(tmp_path / "data")]
        )  # a data folder never built
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "no tracks in the catalog" in err
    track = _fake_track("a", "test")
    catalog.write_records(tmp_path / "data", "tracks", [track], Track)  # a library built with mp3-128 only
    catalog.write_records(
        tmp_path / "data", "encodes", [Encoded("a", "mp3-128", "/e/a.mp3", 1, 128.0, 44100, "k")], Encoded
    )
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["evaluate", "--run", str(tmp_path / "run"), "--data", str(tmp_path / "data")]
        )  # the run's preset: vorbis-160
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "has no vorbis-160 encodes to evaluate on" in err


def test_a_multi_preset_run_is_evaluated_on_each_of_its_presets_by_default(tmp_path):
    from ladle_model.evaluation.evaluate import run_presets

    write_tiny_run(tmp_path / "run", preset="paper-32k")
    assert run_presets(tmp_path / "run") == ["paper-32k"]
    ckpt = torch.load(RunDir(tmp_path / "run").best, weights_only=True)
    ckpt["datasets"] = [
        {**ckpt["dataset"], "version": "v1"},
        {**ckpt["dataset"], "version": "v2", "preset": "mp3-64"},
    ]  # as
    save_checkpoint_file(
        ckpt, RunDir(tmp_path / "run").best
    )  # multi-preset training records it (checkpoint.checkpoint_payload)
    assert run_presets(tmp_path / "run") == ["paper-32k", "mp3-64"]


def test_cli_enhance_restores_the_rest_of_a_folder_and_fails_at_the_end(tmp_path, capsys):
    write_tiny_run(tmp_path / "run")
    write_pcm(tmp_path / "in" / "a.flac", tone_pcm(0.3, seed=1))
    sf.write(tmp_path / "in" / "b.wav", np.zeros((4000, 6), np.float32), 44100)  # six channels: cannot be restored
    write_pcm(tmp_path / "in" / "c.flac", tone_pcm(0.3, seed=2))
    assert main(["enhance", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--run", str(tmp_path / "run")]) == 1
    captured = capsys.readouterr()
    assert (tmp_path / "out" / "a.flac").is_file() and (tmp_path / "out" / "c.flac").is_file()
    assert "c.flac" in captured.out and "b.wav" not in captured.out
    assert captured.err.splitlines()[-2:] == [
        f"failed {tmp_path / 'in' / 'b.wav'}: b.wav has 6 channels: only mono and stereo can be "
        "restored (downmix first, e.g. ffmpeg -i in -ac 2 out.flac)",
        "1 of 3 file(s) could not be restored",
    ]


def _fake_track(track_id: str, split: str) -> Track:
    return Track(
        track_id, f"/music/{track_id}.flac", "flac", 44100, 2, 16, 44100, 1.0, "0" * 32, title=track_id, split=split
    )


def _catalog(data, tracks: list[Track], preset: str = "mp3-128") -> None:
    """A catalog of `tracks`, each with a `preset` encode; track "c" failed its alignment gate."""
    catalog.write_records(data, "tracks", tracks, Track)
    catalog.write_records(
        data,
        "encodes",
        [Encoded(t.track_id, preset, f"/e/{t.track_id}.x", 1, 128.0, 44100, "k") for t in tracks],
        Encoded,
    )
    catalog.write_records(
        data,
        "pairs",
        [Alignment(t.track_id, preset, 0, 44100, 0.99, 20.0, t.track_id != "c", "k") for t in tracks],
        Alignment,
    )


def test_an_empty_split_is_an_error_never_another_split(tmp_path):
    tracks = [_fake_track("a", "train"), _fake_track("b", "val"), _fake_track("c", "val"), _fake_track("d", "val")]
    _catalog(tmp_path, tracks)
    with pytest.raises(EmptySplitError) as error:
        select_tracks(tmp_path, "mp3-128")  # the test split by default: none, and no val track instead
    assert str(error.value) == (
        f"the test split of {tmp_path} has no mp3-128 track to evaluate (tracks by split: train 1, val 2); "
        "evaluating another split is a choice to name (val, or all: every track)"
    )  # c failed its alignment gate: not counted
    chosen, split = select_tracks(tmp_path, "mp3-128", "val")
    assert split == "val" and [t.track.track_id for t in chosen] == ["b", "d"]
    chosen, split = select_tracks(tmp_path, "mp3-128", "val", max_tracks=1)
    assert [t.track.track_id for t in chosen] == ["b"]
    chosen, split = select_tracks(tmp_path, "mp3-128", "all")
    assert split == "all" and [t.track.track_id for t in chosen] == ["a", "b", "d"]
    with pytest.raises(FileNotFoundError, match="no vorbis-160 encodes"):
        select_tracks(tmp_path, "vorbis-160")


def test_cli_evaluate_on_an_empty_test_split_says_so_in_one_line_and_evaluates_nothing(tmp_path, capsys):
    run, data = tmp_path / "run", tmp_path / "data"
    write_tiny_run(run, preset="mp3-128")
    _catalog(data, [_fake_track("a", "train"), _fake_track("b", "val")])
    for argv in ([], ["--preset", "mp3-128"], ["--split", "test"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["evaluate", "--run", str(run), "--data", str(data), *argv])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err
        assert err == (
            f"ladle: error: the test split of {data} has no mp3-128 track to evaluate (tracks by split: "
            "train 1, val 1); name another with --split val, or --split all for every track\n"
        )
        assert not (run / "eval").exists()  # nothing evaluated, nothing written


def test_calibration_excerpts_carry_the_cut_of_their_whole_val_track(trained):
    from ladle_model.calibration.data import EXCERPTS_PER_TRACK, val_track_excerpts
    from ladle_model.evaluation.visqol import active_excerpts
    from ladle_model.models.bandwidth import track_bandwidth

    data, _ = trained
    excerpts = val_track_excerpts(data, ["paper-32k"], 44100, layout=(1024, 256))
    (item,), _ = select_tracks(data, "paper-32k", "val")  # the one val track (seed 9)
    pair = load_pair(item.track, item.encoded, item.alignment, SegmentConfig(strategy="resample", sample_rate=44100))
    n_expected = len(active_excerpts(pair.lossless, 44100, EXCERPTS_PER_TRACK, 5.0))
    assert [preset for preset, *_ in excerpts] == ["paper-32k"] * n_expected and n_expected >= 1
    assert len({b for *_, b in excerpts}) == 1  # every excerpt carries its whole track's cut
    _, lossless, lossy, bandwidth = excerpts[0]
    assert bandwidth == track_bandwidth(pair.lossy, 1024, 256) and 0 < bandwidth <= 1
    assert lossy.shape == lossless.shape and lossy.shape[0] == 2
    assert val_track_excerpts(data, ["paper-32k"], 44100)[0][3] is None  # no layout: each segment is read alone

    spread = val_track_excerpts(data, ["paper-32k"], 44100, layout=(1024, 256), per_track=3, seconds=0.5)
    expected = active_excerpts(pair.lossless, 44100, 3, 0.5)
    assert len(spread) == len(expected) == 3  # excerpts spread over the track, the first of them its first active one
    assert [tuple(e[1].shape) for e in spread] == [(2, stop - start) for start, stop in expected]
    first = val_track_excerpts(data, ["paper-32k"], 44100, layout=(1024, 256), seconds=0.5, per_track=1)
    assert len(first) == 1 and torch.equal(first[0][1], spread[0][1]) and not torch.equal(spread[1][1], spread[0][1])


def test_cli_calibrate_chooses_a_specnext_runs_gains_on_the_val_tracks_and_refuses_other_models(
    trained, tmp_path, capsys
):
    from ladle_model.calibration.data import EXCERPTS_PER_TRACK
    from ladle_model.calibration.record import METHOD
    from ladle_model.evaluation.visqol import active_excerpts, visqol_available
    from ladle_model.runs.checkpoint import load_checkpoint

    def refused(argv: list[str]) -> tuple[int, str]:  # a user error: one line on stderr and a non-zero status
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        return exit_info.value.code, err

    data, drrn_run = trained
    code, err = refused(["calibrate", "--run", str(drrn_run), "--data", str(data)])
    assert code == 1 and "has no fill gains to calibrate" in err
    code, err = refused(["calibrate", "--run", str(tmp_path / "nothing"), "--data", str(data)])
    assert code == 2 and "is not a run folder" in err

    run = RunDir(tmp_path / "specnext")
    run.checkpoints.mkdir(parents=True)
    torch.manual_seed(0)
    config = {"dim": 16, "n_blocks": 1}
    save_checkpoint_file(
        {
            "format": CHECKPOINT_FORMAT,
            "model": build_model("specnext", **config).state_dict(),
            "model_name": "specnext",
            "step": 3,
            "config": {"model": config, "train": {}},
            "dataset_version": "v1",
            "dataset": {
                "preset": "paper-32k",
                "strategy": "resample",
                "segment_seconds": 0.25,
                "hop_seconds": 0.25,
                "sample_rate": 44100,
                "lossy_sample_rate": 44100,
            },
        },
        run.best,
    )
    code, err = refused(["calibrate", "--run", str(run.root), "--data", str(tmp_path / "nothing")])
    assert code == 2 and "is not a data folder" in err
    code, err = refused(["calibrate", "--run", str(run.root), "--data", str(data), "--excerpts-per-track", "0"])
    assert code == 2 and "--excerpts-per-track must be at least 1" in err
    code, err = refused(["calibrate", "--run", str(run.root), "--data", str(data), "--excerpts-per-preset", "-1"])
    assert code == 2 and "--excerpts-per-preset must be at least 1" in err
    if not visqol_available():
        return
    assert main(["calibrate", "--run", str(run.root), "--data", str(data)]) == 0
    (item,), _ = select_tracks(data, "paper-32k", "val")
    pair = load_pair(item.track, item.encoded, item.alignment, SegmentConfig(strategy="resample", sample_rate=44100))
    n_excerpts = len(active_excerpts(pair.lossless, 44100, EXCERPTS_PER_TRACK, 5.0))
    assert f"chosen on {n_excerpts} val-track excerpts" in capsys.readouterr().out
    record = load_checkpoint(run.best)["calibration"]
    assert (
        record["method"] == METHOD
        and list(record["groups"]) == ["paper-32k"]
        and record["table"][-1] == [1.0, 0.0, 0.0, 0.0]
    )
    before = run.best.read_bytes()
    assert (
        main(["calibrate", "--run", str(run.root), "--data", str(data)]) == 0 and run.best.read_bytes() == before
    )  # calibrated already
    assert main(["calibrate", "--run", str(run.root), "--data", str(data), "--force"]) == 0
    rescored = load_checkpoint(run.best)["calibration"][
        "scores"
    ]  # scored again: the same up to float rounding in ViSQOL
    assert rescored.keys() == record["scores"].keys() and rescored == pytest.approx(record["scores"], rel=1e-9)
