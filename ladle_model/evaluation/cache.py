"""The evaluation cache: a finished evaluation is reused while what it depends on is unchanged.

    key = evaluation_key(checkpoint, phi, tracks, "vorbis-160", cfg, trained_ids)
    report = cached_report(RunDir(run).eval_files("vorbis-160"), key)     # None: evaluate again

The key hashes the content an evaluation depends on (checkpoint and feature-net bytes, each track's
audio, encode and alignment keys, the config, which tracks the model was trained on), never a path
or a time. eval.json is written last and holds the key, so a half-written evaluation is never reused;
neither is one in which some track failed (it is tried again).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ladle_model.evaluation.tracks import EvalConfig, EvalTrack
from ladle_model.runs.folder import EvalFiles
from storage.config import stable_hash
from storage.fs import file_sha256

# bump when a metric or the report changes what it writes: cached evaluations are redone.
# 2: the metric registry (one methods line per metric, Table I columns in registry order).
# 3: noise thresholds in the verdicts, n/a reasons, tracks that failed, which tracks the model trained on.
# 4: a model that fills by its input's bandwidth runs at the cut measured over the whole track (ladle_model/models/bandwidth.py).
# 5: SpecNeXt's noise fill follows each window's place in the track (ladle_model/models/specnext.py, noise_stream).
# 6: a cut below the lowest its codec makes at the preset's bitrate is read as none (ladle_model/models/bandwidth.py).
EVAL_VERSION = 6


def evaluation_key(
    checkpoint: Path,
    phi: Path | None,
    tracks: list[EvalTrack],
    preset: str,
    cfg: EvalConfig,
    trained_ids: list[str] | None = None,
) -> str:
    """What an evaluation depends on: the weights, phi, the tracks and their encodes/alignments, the config,
    and which of the tracks the model was trained on."""
    settings = {k: v for k, v in cfg.to_dict().items() if k not in ("device", "checkpoint", "feature_net")}
    return stable_hash(
        [
            "evaluate",
            EVAL_VERSION,
            file_sha256(checkpoint),
            file_sha256(phi) if phi else None,
            preset,
            settings,
            [(t.track.track_id, t.track.pcm_md5, t.encoded.encode_key, t.alignment.align_key) for t in tracks],
            trained_ids or [],
        ]
    )


def cached_report(files: EvalFiles, key: str) -> dict | None:
    """The finished evaluation in `files` when its key is `key` and every report file is there, else None."""
    try:
        report = json.loads(files.eval_json.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if report.get("key") != key or not all(path.is_file() for path in files.reports.values()):
        return None
    return None if report.get("failed") else report  # tracks that failed are tried again


def json_safe(obj):
    """NaN and inf as None: JSON (and Prefect's result store) has no NaN."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj
