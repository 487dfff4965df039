"""Challengers' run folders: the newest `keep` and the champion's stay, older ones go, their registry rows stay."""

from __future__ import annotations

import json

import fsspec
import pytest

from ladle_model.runs.champion import RECORD_NAME, champion_dir
from ladle_model.runs.registry import Candidate, read_candidates, record_candidate
from ladle_model.runs.retention import REMOVING_PREFIX, prune_runs


def nights(data, runs, n: int) -> list[str]:
    """`n` registered challengers, night i on dataset vi in RUNS/vi with a checkpoint; their folders."""
    folders = []
    for i in range(1, n + 1):
        folder = f"{runs}/v{i}"
        with fsspec.open(f"{folder}/checkpoints/best.pt", "wb", auto_mkdir=True) as f:
            f.write(b"weights")
        record_candidate(data, Candidate(f"v{i}", folder, "rejected", "worse on LSD", ["vorbis-160"],
                                         created_at=f"2026-01-{i:02d}T02:00:00+00:00"))  # fmt: skip
        folders.append(folder)
    return folders


def test_older_challengers_go_the_newest_and_the_champions_stay(tmp_path):
    data, runs = tmp_path / "data", tmp_path / "runs"
    folders = nights(data, runs, 5)
    champion_dir(data).mkdir(parents=True)
    (champion_dir(data) / RECORD_NAME).write_text(json.dumps({"run_dir": folders[0]}))  # night 1 was promoted
    assert prune_runs(data, keep=2, protect=[folders[2]]) == [folders[1]]
    assert sorted(p.name for p in runs.iterdir()) == ["v1", "v3", "v4", "v5"]  # nothing half-deleted beside them
    assert [r["dataset_version"] for r in read_candidates(data)] == ["v1", "v2", "v3", "v4", "v5"]  # history stays
    assert prune_runs(data, keep=2) == [folders[2]]  # unprotected tonight
    assert prune_runs(data, keep=2) == []  # nothing left to do: a re-run is a no-op
    with pytest.raises(ValueError, match="at least 1"):
        prune_runs(data, keep=0)


def test_a_deletion_a_crash_left_is_finished_and_never_looks_like_a_run(tmp_path):
    data, runs = tmp_path / "data", tmp_path / "runs"
    folders = nights(data, runs, 3)
    (runs / f"{REMOVING_PREFIX}v1").mkdir()  # renamed for deletion, then the machine went down
    (runs / f"{REMOVING_PREFIX}v1" / "last.pt").write_bytes(b"half")
    assert prune_runs(data, keep=1) == folders[:2]
    assert [p.name for p in runs.iterdir()] == ["v3"]


def test_a_run_folder_in_object_storage_goes_with_its_local_mirror(tmp_path, monkeypatch):
    from storage import fs

    monkeypatch.setenv("LADLE_CACHE_DIR", str(tmp_path / "cache"))
    data, runs = tmp_path / "data", "memory://ladle-retention/runs"
    folders = nights(data, runs, 3)
    fs.mirror_folder(folders[0]).mkdir(parents=True)  # the worker's working copy of night 1's folder
    assert prune_runs(data, keep=2) == [folders[0]]
    memory = fsspec.filesystem("memory")
    assert not memory.exists("/ladle-retention/runs/v1") and memory.exists("/ladle-retention/runs/v2")
    assert not fs.mirror_folder(folders[0]).exists()


def test_a_row_naming_anything_but_a_run_folder_is_never_followed(tmp_path):
    data, runs = tmp_path / "data", tmp_path / "runs"
    folders = nights(data, runs, 2)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    for i, odd in enumerate((str(tmp_path / "notes"), str(data), str(tmp_path), "")):  # not runs, or holding DATA
        record_candidate(data, Candidate(f"odd{i}", odd, "rejected", "hand-edited", ["vorbis-160"],
                                         created_at=f"2025-12-0{i + 1}T02:00:00+00:00"))  # fmt: skip
    assert prune_runs(data, keep=1) == [folders[0]]
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine" and (data / "catalog").is_dir()
    assert [p.name for p in runs.iterdir()] == ["v2"]
