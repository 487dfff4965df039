"""The `ladle` command's parsing and one-line errors: no flow runs here."""

from __future__ import annotations

import pytest

from flows.cli import build_parser, main
from flows.cli.common import fmt_number
from ladle_model.models.registry import MODEL_NAMES
from tests.conftest import write_tiny_dataset


def _choices(command: str, flag: str) -> tuple:
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]
    (action,) = [a for a in sub._actions if flag in a.option_strings]
    return tuple(action.choices)


def test_model_choices_come_from_the_registry():
    assert _choices("train", "--model") == _choices("table1", "--model") == MODEL_NAMES


@pytest.mark.parametrize(
    "overrides, message",
    [
        ('{"model_overrides": {"bogus": 1}}', "SpecNeXtConfig: unknown key(s) ['bogus']"),  # the default recipe's model
        ('{"lr": "fast"}', "TrainConfig.lr: expected float"),
        ('{"lr": ', "--overrides is not valid JSON"),
        ("[1, 2]", "--overrides must be a JSON object"),
    ],
)
def test_a_bad_override_is_one_line_on_stderr_before_any_flow(tmp_path, capsys, overrides, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", str(tmp_path / "no-data"), "--run", str(tmp_path / "run"), "--overrides", overrides])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("ladle: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory):
    """A data folder holding two dataset versions: the normal state once a library grows."""
    data = tmp_path_factory.mktemp("two") / "data"
    write_tiny_dataset(data, version="aaaa00000001", preset="vorbis-160")
    write_tiny_dataset(data, version="bbbb00000002", preset="mp3-128")
    return data


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "several datasets match"),
        (["--dataset", "nosuch"], "no dataset under"),
        (["--overrides", '{"lr": -1}'], "TrainConfig.lr must be > 0, got -1"),
        (["--overrides", "[1]"], "--overrides must be a JSON object"),
    ],
)
def test_train_mistakes_are_one_line_before_any_flow(two_datasets, tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", str(two_datasets), "--run", str(tmp_path / "run"), *extra])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_train_on_a_file_as_data_is_one_line(tmp_path, capsys):
    (tmp_path / "data.txt").write_text("not a folder")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", str(tmp_path / "data.txt"), "--run", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "is a file" in err and err.count("\n") == 1


def test_numbers_print_with_sensible_precision():
    assert fmt_number(0.00019112999143544585) == "0.0001911" and fmt_number(12.3456789) == "12.35"
    assert fmt_number(None) == "n/a" and fmt_number(float("nan")) == "n/a"


def test_a_run_folder_of_another_model_config_is_one_line_before_any_flow(two_datasets, tmp_path, capsys):
    from ladle_model.models.build import model_config_dict
    from ladle_model.runs.checkpoint import CHECKPOINT_FORMAT
    from ladle_model.runs.folder import RunDir, save_checkpoint_file

    run = RunDir(tmp_path / "run")
    run.checkpoints.mkdir(parents=True)
    save_checkpoint_file(
        {
            "format": CHECKPOINT_FORMAT,
            "step": 800,
            "model_name": "specnext",
            "model": {},
            "config": {"model": model_config_dict("specnext"), "train": {}},
        },
        run.last,
    )
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "train",
                "--data",
                str(two_datasets),
                "--run",
                str(run.root),
                "--dataset",
                "aaaa00000001",
                "--overrides",
                '{"model_overrides": {"dim": 64}}',
            ]
        )
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "holds a checkpoint at step 800 of model 'specnext'" in err and err.rstrip().endswith(
        "use another run folder"
    )


def test_train_with_another_model_than_the_recipes_leaves_out_the_recipes_model_options(two_datasets, tmp_path, capsys):
    from ladle_model.models.build import model_config_dict
    from ladle_model.runs.checkpoint import CHECKPOINT_FORMAT
    from ladle_model.runs.folder import RunDir, save_checkpoint_file

    run = RunDir(tmp_path / "run")
    run.checkpoints.mkdir(parents=True)
    save_checkpoint_file(
        {
            "format": CHECKPOINT_FORMAT,
            "step": 5,
            "model_name": "ladle",
            "model": {},
            "config": {"model": model_config_dict("ladle"), "train": {}},
        },
        run.last,
    )
    with pytest.raises(SystemExit) as exit_info:  # the default recipe's noise_fill is not drrn1d's: the config passes
        main(
            [
                "train",
                "--data",
                str(two_datasets),
                "--run",
                str(run.root),
                "--dataset",
                "aaaa00000001",
                "--model",
                "drrn1d",
            ]
        )
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "of model 'ladle'" in err and "noise_fill" not in err
