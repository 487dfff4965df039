"""The simulated month (bench/nightly.py): its library changes as it says, and three nights meet every target."""

from __future__ import annotations

import pytest

from bench import nightly
from bench.soak_library import file_digests


def test_each_night_changes_the_library_in_every_way_it_names(tmp_path):
    nightly.write_first_library(tmp_path, n_albums=2, per_album=3, seconds=0.5)
    before = file_digests(tmp_path)
    changes = nightly.change_library(tmp_path, night=2, per_album=3, seconds=0.5)
    after = file_digests(tmp_path)
    assert [c.split(" ")[0] for c in changes] == ["added", "deleted", "new", "retagged", "corrupt"]
    assert len(set(after) - set(before)) == 3 + 1  # the album and the corrupt file
    assert len(set(before) - set(after)) == 1  # the deleted track
    assert sum(before[p] != after[p] for p in set(before) & set(after)) == 2  # the new master, the retagged file


@pytest.mark.slow
def test_three_nights_on_a_real_server_meet_every_target(tmp_path):
    records = nightly.main(["--nights", "3", "--no-write", "--work", str(tmp_path)])
    assert [r["state"] for r in records] == ["Completed"] * 3
    assert [r["missed"] for r in records] == [[], [], []]
    assert all(r["trained on"] == r["newest version"] for r in records)
    assert len({r["newest version"] for r in records}) == 3  # every night's changes made a new version
