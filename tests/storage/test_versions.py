"""Versions over time: 'latest' per preset, retention that never removes what a run names, the card."""

import dataclasses
import json
from pathlib import Path

import pytest
import webdataset as wds

from flows.cli import main
from ladle_model.runs.resume import run_dataset_versions
from storage.card import LICENCE_NOTE
from storage.catalog import read_rows
from storage.config import CorpusConfig
from storage.ingest import resolve_tracks
from storage.manifest import find_dataset, read_manifest, write_manifest
from storage.versions import latest_version, prune
from tests.conftest import write_tiny_dataset
from tests.storage.test_pool import build


def _dated(data, version, preset, created_at):
    """A tiny version recording `created_at` (names sort the other way, so only the time can order them)."""
    write_tiny_dataset(data, version=version, preset=preset)
    folder = Path(data) / "datasets" / version
    write_manifest(folder, dataclasses.replace(read_manifest(folder), created_at=created_at))


def test_latest_is_the_newest_by_recorded_time_per_preset(tmp_path):
    data = tmp_path / "data"
    _dated(data, "zz-old", "vorbis-160", "2026-01-01T00:00:00+00:00")
    _dated(data, "aa-new", "vorbis-160", "2026-01-02T00:00:00+00:00")
    _dated(data, "mm-mp3", "mp3-128", "2026-01-03T00:00:00+00:00")
    assert latest_version(data, "vorbis-160").version == "aa-new"
    assert find_dataset(data, version="latest", preset="mp3-128").version == "mm-mp3"
    with pytest.raises(ValueError, match="name one preset"):
        find_dataset(data, version="latest")
    with pytest.raises(ValueError, match="or a preset"):
        find_dataset(data)


def test_training_picks_the_newest_version_of_a_named_preset(tmp_path):
    from ladle_model.data.selection import resolve_training_data

    data = tmp_path / "data"
    _dated(data, "v1", "vorbis-160", "2026-01-01T00:00:00+00:00")
    _dated(data, "v2", "vorbis-160", "2026-01-02T00:00:00+00:00")
    assert resolve_training_data(data, None, None, None, "vorbis-160").version == "v2"
    assert resolve_training_data(data, None, None, "latest", "vorbis-160").version == "v2"
    assert resolve_training_data(data, None, None, "v1", "vorbis-160").version == "v1"


def test_prune_keeps_the_newest_and_the_protected_and_frees_the_rest(tmp_path, albums):
    data = tmp_path / "data"
    names = list(albums)
    versions = []
    for n in range(2, 6):  # four versions, each one album more: 2, 3, 4, 5 albums
        manifest, _ = build(data, [p for a in names[:n] for p in albums[a]])
        versions.append(manifest)
    shard_files = {p for m in versions for p in m.all_shard_paths()}
    report = prune(data, keep=1, protected={versions[0].version})
    assert report.removed == sorted([versions[1].version, versions[2].version])
    assert report.kept == sorted([versions[0].version, versions[3].version]) and report.protected == [
        versions[0].version
    ]
    # Every shard still listed is on disk and reads; nothing else of the pool is left.
    left = {p for m in (versions[0], versions[3]) for p in read_manifest(m.folder).all_shard_paths()}
    assert all(p.is_file() for p in left) and all(not p.is_file() for p in shard_files - left)
    assert sum(1 for p in left for _ in wds.WebDataset(str(p), shardshuffle=False)) > 0
    assert report.n_shards_removed == 0 and report.bytes_freed > 0  # versions 1, 2 shared every shard
    assert not (data / "datasets" / versions[1].version).exists()
    assert {r["version"] for r in read_rows(data, "datasets")} == {versions[0].version, versions[3].version}

    # Unprotected, the oldest goes, and with it the shard no other version lists.
    report = prune(data, keep=1)
    assert report.removed == [versions[0].version] and report.n_shards_removed == 0
    report = prune(data, keep=1)
    assert report.removed == [] and report.bytes_freed == 0


def test_prune_removes_shards_only_old_versions_listed(tmp_path, albums):
    data = tmp_path / "data"
    names = list(albums)
    old, _ = build(data, [p for a in names for p in albums[a]])
    new, _ = build(data, [p for a in names[1:] for p in albums[a]])  # album 0 removed
    (gone,) = set(old.all_shard_paths()) - set(new.all_shard_paths())
    size = gone.stat().st_size
    report = prune(data, keep=1)
    assert report.removed == [old.version] and report.n_shards_removed == 1 and report.bytes_freed > size
    assert not gone.exists() and all(p.is_file() for p in new.all_shard_paths())


def test_run_folders_protect_the_versions_they_record(tmp_path):
    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"dataset_version": "v1+v2"}))
    assert run_dataset_versions([run]) == {"v1", "v2"}


def test_ladle_prune_reports_and_mistakes_are_one_line(tmp_path, capsys):
    data = tmp_path / "data"
    _dated(data, "v1", "vorbis-160", "2026-01-01T00:00:00+00:00")
    _dated(data, "v2", "vorbis-160", "2026-01-02T00:00:00+00:00")
    assert main(["prune", "--data", str(data), "--keep", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["removed"] == ["v1"] and report["kept"] == ["v2"] and report["n_shards_removed"] == 3
    for args, message in (
        (["--data", str(tmp_path / "nope"), "--keep", "1"], "no data folder at"),
        (["--data", str(data), "--keep", "0"], "must be positive"),
        (["--data", str(data), "--keep", "1", "--protect-run", str(tmp_path / "none")], "no run folder"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["prune", *args])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and message in err and err.count("\n") == 1


def test_the_card_says_what_changed_and_the_licence(tmp_path, albums):
    data = tmp_path / "data"
    names = list(albums)
    first, _ = build(data, [p for a in (names[0], names[1], names[4]) for p in albums[a]])
    second, _ = build(data, [p for a in names[1:] for p in albums[a] if a != names[2]])
    card = (second.folder / "README.md").read_text()
    assert second.changes["previous"] == first.version
    assert "2 tracks added, 2 removed, 0 replaced" in card and LICENCE_NOTE in card
    assert all(p.track.track_id in card for a in (names[0], names[3]) for p in albums[a])
    assert "| train | 4 |" in card and "| val | 2 |" in card
    assert "First version of this preset: 6 tracks." in (first.folder / "README.md").read_text()
    (row,) = [r for r in read_rows(data, "datasets") if r["version"] == second.version]
    assert json.loads(row["changes"])["n_added"] == 2


def test_splits_stay_put_when_tracks_come_and_go(make_tracks):
    tracks = make_tracks([0.2] * 30)
    for by_album in (False, True):
        cfg = CorpusConfig(group_by_album=by_album)
        tagged = [dataclasses.replace(t, album=f"a{i % 7}", artist="x") for i, t in enumerate(tracks)]
        everything = {t.track_id: t.split for t in resolve_tracks(tagged, cfg)[0]}
        fewer = {t.track_id: t.split for t in resolve_tracks(tagged[5:20], cfg)[0]}
        assert all(everything[k] == split for k, split in fewer.items())
        assert len(set(everything.values())) > 1  # the rule does spread tracks over splits
