"""Ingest: find lossless files, identify each by its decoded audio, drop duplicates, assign splits.

    files, missing = scan_sources(["library"])
    results = [ingest_file(f) for f in files]                 # Track or Quarantined, never raises on bad audio
    tracks, duplicates, quarantined = resolve_tracks(results, CorpusConfig())

A track's id is a hash of its PCM digest, rate and channel count: the same audio under another name,
in another container or with other tags is the same track, recorded once and then as duplicates.

A track's split is a stable hash of its id (or album), so adding tracks never moves others. A FLAC file
tagged `LADLE_SPLIT=train|val|test` is pinned to that split instead (the demo library pins its held-out
track this way); the catalog records the pin next to the split. A pin holds for its track alone: with
`group_by_album`, pin every track of an album to keep the album together.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from storage.atomic import write_json_atomic
from storage.audio import LOSSLESS_EXTENSIONS, AudioError, StreamInfo, pcm_md5, probe_lossless, read_lossless
from storage.config import SPLITS, STAGE_VERSIONS, CorpusConfig, stable_hash
from storage.filekey import file_key

# Shorter than this (2,205 frames at 44.1 kHz), a track holds too little audio for the alignment's
# correlation to mean anything; one sample would otherwise end as a baffling quality-gate failure.
MIN_TRACK_SECONDS = 0.05
# Below this peak a track holds no music to learn from, only noise or dither; its pair would fail the
# alignment gate for a reason users cannot act on ("correlation 0.7"), so ingest says what it is.
SILENT_PEAK_DBFS = -60.0


@dataclass(frozen=True)
class Track:
    track_id: str
    path: str
    container: str
    sample_rate: int
    channels: int
    bits_per_sample: int
    n_frames: int
    duration_s: float
    pcm_md5: str
    artist: str | None = None
    albumartist: str | None = None
    album: str | None = None
    title: str | None = None
    tracknumber: str | None = None
    discnumber: str | None = None
    split: str = ""  # assigned by resolve_tracks
    pinned_split: str | None = None  # the file's LADLE_SPLIT tag: its split, whatever the hash says


@dataclass(frozen=True)
class Quarantined:
    path: str
    stage: str  # scan | ingest | encode | align | shard
    reason: str
    track_id: str | None = None
    preset: str | None = None


@dataclass(frozen=True)
class Duplicate:
    path: str
    track_id: str
    original_path: str


def scan_sources(sources: list[str | Path], exclude: list[str | Path] = ()) -> tuple[list[Path], list[Quarantined]]:
    """Lossless candidates under `sources` (sorted, hidden files skipped); missing sources as Quarantined."""
    excluded = [Path(p).resolve() for p in exclude]
    files: set[Path] = set()
    missing = []
    for source in sources:
        source = Path(source)
        if source.is_file():
            candidates = [source]
        elif source.is_dir():
            candidates = source.rglob("*")
        else:
            missing.append(Quarantined(str(source), "scan", "source does not exist"))
            continue
        for path in candidates:
            if path.is_symlink() and not path.name.startswith("."):
                loop = symlink_loop(path)
                if loop:
                    missing.append(Quarantined(str(path), "scan", loop))
                    continue
            if path.name.startswith(".") or path.suffix.lower() not in LOSSLESS_EXTENSIONS or not path.is_file():
                continue
            resolved = path.resolve()
            if any(resolved.is_relative_to(ex) for ex in excluded):
                continue
            files.add(path)
    return sorted(files, key=str), missing


def symlink_loop(path: Path) -> str | None:
    """Why following symlink `path` never ends (a cycle, or a folder link to its own ancestor), or None."""
    try:
        target = path.resolve(strict=True)
    except RuntimeError:  # Python 3.11 reports a cycle this way
        return "symlink loop: following it never ends"
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symlink loop: following it never ends"
        return None  # a dangling link: not audio, skipped like any other non-file
    if target.is_dir() and path.parent.resolve().is_relative_to(target):
        return f"symlink loop: points to its own ancestor folder {target}"
    return None


def track_id_for(pcm_digest: str, sample_rate: int, channels: int) -> str:
    return hashlib.sha256(f"{pcm_digest}:{sample_rate}:{channels}".encode()).hexdigest()[:16]


def ingest_file(path: str | Path) -> Track | Quarantined:
    """Probe, decode and hash one file. Bad audio gives Quarantined with a reason; I/O errors raise."""
    path = Path(path)
    try:
        info = probe_lossless(path)
        digest, n_frames, peak = pcm_md5(path, info)
    except AudioError as e:
        return Quarantined(str(path), "ingest", str(e))
    except PermissionError as e:  # not bad audio and not worth a retry: say so and go on
        return Quarantined(str(path), "ingest", f"unreadable: {e.strerror or e}")
    if info.container in ("flac", "wav", "aiff") and n_frames != info.n_frames:
        return Quarantined(str(path), "ingest", f"truncated: decoded {n_frames} of {info.n_frames} frames")
    if info.header_md5 and digest != info.header_md5:
        return Quarantined(str(path), "ingest", "corrupt: decoded audio does not match the FLAC STREAMINFO MD5")
    if n_frames < MIN_TRACK_SECONDS * info.sample_rate:
        reason = (
            f"too short: {n_frames} frame(s), {n_frames / info.sample_rate:.3f} s; a track needs {MIN_TRACK_SECONDS} s"
        )
        return Quarantined(str(path), "ingest", reason)
    if peak == 0:
        return Quarantined(str(path), "ingest", "silent (digital silence: every sample is zero)")
    peak_dbfs = 20 * math.log10(peak / 2 ** (info.bits_per_sample - 1))
    if peak_dbfs < SILENT_PEAK_DBFS:
        return Quarantined(str(path), "ingest", f"silent (peak {peak_dbfs:.1f} dBFS)")
    pinned = info.tags.get("ladle_split")
    if pinned is not None and pinned.casefold() not in SPLITS:
        return Quarantined(str(path), "ingest", f"LADLE_SPLIT tag is {pinned!r}: it must be one of {', '.join(SPLITS)}")
    tags = {k: info.tags.get(k) for k in ("artist", "albumartist", "album", "title", "tracknumber", "discnumber")}
    return Track(
        track_id=track_id_for(digest, info.sample_rate, info.channels),
        path=str(path),
        container=info.container,
        sample_rate=info.sample_rate,
        channels=info.channels,
        bits_per_sample=info.bits_per_sample,
        n_frames=n_frames,
        duration_s=n_frames / info.sample_rate,
        pcm_md5=digest,
        **tags,
        pinned_split=pinned.casefold() if pinned else None,
    )


def ingest_file_cached(path: str | Path, cache_dir: str | Path) -> Track | Quarantined:
    """`ingest_file`, decoding only files whose bytes were never ingested (records under `cache_dir`).

    The record is keyed by the SHA-256 of the file's bytes (storage/filekey.py: known from the file's
    stat while it is unchanged), so an unchanged file, or a byte-identical copy under another name,
    is never decoded again; its path is the one asked for.
    """
    cache_dir = Path(cache_dir)
    try:
        key = file_key(path, cache_dir / "file-keys")
    except PermissionError as e:
        return Quarantined(str(path), "ingest", f"unreadable: {e.strerror or e}")
    record_path = cache_dir / "ingest" / f"{key[:32]}.json"
    try:
        record = json.loads(record_path.read_text())
        if record.get("version") == STAGE_VERSIONS["ingest"] and record.get("sha256") == key:
            cls = Track if record["kind"] == "track" else Quarantined
            return cls(**{**record["fields"], "path": str(path)})
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
        pass
    result = ingest_file(path)
    kind = "track" if isinstance(result, Track) else "quarantined"
    write_json_atomic(
        record_path,
        {"version": STAGE_VERSIONS["ingest"], "sha256": key, "kind": kind, "fields": dataclasses.asdict(result)},
    )
    return result


def read_track(track: Track) -> np.ndarray:
    """The track's audio as float32 (C, T), refusing a file that changed since it was ingested.

    The stream info comes from the ingest record (no second header parse); a file whose length or
    channel count no longer match it is not the audio the track id names.
    """
    info = StreamInfo(track.container, track.sample_rate, track.channels, track.bits_per_sample, track.n_frames, None)
    try:
        audio = read_lossless(track.path, info)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(f"{track.path}: unreadable since ingest: {e}") from None
    if audio.shape != (track.channels, track.n_frames):
        raise AudioError(
            f"{track.path} changed since ingest: {audio.shape[0]} channels x {audio.shape[1]} frames, "
            f"expected {track.channels} x {track.n_frames}; run build-corpus again"
        )
    return audio


def split_for_key(key: str, fractions: tuple[float, ...] = (0.8, 0.1, 0.1)) -> str:
    """train/val/test from a stable hash of `key`: adding tracks never moves existing ones."""
    u = int(hashlib.sha256(key.encode()).hexdigest()[:15], 16) / 16**15  # uniform in [0, 1)
    cumulative = 0.0
    for split, fraction in zip(SPLITS, fractions):
        cumulative += fraction
        if u < cumulative:
            return split
    return SPLITS[-1]


def album_key(track: Track) -> str:
    """Tracks of one album (all its discs) share a split; a track without an album tag stands alone."""
    if not track.album:
        return track.track_id
    artist = (track.albumartist or track.artist or "").strip().casefold()
    return stable_hash(["album", artist, track.album.strip().casefold()])


def resolve_tracks(
    results: list[Track | Quarantined], cfg: CorpusConfig
) -> tuple[list[Track], list[Duplicate], list[Quarantined]]:
    """Keep the first file (by path) of each audio as the track, the others as duplicates; give splits
    (a track's pin, else the hash of its id or album: each track's split depends on itself alone)."""
    tracks: dict[str, Track] = {}
    duplicates, quarantined = [], []
    for result in sorted(results, key=lambda r: r.path):
        if isinstance(result, Quarantined):
            quarantined.append(result)
        elif result.track_id in tracks:
            duplicates.append(Duplicate(result.path, result.track_id, tracks[result.track_id].path))
        else:
            tracks[result.track_id] = result
    with_splits = []
    for track in sorted(tracks.values(), key=lambda t: t.track_id):
        key = album_key(track) if cfg.group_by_album else track.track_id
        split = track.pinned_split or split_for_key(key, cfg.split_fractions)
        with_splits.append(dataclasses.replace(track, split=split))
    return with_splits, duplicates, quarantined
