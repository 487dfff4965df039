"""The `nightly` flow under a temporary Prefect server: a new version trains a challenger once, and the decision."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.nightly import change_library, night_parameters, parse_args, write_first_library
from ladle_model.evaluation.verdict import verdict
from tests.flows.test_train_ladle import read_artifacts


def evaluation(run_dir: str, means: dict[str, dict[str, float]], lossy: dict[str, float]) -> dict:
    """An evaluate-ladle result (its `presets` summaries) from each preset's model means."""
    return {
        "run_dir": run_dir,
        "presets": {
            preset: {
                "summary": [
                    {"metric": k, "model": v, "lossy_input": lossy[k], "verdict": verdict(k, lossy[k], v)}
                    for k, v in model.items()
                ]
            }  # fmt: skip
            for preset, model in means.items()
        },
    }


def test_a_challenger_worse_on_one_preset_is_kept_out_and_the_artifact_names_the_metric(prefect_harness, tmp_path):
    from prefect import flow

    from ladle_model.runs.registry import find_candidate
    from tasks.nightly import DECISION_ARTIFACT, decide_task, publish_decision_task

    lossy = {"mse": 2.0e-4, "lsd": 1.2}
    good = {"mse": 1.5e-4, "lsd": 1.0}
    champion = evaluation("champion", {"vorbis-160": good, "mp3-128": good}, lossy)
    challenger = evaluation("runs/nightly/v2", {"vorbis-160": good, "mp3-128": {**good, "lsd": 1.08}}, lossy)

    @flow
    def night() -> dict:
        row = decide_task(str(tmp_path), "v2", challenger, champion, {"step": 40, "model": "specnext"}, "specnext", 1.0)
        publish_decision_task(row)
        return row

    row = night()
    assert row["verdict"] == "rejected" and "worse than the champion on mp3-128: LSD 1.08 vs 1" in row["reason"]
    assert find_candidate(tmp_path, "v2")["blockers"][0]["metric"] == "lsd"
    assert not (tmp_path / "models" / "champion").exists()  # nothing promoted
    markdown = read_artifacts([DECISION_ARTIFACT])[DECISION_ARTIFACT].data
    assert "# Champion kept" in markdown and "| mp3-128 | LSD | champion | 1.08 | 1 |" in markdown


@pytest.mark.slow
def test_each_new_version_trains_one_challenger_and_a_repeated_trigger_trains_nothing(prefect_harness, tmp_path):
    from flows.nightly import nightly
    from ladle_model.runs.registry import read_candidates

    write_first_library(tmp_path / "library", n_albums=2, per_album=3, seconds=2.0)
    params = night_parameters(tmp_path, parse_args(["--max-steps", "4", "--keep", "1"]))
    first = nightly(**params)
    assert first["trained"] and first["trained_on"] == first["dataset_version"]
    again = nightly(**params)  # the same library: the same version, already done
    assert not again["trained"] and again["dataset_version"] == first["dataset_version"]
    change_library(tmp_path / "library", night=2, per_album=3, seconds=2.0)
    second = nightly(**params)
    assert second["trained"] and second["dataset_version"] != first["dataset_version"]
    assert second["trained_on"] == second["dataset_version"]
    # from the champion, or before any promotion from the first night's challenger: a warm start either way
    assert second["seeded_from"] == ("champion" if first["verdict"] == "promoted" else first["run_dir"])
    assert second["warm_start"]
    rows = read_candidates(tmp_path / "data")
    assert [r["dataset_version"] for r in rows] == [first["dataset_version"], second["dataset_version"]]
    kept = second["pruned"]["kept"]  # keep 1, and the champion's version whatever its age
    assert second["dataset_version"] in kept
    champion_is_first = first["verdict"] == "promoted" and second["verdict"] != "promoted"
    assert (first["dataset_version"] in kept) == champion_is_first
    # keep 1: the first challenger's run folder goes, unless the champion was promoted from it
    assert second["runs_removed"] == ([] if champion_is_first else [first["run_dir"]])
    assert Path(first["run_dir"]).is_dir() == champion_is_first and Path(second["run_dir"]).is_dir()
