"""The soak (bench/soak.py): its generated library is what it claims, and a small soak passes its checks."""

import json
import os
from pathlib import Path

import pytest

from bench import soak
from bench.soak_checks import check_data_folder
from bench.soak_library import BAD_KINDS, SoakLibrary, file_digests, write_soak_library
from storage.ingest import Track, ingest_file
from storage.manifest import read_manifest


def test_library_is_deterministic_and_its_expected_ids_are_the_ingests(tmp_path):
    a = write_soak_library(tmp_path / "a", n_tracks=30, seed=5)
    b = write_soak_library(tmp_path / "b", n_tracks=30, seed=5)
    relative = lambda lib: {Path(p).relative_to(lib.root): d for p, d in file_digests(lib.root).items()}  # noqa: E731
    assert relative(a) == relative(b) and len(relative(a)) > 30
    assert set(a.bad.values()) == set(BAD_KINDS) - ({"unreadable"} if os.geteuid() == 0 else set())
    assert a.duplicates() and a.disc_track_ids and all(a.good[t] == [] for t in a.disc_track_ids)
    for track_id, paths in a.good.items():  # the generator's own MD5 agrees with the ingest's
        for path in paths:
            result = ingest_file(path)
            assert isinstance(result, Track) and result.track_id == track_id, (path, result)
    assert SoakLibrary.load(_saved(a, tmp_path)).__dict__ == a.__dict__


def _saved(lib: SoakLibrary, tmp_path: Path) -> Path:
    lib.save(tmp_path / "library.json")
    return tmp_path / "library.json"


@pytest.mark.slow
def test_a_small_soak_passes_and_its_checks_catch_damage(tmp_path):
    work = tmp_path / "soak"
    assert (
        soak.main(
            [
                "--tracks",
                "30",
                "--kills",
                "1",
                "--work",
                str(work),
                "--keep",
                "--no-write",
                "--json",
                str(tmp_path / "summary.json"),
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["files_lost"] == 0 and summary["inconsistent"] == [] and summary["lost"] == []
    assert summary["kills"] == summary["kills_survived"] == 1 and summary["tracks"] >= 20
    assert [r["exit_code"] for r in summary["runs"] if not r["killed"]] == [0, 0]
    assert all(r["leftovers"] == [] for r in summary["runs"])

    # The checks can fail: a leftover temporary, a damaged shard and a vanished encode are each caught.
    lib, data, clean = SoakLibrary.load(work / "library.json"), work / "soak" / "data", work / "clean" / "data"
    version = summary["figures"]["dataset"]["version"]
    shard = Path(read_manifest(data / "datasets" / version).all_shard_paths()[0])  # in the shared pool
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 16] = bytes(range(1, 17))
    shard.write_bytes(bytes(raw))
    (shard.parent / f".{shard.name}.tmp-1-abcd").write_bytes(b"half")
    encode = sorted((data / "encodes").rglob("*.ogg"))[0]
    encode.unlink()
    found = check_data_folder(lib, data, clean, "vorbis-160")
    text = "\n".join(found.inconsistent)
    assert f"{shard.name} is not byte-identical" in text and "orphaned temporary" in text
    assert f"{shard.name}: bytes differ from the sha256" in text
    assert f"missing file (a clean build has it): encodes/vorbis-160/{encode.name}" in text
