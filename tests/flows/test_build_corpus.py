"""The build-corpus flow end to end on a real (temporary) Prefect server, with real codecs."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds

from flows.build_corpus import build_corpus
from flows.cli import main
from storage import ffmpeg as ff
from storage.catalog import catalog_summary, read_rows, write_records
from storage.corpus import DatasetRecord, SegmentCount, ShardRecord
from storage.sources.demo_corpus import write_demo_corpus
from tests.conftest import tone_pcm, write_pcm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("library")
    write_demo_corpus(root / "demo", n_tracks=2, max_seconds=4.0, min_seconds=3.0)
    for i in range(10):
        write_pcm(root / "tones" / f"{i:02d}. tone v{i}.0.flac", tone_pcm(1.5, seed=100 + i))
    write_pcm(root / "tones" / "mono – ünïcode.wav", tone_pcm(1.5, channels=1, seed=200))
    write_pcm(root / "dupes" / "same audio, other name.wav", tone_pcm(1.5, seed=100))
    (root / "bad").mkdir()
    (root / "bad" / "text.flac").write_text("definitely not audio\n" * 50)
    (root / "bad" / "zero.wav").write_bytes(b"")
    write_pcm(root / "bad" / "silent.flac", np.zeros((22050, 2), np.int32))
    truncated = write_pcm(root / "bad" / "truncated.flac", tone_pcm(1.5, seed=300))
    truncated.write_bytes(truncated.read_bytes()[:20000])
    return root


@pytest.fixture
def count_encodes(monkeypatch):
    calls = []
    real = ff.encode_file

    def counting(src, dst, preset, muxer=None):
        calls.append((Path(src).name, preset.name))
        return real(src, dst, preset, muxer)

    monkeypatch.setattr(ff, "encode_file", counting)
    return calls


def _build(library, data, **kwargs):
    return build_corpus(sources=[str(library)], data=str(data), presets=["vorbis-160"], segment_seconds=0.5, **kwargs)


def test_build_then_cached_rebuild_then_one_more_track(prefect_harness, library, tmp_path, count_encodes):
    data = tmp_path / "data"
    first = _build(library, data)
    assert first["n_tracks"] == 13 and first["duplicates"] == 1
    assert first["n_encoded"] == 13 and len(count_encodes) == 13
    reasons = {Path(q["path"]).name: q["reason"] for q in first["quarantine"]}
    assert set(reasons) == {"text.flac", "zero.wav", "silent.flac", "truncated.flac"}
    assert "digital silence" in reasons["silent.flac"] and "empty file" in reasons["zero.wav"]

    summary = catalog_summary(data)
    assert summary["tracks"] == 13 and summary["duplicates"] == 1
    assert {Path(q["path"]).name for q in summary["quarantine"]} == set(reasons)
    (dataset,) = summary["datasets"]
    assert dataset["preset"] == "vorbis-160" and dataset["strategy"] == "resample" and dataset["segment_seconds"] == 0.5
    # One JSON shape: the build's summary and the catalog's describe datasets and the quarantine alike.
    assert first["datasets"] == summary["datasets"] and first["quarantine"] == summary["quarantine"]
    assert all(info["n_shards"] == len(info["shards"]) > 0 for info in dataset["splits"].values())

    # Stock webdataset reads every shard; pairs are strongly correlated; no track is in two splits.
    ids_by_split, n_segments = {}, 0
    for split, info in dataset["splits"].items():
        for sample in wds.WebDataset(info["shards"], shardshuffle=False).decode():
            x, y = sample["lossless.npy"], sample["lossy.npy"]
            assert x.shape == y.shape == (2, 22050)
            assert np.corrcoef(x.ravel(), y.ravel())[0, 1] > 0.9
            assert sample["json"]["split"] == split
            ids_by_split.setdefault(split, set()).add(sample["json"]["track_id"])
            n_segments += 1
        assert len(ids_by_split.get(split, ())) == info["tracks"]
    assert n_segments == sum(info["segments"] for info in dataset["splits"].values()) > 13 * 2
    splits = list(ids_by_split.values())
    assert all(a.isdisjoint(b) for i, a in enumerate(splits) for b in splits[i + 1 :])
    shard_hashes = {r["name"]: r["sha256"] for r in read_rows(data, "shards")}

    # Unchanged sources: nothing is encoded again and the shards are the same bytes.
    count_encodes.clear()
    second = _build(library, data)
    assert count_encodes == [] and second["n_encoded"] == 0 and second["n_encodes_reused"] == 13
    assert second["n_shards_written"] == 0 and second["datasets"][0]["version"] == dataset["version"]
    assert second["last_encoding_run_seconds"] == first["seconds"]
    assert {r["name"]: r["sha256"] for r in read_rows(data, "shards")} == shard_hashes

    # One new track: only it is encoded, and it makes a new dataset version.
    write_pcm(library / "tones" / "new track.flac", tone_pcm(1.5, seed=400))
    try:
        third = _build(library, data)
    finally:
        (library / "tones" / "new track.flac").unlink()
    assert count_encodes == [("new track.flac", "vorbis-160")] and third["n_encoded"] == 1
    assert third["n_tracks"] == 14 and third["datasets"][0]["version"] != dataset["version"]
    assert len(catalog_summary(data)["datasets"]) == 2
    # Only the new track's shard is written; the versions share the others' files (storage/pool.py).
    assert third["n_shards_written"] == 1
    old_shards = {s for info in dataset["splits"].values() for s in info["shards"]}
    new_shards = {s for info in third["datasets"][0]["splits"].values() for s in info["shards"]}
    assert len(old_shards & new_shards) == len(old_shards) - 1
    card = (data / "datasets" / third["datasets"][0]["version"] / "README.md").read_text()
    assert f"Against `{dataset['version']}`: 1 tracks added, 0 removed" in card


def test_rebuilding_in_a_fresh_folder_gives_identical_shards(prefect_harness, library, tmp_path):
    a, b = _build(library, tmp_path / "a"), _build(library, tmp_path / "b")
    assert a["datasets"][0]["version"] == b["datasets"][0]["version"]
    hashes = [
        sorted((r["name"], r["sha256"]) for r in read_rows(d, "shards")) for d in (tmp_path / "a", tmp_path / "b")
    ]
    assert hashes[0] == hashes[1] and len(hashes[0]) >= 3


def test_missing_source_is_quarantined_and_the_rest_builds(prefect_harness, library, tmp_path):
    summary = build_corpus(
        sources=[str(library / "tones"), str(tmp_path / "nowhere")], data=str(tmp_path / "data"), segment_seconds=0.5
    )
    assert summary["n_tracks"] == 11
    missing = {"path": str(tmp_path / "nowhere"), "stage": "scan", "reason": "source does not exist", "preset": None}
    assert missing in summary["quarantine"]


def test_cli_bad_usage_gives_one_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["build-corpus", str(tmp_path / "nowhere"), "--data", str(tmp_path / "d")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "source folder does not exist" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["build-corpus", str(tmp_path), "--data", str(tmp_path / "d"), "--preset", "wma-64"])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["build-corpus", str(tmp_path), "--data", "d", "--strategy", "pad-edges", "--preset", "opus-96"])
    assert exit_info.value.code == 2 and "48000 Hz > 44100 Hz" in capsys.readouterr().err


def test_ladle_catalog_json_through_the_console_script(prefect_harness, library, tmp_path):
    data = tmp_path / "data"
    build_corpus(sources=[str(library / "tones")], data=str(data), presets=["mp3-128"], segment_seconds=0.5)
    ladle = Path(sys.executable).with_name("ladle")
    out = subprocess.run(
        [str(ladle), "catalog", "--data", str(data), "--json"], capture_output=True, text=True, check=True
    )
    catalog = json.loads(out.stdout)
    assert catalog["tracks"] == 11 and catalog["duplicates"] == 0 and catalog["quarantine"] == []
    (dataset,) = catalog["datasets"]
    assert dataset["preset"] == "mp3-128"
    assert set(dataset["splits"]) == {"train", "val", "test"}
    assert sum(s["tracks"] for s in dataset["splits"].values()) == 11
    assert all(Path(p).is_file() for s in dataset["splits"].values() for p in s["shards"])


@pytest.mark.parametrize("runner", ["processes", "dask"])
def test_shards_are_identical_whatever_the_runner(prefect_harness, library, tmp_path, runner):
    reference = _build(library, tmp_path / "threads", task_runner="threads", group_size=4)
    other = _build(library, tmp_path / runner, task_runner=runner, workers=2, group_size=3)
    assert other["datasets"][0]["version"] == reference["datasets"][0]["version"]
    hashes = [sorted((r["name"], r["sha256"]) for r in read_rows(tmp_path / d, "shards")) for d in ("threads", runner)]
    assert hashes[0] == hashes[1] and other["n_tracks"] == 13


def test_cli_train_without_a_dataset_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", str(tmp_path / "no-data"), "--run", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and err.count("\n") == 0 and "no dataset under" in err
    assert not (tmp_path / "run").exists()


def test_a_data_folder_builds_from_any_directory_and_after_a_move(prefect_harness, tmp_path, monkeypatch):
    library = tmp_path / "library"
    for i in range(2):
        write_pcm(library / f"{i}.flac", tone_pcm(1.0, seed=950 + i))
    options = dict(sources=[str(library)], presets=["mp3-128"], segment_seconds=0.25)
    (tmp_path / "first").mkdir()
    monkeypatch.chdir(tmp_path / "first")
    first = build_corpus(data="data", **options)
    sidecar = next((tmp_path / "first" / "data" / "encodes" / "mp3-128").glob("*.json"))
    assert json.loads(sidecar.read_text())["path"] == f"encodes/mp3-128/{sidecar.stem}.mp3"  # relative to DATA

    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    again = build_corpus(data=str(tmp_path / "first" / "data"), **options)
    # A kill between writing the manifest and the catalog rows: the dataset is on disk, not in the catalog.
    for table, cls in (("datasets", DatasetRecord), ("shards", ShardRecord), ("segments", SegmentCount)):
        write_records(tmp_path / "first" / "data", table, [], cls)
    assert catalog_summary(tmp_path / "first" / "data")["datasets"] == []
    (tmp_path / "moved").mkdir()
    (tmp_path / "first" / "data").rename(tmp_path / "moved" / "data")
    moved = build_corpus(data="../moved/data", **options)
    for summary in (first, again, moved):
        assert summary["n_tracks"] == 2 and summary["n_quarantined"] == 0
        assert summary["datasets"][0]["version"] == first["datasets"][0]["version"]
    assert again["n_encoded"] == moved["n_encoded"] == 0 and moved["n_shards_written"] == 0
    (repaired,) = catalog_summary(tmp_path / "moved" / "data")["datasets"]  # recorded again by the next run
    assert repaired["version"] == moved["datasets"][0]["version"]
    assert {s: v["n_shards"] for s, v in repaired["splits"].items()} == {
        s: v["n_shards"] for s, v in moved["datasets"][0]["splits"].items()
    }


def test_the_flow_expands_a_preset_group_as_the_cli_does():
    from flows.build_corpus import corpus_config
    from storage.config import PRESET_GROUPS

    cfg = corpus_config(["wideband", "vorbis-160", "mp3-64"], "resample", 1.0, None, 44100, False, 256.0)
    assert list(cfg.presets) == [*PRESET_GROUPS["wideband"], "vorbis-160"]  # each once, in order
