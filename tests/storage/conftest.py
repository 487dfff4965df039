import pytest

from storage.config import CorpusConfig
from storage.ingest import ingest_file, resolve_tracks
from tests.conftest import tone_pcm, write_pcm


@pytest.fixture
def make_tracks(tmp_path):
    """Ingested tracks of tone PCM: make_tracks([2.0, 1.5], channels=2) -> list[Track] (splits assigned)."""

    def make(durations_s, channels=2, sample_rate=44100, bits=16, fractions=(0.8, 0.1, 0.1)):
        results = []
        for i, duration_s in enumerate(durations_s):
            pcm = tone_pcm(duration_s, sample_rate, channels, bits, seed=i)
            path = write_pcm(tmp_path / "lib" / f"t{i}.flac", pcm, sample_rate, bits)
            results.append(ingest_file(path))
        tracks, _, _ = resolve_tracks(results, CorpusConfig(split_fractions=fractions))
        return sorted(tracks, key=lambda t: t.path)

    return make
