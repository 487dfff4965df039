"""evaluate-ladle and `ladle evaluate` with the data and the run folder in object storage (a real S3-protocol server)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch

from flows.cli import main
from ladle_model.models.build import build_model
from ladle_model.runs.checkpoint import CHECKPOINT_FORMAT
from ladle_model.runs.folder import RunDir, save_checkpoint_file
from storage import catalog, fs
from storage import ffmpeg as ff
from storage.align import Alignment
from storage.config import get_preset
from storage.encode import Encoded
from storage.ingest import Track, ingest_file
from tests.conftest import tone_pcm, write_pcm

pytestmark = pytest.mark.slow

PRESET = "vorbis-160"


def write_data_folder(data, library) -> Track:
    """A catalog with one 1.5-s test track, its vorbis-160 encode and a passing alignment (no build flow)."""
    source = write_pcm(library / "a.flac", tone_pcm(1.5, seed=21))
    track = dataclasses.replace(ingest_file(source), split="test")
    preset = get_preset(PRESET)
    encode = data / "encodes" / PRESET / f"{track.track_id}.ogg"
    encode.parent.mkdir(parents=True)
    ff.encode_file(source, encode, preset)
    catalog.write_records(data, "tracks", [track], Track)
    catalog.write_records(
        data,
        "encodes",
        [Encoded(track.track_id, PRESET, str(encode), encode.stat().st_size, 160.0, 44100, "e")],
        Encoded,
    )
    catalog.write_records(
        data, "pairs", [Alignment(track.track_id, PRESET, 0, track.n_frames, 0.99, 20.0, True, "a")], Alignment
    )
    return track


def write_run_folder(run) -> None:
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
                "preset": PRESET,
                "strategy": "resample",
                "segment_seconds": 0.25,
                "hop_seconds": 0.25,
                "sample_rate": 44100,
                "lossy_sample_rate": 44100,
            },
        },
        RunDir(run).best,
    )
    save_checkpoint_file({"format": "not read"}, RunDir(run).step_checkpoint(3))  # evaluation never pulls these


def test_evaluate_reads_data_and_writes_its_report_in_the_bucket(
    prefect_harness, s3_server, tmp_path, monkeypatch, capsys
):
    from flows.evaluate_ladle import evaluate_ladle

    monkeypatch.setenv("LADLE_CACHE_DIR", str(tmp_path / "cache"))
    write_data_folder(tmp_path / "data", tmp_path / "library")
    write_run_folder(tmp_path / "run")
    remote, root = fs.filesystem(s3_server)
    remote.put(str(tmp_path / "data"), f"{root}/eval/data", recursive=True)
    remote.put(str(tmp_path / "run"), f"{root}/eval/runs/tiny", recursive=True)
    data, run = f"{s3_server}/eval/data", f"{s3_server}/eval/runs/tiny"
    # the builder's copy is gone: the encodes are read from the mirror of the bucket
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            path.unlink()

    result = evaluate_ladle(run_dir=run, data=data, visqol_excerpts=0)
    report = result["presets"][PRESET]
    assert report["n_tracks"] == 1 and report["split"] == "test" and report["step"] == 3 and not report["reused"]
    assert report["paths"]["report.md"] == f"{run}/eval/{PRESET}/report.md"
    for name in ("report.md", "report.html", "tracks.parquet", "eval.json"):
        assert remote.exists(f"{root}/eval/runs/tiny/eval/{PRESET}/{name}")
    summary = json.loads(remote.cat(f"{root}/eval/runs/tiny/eval/{PRESET}/eval.json"))["summary"]
    mse = next(s for s in summary if s["metric"] == "mse")
    assert 0 < mse["lossy_input"] < 1e-2 and mse["model"] > 0  # a real codec's damage, and an untrained model's output
    mirror = fs.mirror_folder(run)
    assert (mirror / "checkpoints" / "best.pt").is_file() and not (mirror / "checkpoints" / "step-00000003.pt").exists()

    # The command line, from another machine (an empty cache): the finished evaluation is found in the bucket.
    shutil.rmtree(tmp_path / "cache")
    monkeypatch.setenv("LADLE_CACHE_DIR", str(tmp_path / "other-cache"))
    assert main(["evaluate", "--run", run, "--data", data, "--visqol-excerpts", "0", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)["presets"][PRESET]
    assert again["reused"] and again["summary"] == report["summary"]

    # a run folder in the bucket without a checkpoint: one line before any flow run
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--run", f"{s3_server}/eval/runs/empty", "--data", data])
    err = capsys.readouterr().err  # the moto server logs its requests there too: the last line is ours
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"ladle: error: no checkpoint in run folder {s3_server}/eval/runs/empty "
        "(looked for best.pt / last.pt in checkpoints/)"
    )
