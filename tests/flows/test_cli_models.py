"""`ladle models` lists the registry; the word `champion` is resolved under --data, or is one line when there is none."""

from __future__ import annotations

import json

import pytest

from flows.cli import main
from ladle_model.runs.registry import Candidate, record_candidate


def test_models_lists_every_candidate_with_its_verdict_and_reason(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "nightly" / "v1").mkdir(parents=True)  # v2's folder is gone: retention removed it
    assert main(["models", "--data", str(tmp_path)]) == 0
    assert "no candidates" in capsys.readouterr().out
    metrics = {"mp3-64": {"mse": 1.5e-4, "lsd": 0.9, "si_sdr_db": 17.0}}
    record_candidate(tmp_path, Candidate("v1", "runs/nightly/v1", "promoted", "first champion", ["mp3-64"],
                                         metrics=metrics, created_at="2025-01-01T02:00:00+00:00"))  # fmt: skip
    record_candidate(tmp_path, Candidate("v2", "runs/nightly/v2", "rejected", "worse than the champion on mp3-64: LSD",
                                         ["mp3-64"], metrics=metrics, created_at="2025-01-02T02:00:00+00:00"))  # fmt: skip
    assert main(["models", "--data", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["2025-01-01T02:00:00+00:00", "v1", "promoted", "step", "0", "runs/nightly/v1"]
    assert out[1].split() == ["mp3-64:", "mse", "0.00015", "lsd", "0.9", "si_sdr_db", "17"]
    assert "worse than the champion on mp3-64: LSD" in out[5]
    assert out[3].endswith("runs/nightly/v2  (folder removed)")
    assert main(["models", "--data", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["champion"] is None and [r["verdict"] for r in listed["candidates"]] == ["promoted", "rejected"]


@pytest.mark.parametrize(
    "argv",
    [
        ["enhance", "in.mp3", "-o", "out.flac", "--run", "champion", "--data", "DATA"],
        ["enhance", "in.mp3", "-o", "out.flac", "--checkpoint", "champion", "--data", "DATA"],
        ["evaluate", "--run", "champion", "--data", "DATA"],
    ],
)
def test_champion_without_one_is_one_line_that_says_where_it_looked(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.mp3").write_bytes(b"")
    (tmp_path / "DATA").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert "no champion under DATA/models/champion: the nightly flow promotes one" in err
