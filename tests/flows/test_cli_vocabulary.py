"""One CLI vocabulary: `--data`, `--run`, `--checkpoint FILE`, `--max-steps`, `--max-tracks`, `--force`.

Each old spelling still parses to what the new one does, with exactly one notice line on stderr;
every option says what it is; a bad --preset is a one-line usage error wherever --preset is taken.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import build_parser, main

REPO = Path(__file__).resolve().parents[2]
NOTICE = re.compile(r"^ladle: warning: '.+' is deprecated; use '.+'$")


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {"": parser, **commands.choices}


def _parse(argv: list[str], capsys) -> tuple[argparse.Namespace, list[str]]:
    args = build_parser().parse_args(argv)
    return args, capsys.readouterr().err.splitlines()


# (old argv, new argv): each pair must parse to the same values
SPELLINGS = [
    (["catalog", "d"], ["catalog", "--data", "d"]),
    (["train", "d", "--run", "r"], ["train", "--data", "d", "--run", "r"]),
    (["train", "--run", "r", "d"], ["train", "--run", "r", "--data", "d"]),
    (["calibrate", "r", "--data", "d"], ["calibrate", "--run", "r", "--data", "d"]),
    (["calibrate", "--run", "r", "--data", "d", "--again"], ["calibrate", "--run", "r", "--data", "d", "--force"]),
    (["table1", "lib", "--out", "o", "--steps", "7"], ["table1", "lib", "--out", "o", "--max-steps", "7"]),
    (["table1", "lib", "--out", "o", "--tracks", "2"], ["table1", "lib", "--out", "o", "--max-tracks", "2"]),
    (
        ["evaluate", "--run", "r", "--data", "d", "--tracks", "2"],
        ["evaluate", "--run", "r", "--data", "d", "--max-tracks", "2"],
    ),  # fmt: skip
    (["demo-corpus", "out", "--tracks", "3"], ["demo-corpus", "out", "--max-tracks", "3"]),
    (
        ["table1", "lib", "--out", "o", "--steps", "7", "--steps", "8"],
        ["table1", "lib", "--out", "o", "--max-steps", "8"],
    ),
]


def _values(args: argparse.Namespace) -> dict:
    return {k: v for k, v in vars(args).items() if not k.startswith("_") and k != "handler"}


@pytest.mark.parametrize("old, new", SPELLINGS, ids=[" ".join(old) for old, _ in SPELLINGS])
def test_an_old_spelling_parses_as_the_new_one_with_one_notice(old, new, capsys):
    old_args, old_err = _parse(old, capsys)
    new_args, new_err = _parse(new, capsys)
    assert _values(old_args) == _values(new_args)
    assert len(old_err) == 1 and NOTICE.match(old_err[0]), old_err
    assert new_err == []


def test_the_positional_and_its_option_together_is_one_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["catalog", "d", "--data", "d"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "give DATA once, as --data DATA" in err


@pytest.mark.parametrize("command", ["catalog", "train", "calibrate"])
def test_the_new_option_is_still_required(command, capsys):
    with pytest.raises(SystemExit) as e:
        main(
            [command, "--run", "r"]
            if command == "train"
            else [command, "--data", "d"]
            if command == "calibrate"
            else [command]
        )
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "the following arguments are required" in err


def test_a_deprecated_positional_prints_its_notice_before_the_commands_own_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["catalog", str(tmp_path / "none")])
    err = capsys.readouterr().err.splitlines()
    assert e.value.code == 2 and len(err) == 2
    assert err[0] == "ladle: warning: 'ladle catalog DATA' is deprecated; use 'ladle catalog --data DATA'"
    assert err[1] == f"ladle: error: no data folder at {tmp_path / 'none'}"


def test_enhance_takes_a_run_or_a_checkpoint_file_not_both(capsys):
    assert build_parser().parse_args(["enhance", "a.ogg", "-o", "b.flac", "--run", "r"]).run == "r"
    for argv in (
        ["enhance", "a.ogg", "-o", "b.flac"],
        ["enhance", "a.ogg", "-o", "b.flac", "--run", "r", "--checkpoint", "c.pt"],
    ):
        with pytest.raises(SystemExit) as e:
            main(argv)
        err = capsys.readouterr().err
        assert e.value.code == 2 and err.count("\n") == 1 and "--run" in err and "--checkpoint" in err


def test_enhance_with_a_run_folder_as_checkpoint_warns_once(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    with pytest.raises(SystemExit) as e:  # an empty run folder: the notice, then the command's own one line
        main(["enhance", str(tmp_path), "-o", str(tmp_path / "out"), "--checkpoint", str(tmp_path / "run")])
    err = capsys.readouterr().err.splitlines()
    assert e.value.code == 2 and len(err) == 2 and NOTICE.match(err[0]) and "--run" in err[0]
    assert "no checkpoint" in err[1]


def test_enhance_run_must_be_a_folder(tmp_path, capsys):
    (tmp_path / "best.pt").write_bytes(b"x")
    with pytest.raises(SystemExit) as e:
        main(["enhance", str(tmp_path), "-o", str(tmp_path / "out"), "--run", str(tmp_path / "best.pt")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "--checkpoint" in err


@pytest.mark.parametrize("which", ["best", "last"])
def test_evaluate_checkpoint_best_or_last_is_which_with_a_notice(which, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "data").mkdir()
    argv = ["evaluate", "--run", str(tmp_path / "run"), "--data", str(tmp_path / "data")]
    with pytest.raises(SystemExit) as e:  # no checkpoint in the run: one line after the notice
        main([*argv, "--checkpoint", which])
    err = capsys.readouterr().err.splitlines()
    assert e.value.code == 2 and len(err) == 2, err
    assert (
        err[0]
        == f"ladle: warning: 'ladle evaluate --checkpoint {which}' is deprecated; use 'ladle evaluate --which {which}'"
    )
    with pytest.raises(SystemExit):
        main([*argv, "--which", which])
    assert capsys.readouterr().err.splitlines() == err[1:]  # the same error, without the notice
    assert build_parser().parse_args(argv).which == "best"


def test_listen_results_run_is_run_and_results_with_a_notice(tmp_path, capsys):
    assert main(["listen", "--results", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and NOTICE.match(err[0]) and "--run" in err[0] and "no run folder" in err[1]
    assert main(["listen", "--run", str(tmp_path / "none"), "--results"]) == 2
    assert capsys.readouterr().err.splitlines() == err[1:]


PRESET_COMMANDS = {
    "build-corpus": ["build-corpus", "lib", "--data", "d"],
    "rip": ["rip", "/dev/cdrom", "--out", "o"],
    "train": ["train", "--data", "d", "--run", "r"],
    "evaluate": ["evaluate", "--run", "r", "--data", "d"],
    "listen": ["listen", "--run", "r", "--data", "d"],
}


def test_every_command_that_takes_a_preset_is_listed_here():
    taking = {name for name, p in _commands().items() if any("--preset" in a.option_strings for a in p._actions)}
    assert taking == set(PRESET_COMMANDS)


@pytest.mark.parametrize("command", sorted(PRESET_COMMANDS))
def test_a_bad_preset_is_a_one_line_usage_error(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([*PRESET_COMMANDS[command], "--preset", "wma-64"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "invalid choice: 'wma-64'" in err
    assert build_parser().parse_args([*PRESET_COMMANDS[command], "--preset", "paper-32k"]).preset == ["paper-32k"]


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_option_and_positional_says_what_it_is(command):
    parser = _commands()[command]
    for action in parser._actions:
        if action.help is argparse.SUPPRESS:  # a deprecated spelling: listed in docs/cli.md, not in --help
            continue
        assert action.help and action.help.strip(), (
            f"ladle {command}: {action.option_strings or action.dest} has no help"
        )
    help_text = parser.format_help()
    for action in parser._actions:  # a default worth showing is shown
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS) and action.help:
            assert "default" in parser._get_formatter()._expand_help(action) or "%(default)" in action.help, (
                command, action.option_strings)  # fmt: skip
    assert "usage:" in help_text


def test_version_is_the_packages(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"ladle {version('ladle')}\n"


def test_version_without_the_package_installed_is_pyprojects(monkeypatch):
    import importlib.metadata

    from flows.cli import common

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    (line,) = [ln for ln in (REPO / "pyproject.toml").read_text().splitlines() if ln.startswith("version =")]
    assert common.ladle_version() == line.split('"')[1]


def test_version_through_the_console_script():
    done = subprocess.run([str(Path(sys.executable).with_name("ladle")), "--version"], capture_output=True, text=True,
                          timeout=120, cwd=REPO)  # fmt: skip
    assert done.returncode == 0 and re.fullmatch(r"ladle \d+\.\d+\.\d+\S*\n", done.stdout), done
