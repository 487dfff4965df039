"""Training data selection: a group of presets (`wideband`) names each of its members' datasets."""

from __future__ import annotations

import pytest

from flows.cli import main
from ladle_model.data.selection import resolve_training_data
from storage.config import PRESET_GROUPS
from tests.conftest import write_tiny_dataset

MEMBERS = PRESET_GROUPS["wideband"]


def _data(folder, presets) -> None:
    for i, preset in enumerate(presets):
        write_tiny_dataset(folder, version=f"v{i:02d}", preset=preset, seed=i)


def test_a_group_trains_on_every_member_and_a_missing_member_is_named(tmp_path, capsys):
    _data(tmp_path / "all", MEMBERS)
    data = resolve_training_data(tmp_path / "all", presets="wideband")
    assert sorted(data.presets) == sorted(MEMBERS) and len(data.manifests) == len(MEMBERS)
    again = resolve_training_data(tmp_path / "all", presets=["mp3-64", "wideband"])  # a member named too: once
    assert again.version == data.version

    partial = tmp_path / "partial"
    _data(partial, [p for p in MEMBERS if p != "opus-24"])
    with pytest.raises(FileNotFoundError) as error:
        resolve_training_data(partial, presets="wideband")
    message = str(error.value)
    assert "opus-24" in message and f"ladle build-corpus SOURCE --data {partial} --preset wideband`" in message
    assert resolve_training_data(partial, presets=["mp3-64"]).presets == ["mp3-64"]  # a plain preset as before

    with pytest.raises(SystemExit) as exit_info:  # `ladle train --preset wideband`: the same, in one line
        main(["train", "--data", str(partial), "--run", str(tmp_path / "run"), "--preset", "wideband"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "opus-24" in err and "Traceback" not in err
