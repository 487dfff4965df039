"""Whole-disc images with CUE sheets: split into tagged FLAC tracks, identify the disc, verify the rip.

    record = split_disc(Path("library/Album/Album.cue"), Path("data/discs"))   # CueError / DiscError on bad input
    record.musicbrainz_disc_id, [(t.path, t.crc32, t.crc_matches_log) for t in record.tracks]

Tracks are written to `out_dir/{disc_key}/{NN}.flac` (FLAC in the image's own rate, channels and bit
depth, tagged from the sheet), atomically, with `disc.json` (the computed record) written last. Any
integer PCM image is split at sample-accurate positions (`layout.frames_to_samples`); the checks that
describe only CD audio (CRC32 as rippers log it, AccurateRip, disc IDs, the rip-log comparison) apply
only to CD audio, and `DiscRecord.checks` says which applied. `disc_key` hashes the sheet's text,
every image's bytes and DISC_STAGE_VERSION, so re-running over the same disc reuses the files; the
sources are only ever read.

The disc's layout is computed in `storage.sources.layout`, its files read by `storage.sources.image`,
its IDs and checksums come from `discid` and `accuraterip`, and the rip log it is checked against
is read by `riplog` and compared by `verify`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mutagen.flac
import numpy as np
import soundfile as sf

from storage.atomic import atomic_path, write_json_atomic
from storage.config import stable_hash
from storage.fs import file_sha256
from storage.sources.accuraterip import TrackChecksums
from storage.sources.cue import CueTrack, Disc, frames_to_msf
from storage.sources.cue_sheet import read_cue, referenced_files, sheet_source
from storage.sources.discid import accuraterip_disc_id, freedb_disc_id, musicbrainz_disc_id
from storage.sources.image import DiscError, ImageFile, PcmFormat, open_image
from storage.sources.layout import lay_out_disc, read_timeline, samples_to_frames
from storage.sources.text import decode_text
from storage.sources.verify import LogCheck, check_against_logs

# 3: any PCM format (audio format and applied checks in disc.json); no text tags from an uncertain decode.
DISC_STAGE_VERSION = 3
CD_CHECKS = ("crc32", "accuraterip", "disc_ids")  # computed for CD audio; "rip_log" added when a log was used
SIDECAR = "disc.json"


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class DiscTrackInfo:
    """One split track of a disc."""

    number: int  # as in the sheet; 0 for hidden track one audio
    path: str  # the split FLAC
    title: str | None
    performer: str | None
    start_sector: int  # LSN of INDEX 01 (no 150 lead-in), in CUE frames (1/75 s); 0 for track 0
    n_sectors: int  # length in CUE frames (588 samples at 44.1 kHz); a partial last frame counts as one
    crc32: str  # hex, 8 chars, upper case, over the track's PCM bytes; "" where the image is not CD audio
    accuraterip_v1: str  # "" for track 0, which AccurateRip does not cover, and for non-CD audio
    accuraterip_v2: str
    log_crc32: str | None
    crc_matches_log: bool | None


@dataclass(frozen=True)
class DiscRecord:
    cue_path: str
    image_paths: list[str]
    disc_key: str  # content key: the sheet's text, the images' bytes, DISC_STAGE_VERSION
    musicbrainz_disc_id: str
    freedb_disc_id: str
    accuraterip_disc_id: str  # nnn-id1-id2-freedb, as AccurateRip's dBAR file names
    album: str | None
    albumartist: str | None
    tracks: list[DiscTrackInfo]
    notes: list[str]
    cue_encoding: str = "utf-8"  # as detected (storage.sources.text)
    cue_encoding_confidence: float = 1.0  # below MIN_CONFIDENCE, no text from the sheet is written as tags
    audio_format: str = "16-bit, 44100 Hz, 2 channel(s)"  # the image's (PcmFormat.describe)
    checks: list[str] = dataclasses.field(default_factory=lambda: list(CD_CHECKS))  # which checks applied
    warnings: list[str] = dataclasses.field(default_factory=list)  # what the sheet's parser read leniently


# ---------------------------------------------------------------- finding sheets, keys, cache


def find_cue_sheets(files_or_dirs: list[Path]) -> tuple[list[Path], set[Path]]:
    """CUE sheets under the sources, and the set of audio files they reference (those must NOT also be ingested as plain tracks).

    Hidden files are skipped, as in `scan_sources`. Each referenced file appears as found beside its
    sheet (`cue.parent / name`, the form `scan_sources` yields for the same source) and resolved, so
    either kind of path can be looked up. A malformed sheet is still returned (splitting it reports
    why) and the files it names are still held back.
    """
    sheets: set[Path] = set()
    for source in map(Path, files_or_dirs):
        candidates = [source] if source.is_file() else source.rglob("*") if source.is_dir() else []
        for path in candidates:
            if path.suffix.lower() == ".cue" and not path.name.startswith(".") and path.is_file():
                sheets.add(path)
    referenced: set[Path] = set()
    for sheet in sheets:
        folder = Path(os.path.abspath(sheet.parent))
        for path in referenced_files(sheet):
            absolute = Path(os.path.abspath(path))
            referenced.update({path, absolute, absolute.resolve()})
            if absolute.is_relative_to(folder):
                referenced.add(sheet.parent / absolute.relative_to(folder))
    return sorted(sheets, key=str), referenced


def disc_key(cue_path: str | Path, disc: Disc | None = None) -> str:
    """Content key of a split: the sheet's decoded text, each image's bytes, DISC_STAGE_VERSION."""
    cue_path = Path(cue_path)
    disc = disc or read_cue(cue_path)
    text, _ = decode_text(sheet_source(cue_path)[0])
    images = [file_sha256(f.path) for f in disc.files if not f.missing]
    return stable_hash(["disc", DISC_STAGE_VERSION, hashlib.sha256(text.encode()).hexdigest(), images])


def _read_sidecar(folder: Path) -> dict | None:
    try:
        sidecar = json.loads((folder / SIDECAR).read_text())
    except (OSError, ValueError):
        return None
    if sidecar.get("disc_stage_version") != DISC_STAGE_VERSION:
        return None
    if not all((folder / t["file"]).is_file() for t in sidecar["tracks"]):
        return None
    return sidecar


def find_split(cue_path: str | Path, out_dir: str | Path) -> Path | None:
    """The folder holding this disc's complete split, or None (never split, or a file has gone)."""
    folder = Path(out_dir) / disc_key(cue_path)
    return folder if _read_sidecar(folder) is not None else None


