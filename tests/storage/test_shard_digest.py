"""Pins the bytes of a small build: shards before and after a refactoring must be byte-identical.

When the shard format changes on purpose (a new member encoding, a new SegmentMeta field), update
the digests below once, in the same change, and say so in its description.
"""

import dataclasses

import pytest

from storage.align import align_pair
from storage.config import PRESETS, AlignConfig, SegmentConfig
from storage.encode import encode_track
from storage.shards import PairInputs, plan_shards, write_shard

# sha256 of every shard of paper-32k (codec rate 32 kHz != dataset rate, so the strategies differ),
# two tracks of 1.0 s and 0.6 s, 0.25 s segments, shards of at most 3 segments.
EXPECTED = {
    "resample": {
        "train-000000.tar": "568981ef1f5d901e219ae6a68aac8df73f380c3d48b86cef80d245b94a3ff93f",
        "train-000001.tar": "8d4e3dc326da0b2bbc36017f2e6ca5edbce14cb878b543698e4e3c3817689c95",
    },
    "pad-edges": {
        "train-000000.tar": "28dc58eb95592fec70958305d640b56245be47444b0b866dfc8d65b44b930943",
        "train-000001.tar": "87e71965b346e821161c1e478aa6bddac1bdb179f3c72d10da821e627b2711cb",
    },
    "spread-zeros": {
        "train-000000.tar": "e2a1fb469824fa8f865d360096e93e0688a007c6e2b89ca74d5b120757448b27",
        "train-000001.tar": "82b1cc8e36d86a021e908ac77e12afc4082a86f3f41c621230942a4060cd2de0",
    },
}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    from storage.config import CorpusConfig
    from storage.ingest import ingest_file, resolve_tracks
    from tests.conftest import tone_pcm, write_pcm

    root = tmp_path_factory.mktemp("digest")
    results = [ingest_file(write_pcm(root / "lib" / f"t{i}.flac", tone_pcm(d, seed=i))) for i, d in enumerate([1.0, 0.6])]
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
    plans = plan_shards(tracks, cfg, target_bytes=3 * (2 * 2 * cfg.segment_samples * 4 + 3000))
    digests = {p.name: write_shard(p, pairs, cfg, "paper-32k", tmp_path, "pinned").sha256 for p in plans}
    assert digests == EXPECTED[strategy]
