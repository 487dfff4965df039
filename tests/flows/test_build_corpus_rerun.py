"""Re-running build-corpus on an unchanged library: nothing decoded at ingest, the very same shards."""

import os

import pytest

from flows.build_corpus import build_corpus
from storage import ingest
from storage.catalog import read_rows
from tests.conftest import tone_pcm, write_pcm

pytestmark = pytest.mark.slow


def test_touched_sources_are_not_decoded_again_and_changed_ones_are(prefect_harness, tmp_path, monkeypatch):
    library, data = tmp_path / "lib", tmp_path / "data"
    paths = [write_pcm(library / f"{i}.flac", tone_pcm(1.2, seed=500 + i)) for i in range(3)]
    decoded = []
    real = ingest.ingest_file
    monkeypatch.setattr(ingest, "ingest_file", lambda p: decoded.append(os.path.basename(p)) or real(p))

    def build():
        return build_corpus(sources=[str(library)], data=str(data), segment_seconds=0.5, group_size=2)

    def shard_hashes():
        return sorted((r["name"], r["sha256"]) for r in read_rows(data, "shards"))

    first = build()
    assert sorted(decoded) == ["0.flac", "1.flac", "2.flac"] and first["n_tracks"] == 3
    hashes = shard_hashes()

    decoded.clear()
    for path in paths:  # touched, not changed
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5 * 10**9))
    second = build()
    assert decoded == [] and second["n_shards_written"] == 0
    assert second["datasets"][0]["version"] == first["datasets"][0]["version"] and shard_hashes() == hashes

    write_pcm(paths[1], tone_pcm(1.2, seed=600))  # new audio under an old name
    third = build()
    assert decoded == ["1.flac"] and third["datasets"][0]["version"] != first["datasets"][0]["version"]
