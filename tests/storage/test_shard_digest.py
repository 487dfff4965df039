"""Pins the bytes of a small build: shards before and after a refactoring must be byte-identical.

When the shard format changes on purpose (a new member encoding, a new SegmentMeta field), update
the digests below once, in the same change, and say so in its description.
"""

import dataclasses

import pytest

from storage.align import align_pair, find_alignment
from storage.config import PRESETS, AlignConfig, SegmentConfig
from storage.encode import encode_track
from storage.shards import PairInputs, plan_shards, segment_bytes, write_shard

# sha256 of every shard of paper-32k (codec rate 32 kHz != dataset rate, so the strategies differ),
# two tracks of 1.0 s and 0.6 s, 0.25 s segments, shards of at most 3 segments. Updated once, on
# purpose, for issue 12: samples stored at the source's precision (int16), libsoxr resampling.
# The bytes also depend on the FFmpeg build's Vorbis encoder.
EXPECTED = {
    "resample": {
        "train-000000.tar": "21bae8b59994512b9a41ba7d2a2a9dd1532e444cc9e5b1ee1741e0fc9ee88b9b",
        "train-000001.tar": "9e5af23fbb840940f9fafa53db5fc9592d49edadc31d1b813eb96bf4edae71ec",
    },
    "pad-edges": {
        "train-000000.tar": "4a30480a470365e5810280c71e372e33b1c287e18f15ef65744870757a4e37e8",
        "train-000001.tar": "4ccc87d66e433429168e10ae302c4cc3a05be429d5cec2ca6022bd977d71090b",
    },
    "spread-zeros": {
        "train-000000.tar": "a38961213ab149d2303e42ba14e53c0fe120d273537fe8f9d3a87d1bc069292b",
        "train-000001.tar": "18ebc4728c447345d81904ef7af31130bfbe99d8bb85afa534075b12d33389fd",
    },
}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    from storage.config import CorpusConfig
    from storage.ingest import ingest_file, resolve_tracks
    from tests.conftest import tone_pcm, write_pcm

    root = tmp_path_factory.mktemp("digest")
    results = [
        ingest_file(write_pcm(root / "lib" / f"t{i}.flac", tone_pcm(d, seed=i))) for i, d in enumerate([1.0, 0.6])
    ]
    tracks, _, _ = resolve_tracks(results, CorpusConfig())
    tracks = [dataclasses.replace(t, split="train") for t in tracks]
    out = {}
    for t in tracks:
        encoded = encode_track(t, PRESETS["paper-32k"], root / "data")
        out[t.track_id] = PairInputs(t, encoded, align_pair(t, encoded, AlignConfig(), root / "data"))
    return out


@pytest.mark.parametrize("strategy", sorted(EXPECTED))
def test_shard_bytes_are_pinned(tmp_path, pairs, strategy):
    cfg = SegmentConfig(strategy=strategy, segment_seconds=0.25)
    tracks = [p.track for p in pairs.values()]
    plans = plan_shards(tracks, cfg, target_bytes=3 * segment_bytes(cfg, 16))
    digests = {p.name: write_shard(p, pairs, cfg, "paper-32k", tmp_path, "pinned").sha256 for p in plans}
    assert digests == EXPECTED[strategy]


def test_aligning_inside_the_shard_writer_gives_the_same_bytes(tmp_path, pairs):
    """The build aligns while it shards (one decode per track): the same bytes as aligning first."""
    cfg = SegmentConfig(strategy="resample", segment_seconds=0.25)
    unaligned = {k: dataclasses.replace(p, alignment=None) for k, p in pairs.items()}
    plans = plan_shards([p.track for p in pairs.values()], cfg, target_bytes=3 * segment_bytes(cfg, 16))
    digests = {
        p.name: write_shard(
            p, unaligned, cfg, "paper-32k", tmp_path / "ds", "pinned", AlignConfig(), tmp_path / "data"
        ).sha256
        for p in plans
    }
    assert digests == EXPECTED["resample"]
    saved = [find_alignment(p.encoded, AlignConfig(), tmp_path / "data") for p in pairs.values()]
    assert saved == [p.alignment for p in pairs.values()]  # the writer saved what align_pair measures
