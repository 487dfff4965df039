import dataclasses

import pytest

from storage.align import align_pair
from storage.config import PRESETS, CorpusConfig
from storage.encode import encode_track
from storage.ingest import ingest_file, resolve_tracks
from storage.shards import PairInputs
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


@pytest.fixture
def albums(make_tracks, tmp_path):
    """Five albums of two 0.5-s tracks (four train, one val), encoded and aligned: {album: [PairInputs]}."""
    tracks = make_tracks([0.5] * 10)
    out = {}
    for i, track in enumerate(tracks):
        album = f"album {i // 2}"
        track = dataclasses.replace(track, album=album, artist="someone", split="val" if i >= 8 else "train")
        encoded = encode_track(track, PRESETS["vorbis-160"], tmp_path / "data")
        out.setdefault(album, []).append(
            PairInputs(track, encoded, align_pair(track, encoded, CorpusConfig().align, tmp_path / "data"))
        )
    return out
