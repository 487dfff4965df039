"""Encode: one lossy bitstream per (track, preset), content-addressed and kept as the real artifact.

    encoded = encode_track(track, PRESETS["vorbis-160"], "data")   # Encoded or Quarantined

The bitstream lives at `DATA/encodes/{preset}/{track_id}.{ext}` with a `{track_id}.json` sidecar that
holds the encode key (track content, preset, FFmpeg version, stage version). The sidecar is written
last: a bitstream without a matching sidecar is not trusted and is encoded again. The sidecar names
the bitstream relative to DATA, and an `Encoded` in memory holds its absolute path resolved against
the DATA it was found in, so a data folder can be moved, copied or built from any directory.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from storage import ffmpeg as ff
from storage.atomic import atomic_path, write_json_atomic
from storage.config import STAGE_VERSIONS, EncodePreset, stable_hash
from storage.ingest import Quarantined, Track


@dataclass(frozen=True)
class Encoded:
    track_id: str
    preset: str
    path: str
    size_bytes: int
    bitrate_kbps: float  # whole file, container included
    sample_rate: int
    encode_key: str
    reused: bool = False  # True when this run found it already encoded


def encode_key(track: Track, preset: EncodePreset) -> str:
    return stable_hash(
        ["encode", STAGE_VERSIONS["encode"], track.track_id, dataclasses.asdict(preset), ff.ffmpeg_version()]
    )


def encoded_path(data_dir: str | Path, track_id: str, preset: EncodePreset) -> Path:
    return Path(data_dir) / "encodes" / preset.name / f"{track_id}.{preset.extension}"


def find_encoded(track: Track, preset: EncodePreset, data_dir: str | Path) -> Encoded | None:
    """The finished encode of this track and preset, if an earlier run left one."""
    out = encoded_path(data_dir, track.track_id, preset)
    sidecar = out.with_suffix(".json")
    try:
        record = json.loads(sidecar.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if record.get("encode_key") != encode_key(track, preset) or not out.is_file():
        return None
    if out.stat().st_size != record.get("size_bytes"):
        return None
    return Encoded(**{**record, "path": str(out.resolve()), "reused": True})  # never the path recorded


def encode_track(track: Track, preset: EncodePreset, data_dir: str | Path) -> Encoded | Quarantined:
    """Encode unless an identical encode exists; FFmpeg failing on this input quarantines it."""
    found = find_encoded(track, preset, data_dir)
    if found is not None:
        return found
    out = encoded_path(data_dir, track.track_id, preset)
    try:
        with atomic_path(out) as tmp:
            ff.encode_file(track.path, tmp, preset, muxer=ff.MUXERS[preset.extension])
    except ff.FFmpegError as e:
        return Quarantined(track.path, "encode", str(e), track.track_id, preset.name)
    size_bytes = out.stat().st_size
    encoded = Encoded(
        track_id=track.track_id,
        preset=preset.name,
        path=str(out.resolve()),
        size_bytes=size_bytes,
        bitrate_kbps=round(size_bytes * 8 / track.duration_s / 1000, 2),
        sample_rate=preset.sample_rate,
        encode_key=encode_key(track, preset),
    )
    record = dataclasses.asdict(encoded)
    record.pop("reused")
    record["path"] = out.relative_to(data_dir).as_posix()  # relative to DATA: the folder stays movable
    write_json_atomic(out.with_suffix(".json"), record)
    return encoded
