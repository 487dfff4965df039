"""Fast commands: `ladle --help` and `catalog` import no heavy library; a no-op build skips the flow.

The skip (storage/build_fingerprint.py) is checked both ways: an unchanged library prints what a
cached flow run reports without starting Prefect, and each kind of change runs the flow again.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.cli import main
from storage import build_fingerprint as bf
from storage.catalog import RunRecord, append_run, build_summary, read_rows
from storage.lock import data_lock
from tests.conftest import tone_pcm, write_pcm, write_tiny_dataset

HEAVY = ("torch", "prefect", "matplotlib", "pandas", "torchaudio", "dask")
VOLATILE = {"finished_at", "seconds", "unchanged_since"}  # this command's, not the build's


def _env(tmp_path: Path) -> dict:
    return {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def _modules_after(argv: list[str] | list[list[str]], tmp_path: Path) -> tuple[set[str], str]:
    """The top-level packages `ladle ARGV` (each ARGV in turn) imported, run in a process of its own; and its stdout."""
    script = (
        "import json, sys\n"
        "from flows.cli import main\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    try:\n        status = main(argv)\n    except SystemExit as e:\n        status = e.code\n"
        "    assert not status, (argv, status)\n"
        "print('MODULES', json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    argvs = argv if isinstance(argv[0], list) else [argv]
    done = subprocess.run([sys.executable, "-c", script, json.dumps(argvs)], env=_env(tmp_path), capture_output=True,
                          text=True, timeout=300, cwd=Path(__file__).parents[2])  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES "))), done.stdout


def _run(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return out.getvalue()


# ----------------------------------------------------------------------------- imports


def test_ladle_help_imports_no_heavy_library(tmp_path):
    modules, stdout = _modules_after(["--help"], tmp_path)
    assert "usage: ladle" in stdout and "build-corpus" in stdout
    # numpy too: the preset and strategy choices are named only when an option is used or its help shown
    assert not modules & {*HEAVY, "pyarrow", "fsspec", "numpy"}, modules & {*HEAVY, "pyarrow", "fsspec", "numpy"}


def test_every_command_help_imports_no_heavy_library(tmp_path):
    from flows.cli import build_parser

    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert {"build-corpus", "catalog", "train", "listen"} <= set(commands.choices)
    modules, stdout = _modules_after([[name, "--help"] for name in commands.choices], tmp_path)
    assert all(f"usage: ladle {name}" in stdout for name in commands.choices)
    assert not modules & {*HEAVY, "pyarrow", "fsspec"}, modules & {*HEAVY, "pyarrow", "fsspec"}


def test_help_lists_the_preset_choices_and_refuses_an_unknown_one(capsys):
    with pytest.raises(SystemExit):
        main(["build-corpus", "--help"])
    help_text = capsys.readouterr().out
    assert "vorbis-160" in help_text and "mp3-24" in help_text and "wideband" in help_text  # groups too
    with pytest.raises(SystemExit) as e:
        main(["build-corpus", "lib", "--data", "d", "--preset", "wma-64"])
    assert e.value.code == 2 and "invalid choice: 'wma-64'" in capsys.readouterr().err


def test_catalog_imports_no_heavy_library(tmp_path):
    data = tmp_path / "data"
    write_tiny_dataset(data)
    append_run(data, RunRecord("2026-01-01T00:00:00+00:00", 1.0, 3, 3, 0, 2, 0))
    modules, stdout = _modules_after(["catalog", "--data", str(data)], tmp_path)
    assert "0 tracks, 0 duplicates, 0 quarantined" in stdout
    assert "pyarrow" in modules and not modules & set(HEAVY), modules & set(HEAVY)


# ----------------------------------------------------------------------------- no-op build, end to end


@pytest.fixture(scope="module")
def built(tmp_path_factory, prefect_harness):
    """A library of three short tones, built once by `ladle build-corpus`: (argv, data folder, library, stdout)."""
    root = tmp_path_factory.mktemp("fast")
    for i in range(3):
        write_pcm(root / "library" / f"{i}.flac", tone_pcm(1.0, seed=700 + i))
    argv = ["build-corpus", str(root / "library"), "--data", str(root / "data"), "--preset", "vorbis-160",
            "--segment-seconds", "0.25"]  # fmt: skip
    stdout = _run(argv)
    assert "encoded: 3" in stdout and (root / "data" / bf.RECORD_NAME).is_file()
    return argv, root / "data", root / "library", stdout


@pytest.mark.slow
def test_a_noop_rerun_skips_the_flow_and_reports_what_a_cached_run_does(built, monkeypatch):
    argv, data, _, _ = built
    n_runs = len(read_rows(data, "runs"))
    import flows.build_corpus
    import flows.cli.corpus

    def no_flow(*args, **kwargs):
        raise AssertionError("the flow ran")

    monkeypatch.setattr(flows.build_corpus, "build_corpus", no_flow)
    monkeypatch.setattr(flows.cli.corpus, "start_temporary_server", no_flow)
    text = _run(argv)
    skipped = json.loads(_run([*argv, "--json"]))
    assert len(read_rows(data, "runs")) == n_runs  # no flow run recorded
    assert "encoded: 0  reused from cache: 3  shards written: 0" in text
    assert "the flow did not run" in text and skipped["unchanged_since"]

    monkeypatch.undo()
    cached = json.loads(_run([*argv, "--json", "--force"]))  # the flow itself, finding everything cached
    assert len(read_rows(data, "runs")) == n_runs + 1
    assert cached["n_encoded"] == 0 and cached["n_shards_written"] == 0
    assert {k: v for k, v in skipped.items() if k not in VOLATILE} == {
        k: v for k, v in cached.items() if k not in VOLATILE
    }


@pytest.mark.slow
def test_a_noop_rerun_in_its_own_process_imports_no_prefect(built, tmp_path):
    argv, data, _, _ = built
    modules, stdout = _modules_after(argv, tmp_path)
    assert "the flow did not run" in stdout
    assert not modules & set(HEAVY), modules & set(HEAVY)


@pytest.mark.slow
def test_a_deleted_shard_runs_the_flow_until_it_is_back(built):
    argv, data, _, _ = built
    shard = next((data / "shards").rglob("*.tar"))  # the pool (storage/pool.py)
    n_runs = len(read_rows(data, "runs"))
    shard.rename(shard.with_suffix(".kept"))
    assert "the flow did not run" not in _run(argv)
    assert len(read_rows(data, "runs")) == n_runs + 1
    # The flow does not rewrite a shard of a finished dataset, so no record promises one.
    assert not (data / bf.RECORD_NAME).exists()
    shard.with_suffix(".kept").rename(shard)
    assert "the flow did not run" not in _run(argv)  # no record: the flow runs, and records
    assert "the flow did not run" in _run(argv)
    assert len(read_rows(data, "runs")) == n_runs + 2


# ----------------------------------------------------------------------------- what counts as a change


PARAMS = {"presets": ["vorbis-160"], "strategy": "resample", "segment_seconds": 0.25, "hop_seconds": None,
          "sample_rate": 8000, "group_by_album": False, "shard_target_mb": 256.0}  # fmt: skip


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    """A library and a data folder as a build leaves them, recorded: (library, data, fingerprint, summary).

    The sources are older than the (shortened) racy window, so their metadata identifies them.
    """
    library, data = tmp_path / "library", tmp_path / "data"
    for i in range(2):
        write_pcm(library / "album" / f"{i}.flac", tone_pcm(0.5, seed=800 + i))
    monkeypatch.setattr(bf, "RACY_SECONDS", 0.05)
    time.sleep(0.1)  # past the racy window; a later change gets another ctime tick (a few ms on Linux)
    manifest = write_tiny_dataset(data)
    run = RunRecord("2026-01-01T00:00:00+00:00", 12.5, 2, 2, 0, 3, 0)
    append_run(data, run)
    summary = build_summary(run, 0, 0, [], [manifest], str(data), [])
    fingerprint = bf.build_fingerprint([str(library)], str(data), PARAMS)
    assert fingerprint.hashed == ()
    assert bf.record_build(str(data), fingerprint, summary) == data / bf.RECORD_NAME
    return library, data, fingerprint, summary


def test_an_unchanged_build_reports_the_recorded_one_as_a_cached_run(recorded):
    library, data, fingerprint, summary = recorded
    assert bf.build_fingerprint([str(library)], str(data), dict(PARAMS)) == fingerprint
    unchanged = bf.unchanged_summary(str(data), fingerprint)
    assert unchanged["datasets"] == summary["datasets"] and unchanged["n_tracks"] == 2
    assert (unchanged["n_encoded"], unchanged["n_encodes_reused"], unchanged["n_shards_written"]) == (0, 2, 0)
    assert unchanged["last_encoding_run_seconds"] == 12.5
    assert unchanged["unchanged_since"] == "2026-01-01T00:00:00+00:00"


def _rewrite_bytes(library: Path, data: Path) -> None:
    path = library / "album" / "0.flac"
    content = bytearray(path.read_bytes())
    content[-1] ^= 1
    stat = path.stat()
    path.write_bytes(bytes(content))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime: only the bytes differ


CHANGES = {
    "source bytes": _rewrite_bytes,
    "source touched": lambda library, data: os.utime(library / "album" / "1.flac", ns=(1, 10**18)),
    "new source file": lambda library, data: write_pcm(library / "album" / "2.flac", tone_pcm(0.5, seed=802)),
    "new CUE sheet": lambda library, data: (library / "album" / "disc.cue").write_text("FILE x.wav WAVE\n"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_changed_source_changes_the_fingerprint(recorded, change):
    library, data, fingerprint, _ = recorded
    CHANGES[change](library, data)
    new = bf.build_fingerprint([str(library)], str(data), PARAMS)
    assert new != fingerprint and bf.unchanged_summary(str(data), new) is None


def test_a_source_changed_just_now_is_identified_by_its_bytes(tmp_path):
    library = tmp_path / "library"
    path = write_pcm(library / "0.flac", tone_pcm(0.5, seed=810))
    original, stat = path.read_bytes(), path.stat()
    fingerprint = bf.build_fingerprint([str(library)], str(tmp_path / "data"), PARAMS)
    assert fingerprint.hashed == (str(path),)  # written within RACY_SECONDS: its metadata may not tell a change

    def rewrite(content: bytes) -> bf.Fingerprint:
        path.write_bytes(content)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        return bf.build_fingerprint([str(library)], str(tmp_path / "data"), PARAMS, hashed=fingerprint.hashed)

    assert rewrite(original[:-1] + bytes([original[-1] ^ 1])).digest != fingerprint.digest
    assert rewrite(original).digest == fingerprint.digest


@pytest.mark.parametrize("key, value", [("presets", ["vorbis-160", "paper-32k"]), ("presets", ["mp3-128"]),
                                        ("segment_seconds", 0.5), ("group_by_album", True)])  # fmt: skip
def test_other_parameters_change_the_fingerprint(recorded, key, value):
    library, data, fingerprint, _ = recorded
    assert bf.build_fingerprint([str(library)], str(data), {**PARAMS, key: value}) != fingerprint


def test_an_unreadable_folder_is_part_of_the_listing_not_an_error(tmp_path, monkeypatch):
    write_pcm(tmp_path / "library" / "a.flac", tone_pcm(0.25, seed=2))
    locked = tmp_path / "library" / "locked"
    write_pcm(locked / "b.flac", tone_pcm(0.25, seed=3))
    real_scandir = os.scandir

    def scandir(path):  # what a folder without read permission does (root reads it anyway)
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(bf.os, "scandir", scandir)
    rows = bf.source_listing([str(tmp_path / "library")])
    assert [(Path(r[0]).name, len(r)) for r in rows] == [("a.flac", 5), ("locked", 2)]
    assert rows[1][1] == "unreadable: PermissionError"
    assert bf.build_fingerprint([str(tmp_path / "library")], str(tmp_path / "data"), PARAMS) is not None


def test_a_change_inside_a_linked_folder_is_seen_and_a_link_cycle_ends(tmp_path):
    write_pcm(tmp_path / "elsewhere" / "a.flac", tone_pcm(0.25, seed=4))
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "linked").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere" / "loop").symlink_to(tmp_path / "library")
    before = bf.source_listing([str(tmp_path / "library")])
    assert [Path(r[0]).relative_to(tmp_path).as_posix() for r in before] == [
        "library/linked", "library/linked/a.flac", "library/linked/loop"]  # fmt: skip
    write_pcm(tmp_path / "elsewhere" / "b.flac", tone_pcm(0.25, seed=5))
    assert len(bf.source_listing([str(tmp_path / "library")])) == 4


def test_the_data_folder_inside_a_source_is_not_a_source(tmp_path):
    write_pcm(tmp_path / "a.flac", tone_pcm(0.25, seed=1))
    before = bf.build_fingerprint([str(tmp_path)], str(tmp_path / "data"), PARAMS)
    write_tiny_dataset(tmp_path / "data")
    assert bf.build_fingerprint([str(tmp_path)], str(tmp_path / "data"), PARAMS) == before


def _delete_a_shard(data: Path) -> None:
    next((data / "datasets").rglob("*.tar")).unlink()


def _rewrite_the_catalog(data: Path) -> None:
    append_run(data, RunRecord("2026-01-02T00:00:00+00:00", 1.0, 2, 0, 2, 0, 0))


ARTIFACT_CHANGES = {
    "deleted shard": _delete_a_shard,
    "deleted manifest": lambda data: next((data / "datasets").rglob("manifest.json")).unlink(),
    "another build's catalog": _rewrite_the_catalog,
    "extra file in the dataset": lambda data: (next((data / "datasets").iterdir()) / "stray.tar").write_bytes(b"x"),
    "no record": lambda data: (data / bf.RECORD_NAME).unlink(),
    "damaged record": lambda data: (data / bf.RECORD_NAME).write_text("{"),
}


@pytest.mark.parametrize("change", sorted(ARTIFACT_CHANGES))
def test_a_changed_artifact_runs_the_flow(recorded, change):
    _, data, fingerprint, _ = recorded
    ARTIFACT_CHANGES[change](data)
    assert bf.unchanged_summary(str(data), fingerprint) is None


def test_another_build_holding_the_lock_runs_the_flow(recorded):
    _, data, fingerprint, _ = recorded
    with data_lock(data):
        assert bf.unchanged_summary(str(data), fingerprint) is None
    assert bf.unchanged_summary(str(data), fingerprint) is not None


def test_remote_locations_are_never_skipped(recorded):
    library, data, _, _ = recorded
    assert bf.build_fingerprint([str(library)], "s3://bucket/data", PARAMS) is None
    assert bf.build_fingerprint(["s3://bucket/library"], str(data), PARAMS) is None
    assert bf.unchanged_summary(str(data), None) is None


def test_a_transient_failure_or_a_later_build_is_not_recorded(recorded):
    _, data, fingerprint, summary = recorded
    transient = {**summary, "quarantine": [{"path": "x.flac", "stage": "encode", "preset": None,
                                           "reason": "failed after retries: OSError: disk full"}]}  # fmt: skip
    assert bf.record_build(str(data), fingerprint, transient) is None
    assert not (data / bf.RECORD_NAME).exists()  # the older record is gone too
    assert bf.record_build(str(data), fingerprint, summary) is not None
    _rewrite_the_catalog(data)  # another build finished after this one
    assert bf.record_build(str(data), fingerprint, summary) is None


# ----------------------------------------------------------------------------- a running server


SERVER_SCRIPT = """
import os
import prefect.server.api.server as server_module
from flows.cli.server import start_temporary_server

