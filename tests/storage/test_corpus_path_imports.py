"""Building a corpus never imports torch: worker processes start in well under a second."""

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import dataclasses, sys
from pathlib import Path
import tasks.corpus, flows.build_corpus  # the flow and its tasks, as a worker process imports them
from storage.align import align_pair
from storage.config import PRESETS, AlignConfig, CorpusConfig, SegmentConfig
from storage.encode import encode_track
from storage.ingest import ingest_file_cached, resolve_tracks
from storage.shards import PairInputs, plan_shards, write_shard
from tests.conftest import tone_pcm, write_pcm

root = Path(sys.argv[1])
path = write_pcm(root / "lib" / "a.flac", tone_pcm(1.0, sample_rate=48000), sample_rate=48000)
tracks, _, _ = resolve_tracks([ingest_file_cached(path, root / "cache")], CorpusConfig())
track = dataclasses.replace(tracks[0], split="train")
encoded = encode_track(track, PRESETS["paper-32k"], root / "data")
cfg = SegmentConfig(segment_seconds=0.25)
(plan,) = plan_shards([track], cfg, 1 << 30)
result = write_shard(plan, {track.track_id: PairInputs(track, encoded)}, cfg, "paper-32k", root / "ds", "v",
                     AlignConfig(), root / "data")
assert result.n_samples == 4, result
assert align_pair(track, encoded, AlignConfig(), root / "data").passed
print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchaudio", "webdataset")))
"""


def test_building_a_corpus_imports_no_torch(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=repo, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