# ---------------------------------------------------------------- splitting


def sheet_text(disc: Disc, value: str | None) -> str | None:
    """A name, title or other text from the sheet, or None when the sheet's decode is below the threshold.

    No tag is ever written from such a decode, not even its ASCII part: text from a decode nobody can
    vouch for is left out (the sheet's note says why) rather than written.
    """
    return value if disc.text_trusted else None


def _tags(disc: Disc, track: CueTrack | None, n_tracks: int, mb_id: str) -> dict[str, str]:
    """Vorbis comments for a split track (names as in the Xiph recommendations and MusicBrainz Picard).

    Text from the sheet only from a trusted decode (`sheet_text`); the numbering and the disc ID are ours.
    """
    ours = {"tracknumber": str(track.number if track else 0), "tracktotal": str(n_tracks), "musicbrainz_discid": mb_id}
    tags = {
        "album": disc.title,
        "albumartist": disc.performer,
        "artist": (track.performer if track else None) or disc.performer,
        "title": track.title if track else None,
        "date": disc.rem.get("DATE"),
        "genre": disc.rem.get("GENRE"),
        "discnumber": disc.rem.get("DISCNUMBER"),
        "disctotal": disc.rem.get("TOTALDISCS"),
        "composer": (track.songwriter if track else None) or disc.songwriter,
        "isrc": track.isrc if track else None,
        "barcode": disc.catalog,
    }
    ours = {k: v for k, v in ours.items() if v}
    return {k: v for k, v in tags.items() if sheet_text(disc, v)} | ours


def _write_track(
    path: Path, blocks: Iterator[np.ndarray], checksums: TrackChecksums | None, tags: dict[str, str], pcm: PcmFormat
) -> None:
    with atomic_path(path) as tmp:
        # The temporary name ends in ".tmp-…", so the format is given, not guessed from the suffix.
        with sf.SoundFile(str(tmp), "w", pcm.rate, pcm.channels, pcm.flac_subtype, format="FLAC") as out:
            for block in blocks:
                if checksums is not None:
                    checksums.update(block)
                out.write(block)
        flac = mutagen.flac.FLAC(tmp)
        for key, value in tags.items():
            flac[key.upper()] = value
        flac.save()


def _split(disc: Disc, folder: Path, key: str) -> dict:
    """Write every audio track of `disc` into `folder` and return the sidecar (written last)."""
    notes: list[str] = []
    images: list[ImageFile] = []
    try:
        for i in range(len(disc.files)):
            images.append(open_image(disc, i, folder.parent, notes))
        pcm = _one_format(disc, images)
        cd = pcm.is_cd_audio
        layout = lay_out_disc(disc, [im.n_samples for im in images], pcm.rate)
        notes += layout.notes
        if not cd:
            notes.append(f"the image is {pcm.describe()}, not CD audio: split at sample-accurate positions; "
                         "CRC32, AccurateRip and disc IDs do not apply")  # fmt: skip
        mb_id = musicbrainz_disc_id(layout.toc) if cd else ""
        numbered = [s for s in layout.spans if s.track is not None]
        tracks, image_crc = [], 0

        def whole_image_crc(blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
            # The numbered tracks' PCM in order: an image rip's "Copy CRC" (EAC) or "All Tracks" CRC32 (XLD).
            nonlocal image_crc
            for block in blocks:
                image_crc = zlib.crc32(np.ascontiguousarray(block, "<i2").tobytes(), image_crc)
                yield block

        for span in layout.spans:
            sums = TrackChecksums(span.stop - span.start, span is numbered[0], span is numbered[-1]) if cd else None
            number = span.track.number if span.track else 0
            name = f"{number:02d}.flac"
            blocks = read_timeline(layout.pieces, images, span.start, span.stop)
            if span.track is None:
                # Hidden track one audio: kept only if it is not digital silence (decided before writing).
                if not any(block.any() for block in read_timeline(layout.pieces, images, span.start, span.stop)):
                    notes.append(f"{samples_to_frames(span.stop, pcm.rate)} sectors before track {numbered[0].track.number}'s "
                                 "INDEX 01 are digital silence: not kept")  # fmt: skip
                    continue
                notes.append(f"hidden track one audio ({frames_to_msf(samples_to_frames(span.stop, pcm.rate, up=True))}) "
                             "kept as track 0")  # fmt: skip
            elif cd:
                blocks = whole_image_crc(blocks)
            _write_track(folder / name, blocks, sums, _tags(disc, span.track, len(disc.tracks), mb_id), pcm)
            tracks.append(
                {
                    "number": number,
                    "file": name,
                    "title": sheet_text(disc, span.track.title if span.track else None),
                    "performer": sheet_text(disc, (span.track.performer if span.track else None) or disc.performer),
                    "start_sector": span.start_sector,
                    "n_sectors": samples_to_frames(span.stop, pcm.rate, up=True)
                    - samples_to_frames(span.start, pcm.rate),
                    "n_samples": span.stop - span.start,
                    "crc32": sums.crc32 if sums else "",
                    "accuraterip_v1": sums.v1 if sums and span.track else "",
                    "accuraterip_v2": sums.v2 if sums and span.track else "",
                }
            )
    finally:
        for image in images:
            image.close()
    sidecar = {
        "disc_stage_version": DISC_STAGE_VERSION,
        "disc_key": key,
        "musicbrainz_disc_id": mb_id,
        "freedb_disc_id": freedb_disc_id(layout.toc) if cd else "",
        "accuraterip_disc_id": accuraterip_disc_id(layout.toc) if cd else "",
        "audio": dataclasses.asdict(pcm),
        "checks": list(CD_CHECKS) if cd else [],
        "toc": {
            "tracks": [dataclasses.asdict(t) for t in layout.toc.tracks],
            "leadout_sector": layout.toc.leadout_sector,
        },
        "image_crc32": f"{image_crc & 0xFFFFFFFF:08X}" if cd else "",
        "cue_encoding": disc.encoding,
        "cue_encoding_confidence": disc.encoding_confidence,
        "tracks": tracks,
        "notes": notes,
    }
    write_json_atomic(folder / SIDECAR, sidecar)
    return sidecar


def _one_format(disc: Disc, images: list[ImageFile]) -> PcmFormat:
    """The PCM format all of a sheet's files share; DiscError if they differ (one track list, one format)."""
    formats = {im.format for im in images if im.kind != "missing"}
    if len(formats) > 1:
        raise DiscError(f"{disc.cue_path.name}: its files differ in format "
                        f"({'; '.join(sorted(f.describe() for f in formats))}); one sheet's audio must share one")  # fmt: skip
    return formats.pop()


def split_disc(cue_path: Path, out_dir: Path) -> DiscRecord:
    """Split the disc a CUE sheet describes into `out_dir/{disc_key}/{NN}.flac` (reused when already there).

    Raises CueError for a malformed sheet or missing audio, DiscError for an image that is not readable
    integer PCM. Log comparison (CD audio only) is redone on every call (a log added later is taken into account).
    """
    cue_path, out_dir = Path(cue_path), Path(out_dir)
    disc = read_cue(cue_path)
    key = disc_key(cue_path, disc)
    folder = out_dir / key
    if any(f.path.resolve().parent == folder.resolve() for f in disc.files):
        raise DiscError(f"{cue_path.name}: its images lie in the output folder {folder}; it would write over them")
    sidecar = _read_sidecar(folder)
    if sidecar is None:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            sidecar = _split(disc, folder, key)
        except BaseException:
            # The folder is this disc's alone (named by its content key): a split that fails leaves
            # nothing behind, not an empty or half-filled discs/<key>/ beside the quarantine entry.
            shutil.rmtree(folder, ignore_errors=True)
            raise
    checks = list(sidecar["checks"])
    check = check_against_logs(cue_path, sidecar) if "crc32" in checks else LogCheck()
    if check.notes and check.notes[0].startswith("rip log "):
        checks.append("rip_log")
    log_crcs = check.crc32
    ids = {k: sidecar[k] for k in ("musicbrainz_disc_id", "freedb_disc_id", "accuraterip_disc_id")}
    if check.toc is not None:
        ids = {"musicbrainz_disc_id": musicbrainz_disc_id(check.toc), "freedb_disc_id": freedb_disc_id(check.toc),
               "accuraterip_disc_id": accuraterip_disc_id(check.toc)}  # fmt: skip
    tracks = [
        DiscTrackInfo(
            number=t["number"],
            path=str(folder / t["file"]),
            title=t["title"],
            performer=t["performer"],
            start_sector=t["start_sector"],
            n_sectors=t["n_sectors"],
            crc32=t["crc32"],
            accuraterip_v1=t["accuraterip_v1"],
            accuraterip_v2=t["accuraterip_v2"],
            log_crc32=log_crcs.get(t["number"]) if t["number"] > 0 else None,
            crc_matches_log=(log_crcs[t["number"]] == t["crc32"])
            if t["number"] in log_crcs and t["number"] > 0
            else None,
        )
        for t in sidecar["tracks"]
    ]
    return DiscRecord(
        cue_path=str(cue_path),
        image_paths=[str(f.path) for f in disc.files if not f.missing],
        disc_key=key,
        **ids,
        album=sheet_text(disc, disc.title),
        albumartist=sheet_text(disc, disc.performer),
        tracks=tracks,
        notes=list(disc.notes) + list(sidecar["notes"]) + check.notes,
        cue_encoding=disc.encoding,
        cue_encoding_confidence=disc.encoding_confidence,
        audio_format=PcmFormat(**sidecar["audio"]).describe(),
        checks=checks,
        warnings=list(disc.warnings),
    )
