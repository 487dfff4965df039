"""The `ladle` command's parsing and one-line errors: no flow runs here."""

from __future__ import annotations

import pytest

from flows.cli import build_parser, main
from ladle_model.registry import MODEL_NAMES


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
        ('{"model_overrides": {"bogus": 1}}', "LadLeConfig: unknown key(s) ['bogus']"),
        ('{"lr": "fast"}', "TrainConfig.lr: expected float"),
        ('{"lr": ', "--overrides is not valid JSON"),
        ('[1, 2]', "--overrides must be a JSON object"),
    ],
)
def test_a_bad_override_is_one_line_on_stderr_before_any_flow(tmp_path, capsys, overrides, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(tmp_path / "no-data"), "--run", str(tmp_path / "run"), "--overrides", overrides])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("ladle: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()