class FakeServer:
    api_url = "http://127.0.0.1:1/fake-temporary/api"
    def start(self, timeout):
        print("STARTED")

server_module.SubprocessASGIServer = FakeServer
start_temporary_server()
print("URL", os.environ.get("PREFECT_API_URL"))
"""


@pytest.mark.slow
@pytest.mark.parametrize("api_url", ["http://127.0.0.1:4200/api", None])
def test_a_server_named_by_prefect_api_url_is_used_not_a_temporary_one(api_url, tmp_path):
    env = {k: v for k, v in _env(tmp_path).items() if k != "PREFECT_API_URL"}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    done = subprocess.run([sys.executable, "-c", SERVER_SCRIPT], env=env, capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).parents[2])  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    if api_url:
        assert "STARTED" not in done.stdout and f"URL {api_url}" in done.stdout
    else:
        assert "STARTED" in done.stdout and "URL http://127.0.0.1:1/fake-temporary/api" in done.stdout


def test_a_fifo_among_the_sources_is_listed_never_opened(tmp_path):
    """Opening a FIFO with no writer blocks forever; a freshly written library is all "racy" (hashed)."""
    write_pcm(tmp_path / "lib" / "a.flac", tone_pcm(0.2, seed=1))
    os.mkfifo(tmp_path / "lib" / "pipe.flac")
    fingerprint = bf.build_fingerprint([str(tmp_path / "lib")], str(tmp_path / "data"), {"presets": ["vorbis-160"]})
    assert fingerprint is not None and len(fingerprint.digest) == 64
    assert bf._content_sha256(str(tmp_path / "lib" / "pipe.flac")) == "not a regular file"


def test_a_symlink_loop_among_the_sources_is_listed_not_fatal(tmp_path):
    write_pcm(tmp_path / "lib" / "a.flac", tone_pcm(0.2, seed=2))
    (tmp_path / "lib" / "loop-a.flac").symlink_to(tmp_path / "lib" / "loop-b.flac")
    (tmp_path / "lib" / "loop-b.flac").symlink_to(tmp_path / "lib" / "loop-a.flac")
    rows = bf.source_listing([str(tmp_path / "lib")])
    assert [Path(r[0]).name for r in rows] == ["a.flac", "loop-a.flac", "loop-b.flac"]
