"""docs/cli.md is what `python -m flows.cli.reference` writes from the parsers now, so it cannot go stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flows.cli.reference import cli_reference

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_cli_reference_is_what_the_generator_writes():
    assert (REPO / "docs" / "cli.md").read_text() == cli_reference(), (
        "docs/cli.md is stale: run `python -m flows.cli.reference > docs/cli.md`"
    )


def test_the_reference_names_every_command_option_and_old_spelling():
    text = cli_reference()
    for heading in ("## `ladle train`", "## `ladle enhance`", "## `ladle listen`", "## `ladle calibrate`"):
        assert heading in text
    assert "| `--max-steps MAX_STEPS` | training steps per approach (the same for all) | `200` |" in text
    assert "| `--steps` | `--max-steps` |" in text and "| `ladle train DATA` | `ladle train --data DATA` |" in text
    assert "`--preset PRESET` | lossy codec setting" in text and "vorbis-160" in text  # the choices, spelled out


def test_the_generator_runs_as_a_module(tmp_path):
    done = subprocess.run([sys.executable, "-m", "flows.cli.reference"], capture_output=True, text=True, cwd=REPO,
                          env={"PYTHONPATH": str(REPO), "COLUMNS": "40"}, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == cli_reference()  # the terminal's width does not change it
