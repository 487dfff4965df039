"""The README's WebDataset example, run exactly as printed there, on a dataset laid out as it names it."""

from __future__ import annotations

import pickle
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds

from tests.conftest import write_tiny_dataset

README = Path(__file__).resolve().parents[1] / "README.md"


class _Touch:
    """Unpickling this creates a file: the proof that a reader decoded a pickle."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def _example() -> str:
    (code,) = re.findall(r"```python\n(import webdataset as wds\n.*?)```", README.read_text(), flags=re.S)
    return code


def test_the_readme_webdataset_example_runs_and_reads_no_pickles(tmp_path, monkeypatch):
    code = _example()
    assert ".decode(" not in code and ".map(decode_sample)" in code
    write_tiny_dataset(tmp_path / "data", version="<version>", shards={"train": [2, 2, 2, 2]})
    # A hostile member the example must never decode: unpickling it would create `marker`.
    folder = tmp_path / "data" / "datasets" / "<version>"
    marker = tmp_path / "unpickled"
    shard = folder / "train-000000.tar"
    samples = list(wds.WebDataset(str(shard), shardshuffle=False))
    with wds.TarWriter(str(shard)) as sink:
        for raw in samples:
            members = {k: v for k, v in raw.items() if not k.startswith("__") or k == "__key__"}
            sink.write({**members, "pyd": pickle.dumps(_Touch(str(marker)))})
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)
    key, lossless, lossy, meta = scope["sample"]
    assert lossless.shape == lossy.shape and lossless.shape[0] == 2 and lossless.dtype == np.float32
    assert meta["dataset_version"] == "<version>" and key.startswith(meta["track_id"])
    assert not marker.exists()
    assert sum(1 for _ in wds.WebDataset(str(shard), shardshuffle=False).map(lambda s: s["pyd"])) == 2  # it is there


def _ladle_commands() -> list[str]:
    """Every `ladle ...` line of README.md's fenced shell blocks, comments and continuations joined."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line.startswith("ladle "):
                commands.append(line)
    return commands


def test_the_readme_shows_ladle_commands():
    assert len(_ladle_commands()) >= 10


@pytest.mark.parametrize("command", _ladle_commands())
def test_every_readme_command_parses_with_the_cli(command):
    from flows.cli import build_parser

    argv = shlex.split(command)[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse's way of saying the spelling is not the CLI's
        pytest.fail(f"`{command}` does not parse (exit status {e.code})")
    assert args.command == argv[0]
