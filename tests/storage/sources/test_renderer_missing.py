"""Without tinysoundfont, `ladle demo-corpus` says in one line how to install it, and writes nothing."""

from __future__ import annotations

import importlib.metadata

import pytest

from flows.cli import main
from storage.sources import midi_render


@pytest.fixture
def no_tinysoundfont(monkeypatch):
    """The package metadata lookup as it answers on a machine where tinysoundfont was never installed."""
    real_version = importlib.metadata.version

    def version(name: str) -> str:
        if name == "tinysoundfont":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", version)


def test_the_version_lookup_raises_renderer_missing_with_the_install_command(no_tinysoundfont):
    with pytest.raises(midi_render.RendererMissing, match="pip install --no-deps tinysoundfont==0.3.7"):
        midi_render.tinysoundfont_version()


@pytest.mark.parametrize("extra", [[], ["--pieces", "1", "--workers", "1"]])
def test_demo_corpus_says_how_to_install_it_in_one_line(no_tinysoundfont, tmp_path, capsys, extra):
    with pytest.raises(SystemExit) as exit_:
        main(["demo-corpus", str(tmp_path / "lib"), "--max-seconds", "2", *extra])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("ladle: error: ") and "`pip install --no-deps tinysoundfont==0.3.7`" in err
    assert not list(tmp_path.rglob("*.flac"))
