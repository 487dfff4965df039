"""Whole-disc images with CUE sheets: split into tagged FLAC tracks, identify the disc, verify the rip.

    record = split_disc(Path("library/Album/Album.cue"), Path("data/discs"))   # CueError / DiscError on bad input
    record.musicbrainz_disc_id, [(t.path, t.crc32, t.crc_matches_log) for t in record.tracks]

Tracks are written to `out_dir/{disc_key}/{NN}.flac` (16-bit/44.1 kHz FLAC, tagged from the sheet),
atomically, with `disc.json` (the computed record) written last. `disc_key` hashes the sheet's text,
every image's bytes and DISC_STAGE_VERSION, so re-running over the same disc reuses the files; the
sources are only ever read.

Conventions, followed everywhere below:
- Positions are CD sectors (frames of 588 stereo samples, 75 a second) from the start of the disc's
  program area, i.e. LSN, what cdparanoia prints and AccurateRip sums; MusicBrainz and freedb add the
  150-sector lead-in (2 s, Red Book). The first FILE's first sample is LSN 0.
- Pregaps: audio between INDEX 00 and INDEX 01 of track N ends track N-1 ("gaps appended to previous
  track", EAC's default; AccurateRip's and EAC's per-track CRCs cut tracks at INDEX 01 the same way).
  PREGAP/POSTGAP, which no file stores, become digital silence at their place on the disc.
- Hidden track one audio (HTOA): audio before INDEX 01 of the first track. If any sample is non-zero
  it becomes track 0 (`00.flac`, TRACKNUMBER 0): it is not in the TOC, so AccurateRip has no checksum
  for it and its two AccurateRip fields are empty strings. If it is digital silence it is dropped with a note.
- Partial frames: CD images hold whole frames. A WAV/FLAC image that does not is read to its last
  sample; `n_sectors` rounds a partial frame up (the lead-out is the next whole sector) and a note says so.
- Data tracks (MODE1/2352, MODE2/2336, …) are skipped with a note but kept in the TOC. A data track
  after the last audio track is an enhanced CD's second session, which images store straight after
  the audio; on the disc it starts 11400 sectors later (lead-out 6750 + lead-in 4500 + pregap 150,
  Blue Book), so MusicBrainz ends the disc 11400 sectors before it while freedb and AccurateRip use
  the true lead-out (github.com/arcctgx/ARver, doc/data_track.md, checked against EAC and dBpoweramp).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mutagen.flac
import numpy as np
import soundfile as sf

from storage import ffmpeg as ff
from storage.fs import file_sha256
from storage.atomic import TMP_MARKER, atomic_path, write_json_atomic
from storage.config import stable_hash
from storage.cue import (
    FRAMES_PER_SECOND,
    SAMPLES_PER_FRAME,
    SECTOR_BYTES,
    CueError,
    CueTrack,
    Disc,
    decode_text,
    frames_to_msf,
    read_cue,
    referenced_files,
)

DISC_STAGE_VERSION = 1
LEAD_IN_SECTORS = 150  # Red Book: the program area starts at MSF 00:02:00
SESSION_GAP_SECTORS = 11400  # Blue Book: lead-out 6750 + lead-in 4500 + first pregap 150 between sessions
AR_SKIP_SAMPLES = 5 * SAMPLES_PER_FRAME  # AccurateRip ignores 5 sectors at each end of the disc
SAMPLE_RATE = 44100
BLOCK_SAMPLES = 1 << 16
SIDECAR = "disc.json"

__all__ = [
    "DISC_STAGE_VERSION", "DiscError", "RipError", "TocTrack", "DiscToc", "DiscTrackInfo", "DiscRecord", "RipLog",
    "musicbrainz_disc_id", "freedb_disc_id", "accuraterip_disc_id", "accuraterip_checksums", "TrackChecksums",
    "find_cue_sheets", "disc_key", "find_split", "split_disc", "read_rip_log", "rip_log_candidates",
    "parse_cdparanoia_toc", "rip_disc", "CueError",
]  # fmt: skip


class DiscError(ValueError):
    """A disc image that cannot be split (unreadable, not CD audio, shorter than its sheet); says why."""


class RipError(RuntimeError):
    """Ripping a disc failed before it started or on the way; one line saying why."""


# ---------------------------------------------------------------- table of contents and disc IDs

@dataclass(frozen=True)
class TocTrack:
    number: int
    start_sector: int  # LSN: sectors from the start of the program area, without the 150 lead-in
    audio: bool = True
    session: int = 1


@dataclass(frozen=True)
class DiscToc:
    tracks: tuple[TocTrack, ...]
    leadout_sector: int  # LSN one past the disc's last sector (the true lead-out, after any data session)

    @property
    def audio_tracks(self) -> tuple[TocTrack, ...]:
        return tuple(t for t in self.tracks if t.audio)

    @classmethod
    def from_lba(cls, offsets: list[int], leadout: int, audio: list[bool] | None = None, first: int = 1) -> "DiscToc":
        """From MusicBrainz/libdiscid-style offsets, which include the 150-sector lead-in."""
        audio = audio or [True] * len(offsets)
        tracks = tuple(TocTrack(first + i, o - LEAD_IN_SECTORS, a) for i, (o, a) in enumerate(zip(offsets, audio)))
        return cls(tracks, leadout - LEAD_IN_SECTORS)


def _first_session(toc: DiscToc) -> tuple[list[TocTrack], int]:
    """Tracks and lead-out (LSN) of the first session; later sessions start 11400 sectors after it ends."""
    tracks = [t for t in toc.tracks if t.session == 1]
    later = [t for t in toc.tracks if t.session > 1]
    leadout = later[0].start_sector - SESSION_GAP_SECTORS if later else toc.leadout_sector
    return tracks, leadout


def musicbrainz_disc_id(toc: DiscToc) -> str:
    """MusicBrainz disc ID: SHA-1 over the first session's TOC as upper-case hex, base64 with `._-`.

    MusicBrainz "Disc ID Calculation": SHA-1 of "%02X" first track, "%02X" last track, then "%08X" of
    the lead-out and of tracks 1..99 (0 where absent), all as LBA (+150); base64 with + / = replaced
    by . _ - (libdiscid does the same).
    """
    tracks, leadout = _first_session(toc)
    digest = hashlib.sha1()
    digest.update(f"{tracks[0].number:02X}{tracks[-1].number:02X}".encode())
    offsets = {t.number: t.start_sector + LEAD_IN_SECTORS for t in tracks}
    digest.update(f"{leadout + LEAD_IN_SECTORS:08X}".encode())
    for number in range(1, 100):
        digest.update(f"{offsets.get(number, 0):08X}".encode())
    return base64.b64encode(digest.digest()).decode().translate(str.maketrans("+/=", "._-"))


def _digit_sum(n: int) -> int:
    return sum(int(d) for d in str(n))


def freedb_disc_id(toc: DiscToc) -> str:
    """freedb/CDDB1 disc ID over every track (data too) and the true lead-out, as 8 lower-case hex digits.

    CDDB1: checksum = sum of the decimal digit sums of each track's start in whole seconds (LBA / 75);
    id = (checksum mod 255) << 24 | (lead-out seconds - first track seconds) << 8 | number of tracks.
    """
    seconds = [(t.start_sector + LEAD_IN_SECTORS) // FRAMES_PER_SECOND for t in toc.tracks]
    checksum = sum(_digit_sum(s) for s in seconds)
    length = (toc.leadout_sector + LEAD_IN_SECTORS) // FRAMES_PER_SECOND - seconds[0]
    return f"{(checksum % 255) << 24 | length << 8 | len(toc.tracks):08x}"


def accuraterip_disc_id(toc: DiscToc) -> str:
    """AccurateRip's disc ID, `nnn-id1-id2-freedb` as in its dBAR file names (lower-case hex).

    Over the audio tracks only, numbered 1.. in order (a mixed-mode disc's data track 1 is left out),
    LSN offsets: id1 = sum of offsets + lead-out, id2 = sum of max(offset, 1) * n + lead-out * (count + 1),
    both mod 2^32; the lead-out is the true one (CUETools' AccurateRipVerify, ARver's fingerprint.py).
    """
    audio = toc.audio_tracks
    id1 = sum(t.start_sector for t in audio) + toc.leadout_sector
    id2 = sum(max(t.start_sector, 1) * n for n, t in enumerate(audio, start=1))
    id2 += max(toc.leadout_sector, 1) * (len(audio) + 1)
    return f"{len(audio):03d}-{id1 & 0xFFFFFFFF:08x}-{id2 & 0xFFFFFFFF:08x}-{freedb_disc_id(toc)}"


# ---------------------------------------------------------------- track checksums

class TrackChecksums:
    """CRC32 and AccurateRip v1/v2 of one track, fed block by block with int16 (n, 2) PCM.

    AccurateRip (as in whipper's accuraterip-checksum and ARver): each stereo sample is one little-endian
    32-bit word (right << 16 | left), multiplied by its 1-based position p in the track. v1 sums the low
    32 bits of the products, v2 adds their high 32 bits too, both mod 2^32. Only p in [from, to] counts:
    from = 5*588 on the disc's first audio track (its first 5*588-1 samples are skipped), to = n - 5*588
    on the last (its last 5*588 samples are skipped). The CRC32 is zlib's over the PCM bytes, EAC's
    "Copy CRC" and XLD's "CRC32 hash".
    """

    def __init__(self, n_samples: int, first: bool, last: bool):
        self.check_from = AR_SKIP_SAMPLES if first else 1
        self.check_to = n_samples - AR_SKIP_SAMPLES if last else n_samples
        self.position = 0  # samples seen so far
        self.crc = 0
        self.sum_lo = 0
        self.sum_hi = 0
        self.nonzero = False

    def update(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype="<i2")  # (n, 2)
        self.crc = zlib.crc32(block.tobytes(), self.crc)
        self.nonzero = self.nonzero or bool(block.any())
        n = len(block)
        lo_p = max(self.check_from, self.position + 1)
        hi_p = min(self.check_to, self.position + n)
        if hi_p >= lo_p:
            words = block.view("<u4").ravel()[lo_p - self.position - 1 : hi_p - self.position].astype(np.uint64)  # (k,)
            products = words * np.arange(lo_p, hi_p + 1, dtype=np.uint64)  # < 2**32 * 2**31: no overflow
            # Each part is < 2**32, so a block's sum fits in uint64 for blocks under 2**32 samples.
            self.sum_lo += int((products & np.uint64(0xFFFFFFFF)).sum())
            self.sum_hi += int((products >> np.uint64(32)).sum())
        self.position += n

    @property
    def crc32(self) -> str:
        return f"{self.crc & 0xFFFFFFFF:08X}"

    @property
    def v1(self) -> str:
        return f"{self.sum_lo & 0xFFFFFFFF:08X}"

    @property
    def v2(self) -> str:
        return f"{(self.sum_lo + self.sum_hi) & 0xFFFFFFFF:08X}"


def accuraterip_checksums(pcm: np.ndarray, first: bool, last: bool) -> tuple[str, str]:
    """(v1, v2) of one whole track given as int16 (n, 2); see TrackChecksums."""
    sums = TrackChecksums(len(pcm), first, last)
    sums.update(pcm)
    return sums.v1, sums.v2


# ---------------------------------------------------------------- rip logs (EAC, XLD)

@dataclass(frozen=True)
class RipLog:
    path: str
    tool: str  # EAC | XLD | unknown
    crc32: dict[int, str]  # track number → the CRC32 the ripper wrote for that track's file
    accuraterip: dict[int, tuple[str, ...]]  # track number → AccurateRip checksums the ripper computed
    range_crc32: str | None = None  # an image (range) rip's CRC32 over all audio


_LOG_TRACK = re.compile(r"^\s*Track\s+(\d{1,2})\s*$")
_LOG_RANGE = re.compile(r"^\s*(Range status and errors|All Tracks)\s*$", re.IGNORECASE)
_LOG_CRC = re.compile(r"^\s*(?:Copy CRC\s*:?|CRC32 hash\s*:)\s*([0-9A-Fa-f]{8})\s*$")
_LOG_XLD_AR = re.compile(r"^\s*AccurateRip v[12] signature\s*:\s*([0-9A-Fa-f]{8})")
_LOG_EAC_AR = re.compile(r"^\s*(?:Accurately ripped|Cannot be verified as accurate)\b[^\[]*\[([0-9A-Fa-f]{8})\]", re.I)
_LOG_AR_SUMMARY = re.compile(
    r"^\s*Track\s+(\d{1,2})\s+(?:accurately ripped|cannot be verified as accurate)\b[^\[]*\[([0-9A-Fa-f]{8})\]", re.I
)


def read_rip_log(path: str | Path) -> RipLog:
    """Per-track CRC32s and AccurateRip checksums from an EAC or XLD log (any encoding, UTF-16 included).

    EAC: blocks "Track  1" … "Copy CRC 1A2B3C4D" … "Accurately ripped (confidence 5)  [5E6F7A8B]  (AR v2)";
    an image rip has one "Range status and errors" block and per-track lines "Track  1  accurately
    ripped … [..]". XLD: blocks "Track 01" … "CRC32 hash : …", "AccurateRip v1/v2 signature : …";
    "All Tracks" holds the image's CRC. "Test CRC", "CRC32 hash (test run)" and "(skip zero)" are not
    the file's CRC and are ignored.
    """
    path = Path(path)
    text, _ = decode_text(path.read_bytes())
    head = text[:400]
    tool = "EAC" if "Exact Audio Copy" in head else "XLD" if "X Lossless Decoder" in head else "unknown"
    crcs: dict[int, str] = {}
    ar: dict[int, list[str]] = {}
    range_crc = None
    current: int | None = None
    for line in text.splitlines():
        if m := _LOG_TRACK.match(line):
            current = int(m.group(1))
        elif _LOG_RANGE.match(line):
            current = None
        elif m := _LOG_CRC.match(line):
            if current is None:
                range_crc = m.group(1).upper()
            else:
                crcs[current] = m.group(1).upper()
        elif m := _LOG_AR_SUMMARY.match(line):
            ar.setdefault(int(m.group(1)), []).append(m.group(2).upper())
        elif (m := _LOG_XLD_AR.match(line) or _LOG_EAC_AR.match(line)) and current is not None:
            ar.setdefault(current, []).append(m.group(1).upper())
    return RipLog(str(path), tool, crcs, {k: tuple(v) for k, v in ar.items()}, range_crc)


def rip_log_candidates(cue_path: str | Path) -> list[Path]:
    """Logs that may belong to this sheet: the one with its stem first, then every *.log beside it."""
    cue_path = Path(cue_path)
    logs = sorted(p for p in cue_path.parent.iterdir() if p.suffix.lower() == ".log" and p.is_file())
    same_stem = [p for p in logs if p.stem == cue_path.stem]
    return same_stem + [p for p in logs if p not in same_stem]


# ---------------------------------------------------------------- records

@dataclass(frozen=True)
class DiscTrackInfo:
    """One split track of a disc."""

    number: int  # as in the sheet; 0 for hidden track one audio
    path: str  # the split FLAC
    title: str | None
    performer: str | None
    start_sector: int  # LSN of INDEX 01 (no 150 lead-in); 0 for track 0
    n_sectors: int  # length in 588-sample frames; a partial last frame counts as one
    crc32: str  # hex, 8 chars, upper case, over the track's PCM bytes
    accuraterip_v1: str  # "" for track 0, which AccurateRip does not cover
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
    text, _ = decode_text(cue_path.read_bytes())
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


# ---------------------------------------------------------------- reading images

@dataclass
class _Image:
    """One FILE of the sheet, opened for reading CD audio at sample offsets."""

    path: Path
    kind: str  # raw | sndfile | missing
    n_samples: int  # timeline length: a data sector counts as 588 samples
    segments: list[tuple[int, int, int]]  # raw: (first sector, byte offset, bytes per sector)
    big_endian: bool = False
    temporary: Path | None = None  # a WAV decoded by FFmpeg, deleted after the split
    handle: object = None

    def read(self, offset: int, n: int) -> np.ndarray:
        """int16 (n, 2) from `offset` samples into this file."""
        if self.kind == "sndfile":
            self.handle = self.handle or sf.SoundFile(str(self.temporary or self.path))
            if self.handle.tell() != offset:  # tracks are read in order: seek only when jumping
                self.handle.seek(offset)
            block = self.handle.read(n, dtype="int16", always_2d=True)
        else:
            sector = offset // SAMPLES_PER_FRAME
            first, byte0, size = next(s for s in reversed(self.segments) if s[0] <= sector)
            if size != SECTOR_BYTES["AUDIO"]:
                raise DiscError(f"{self.path.name}: audio read from a data sector ({size} bytes) at sector {sector}")
            self.handle = self.handle or open(self.path, "rb")  # noqa: SIM115 - closed by close()
            self.handle.seek(byte0 + (sector - first) * size + (offset % SAMPLES_PER_FRAME) * 4)
            data = self.handle.read(n * 4)
            block = np.frombuffer(data, dtype=">i2" if self.big_endian else "<i2").astype(np.int16).reshape(-1, 2)
        if len(block) != n:
            raise DiscError(f"{self.path.name}: ended {n - len(block)} samples early")
        return block

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        if self.temporary is not None:
            self.temporary.unlink(missing_ok=True)


def _raw_segments(disc: Disc, file_index: int, n_bytes: int) -> tuple[list[tuple[int, int, int]], int, int]:
    """Sector layout of a BINARY file whose tracks may differ in sector size: (segments, sectors, spare bytes)."""
    active: CueTrack | None = None
    points: list[tuple[int, int]] = []  # (sector where a track's data begins, its bytes per sector)
    for track in disc.tracks:
        first = track.indexes[0]
        if first.file_index < file_index:
            active = track
        elif first.file_index == file_index:
            points.append((first.frames, SECTOR_BYTES[track.mode]))
    if not points or points[0][0] > 0:
        size = SECTOR_BYTES[active.mode] if active else points[0][1] if points else SECTOR_BYTES["AUDIO"]
        points.insert(0, (0, size))
    segments, offset = [], 0
    for k, (sector, size) in enumerate(points):
        if k + 1 < len(points) and points[k + 1][0] == sector:
            continue  # an empty stretch: the later track owns the sector
        segments.append((sector, offset, size))
        if k + 1 < len(points):
            offset += (points[k + 1][0] - sector) * size
    last_sector, last_offset, last_size = segments[-1]
    if n_bytes < last_offset:
        return segments, n_bytes // SECTOR_BYTES["AUDIO"], 0  # too short: the index check reports it
    n_sectors, spare = divmod(n_bytes - last_offset, last_size)
    return segments, last_sector + n_sectors, spare


def _ffmpeg_sample_format(path: Path) -> str:
    result = subprocess.run([ff.ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    match = re.search(r"Audio: [^,]+, (\d+) Hz, ([^,]+), (\w+)", result.stderr)
    if not match:
        raise DiscError(f"{path.name}: not an audio file FFmpeg can read")
    return f"{match.group(1)} Hz {match.group(2).strip()} {match.group(3)}"


def _open_image(disc: Disc, file_index: int, scratch: Path, notes: list[str]) -> _Image:
    cue_file = disc.files[file_index]
    path = cue_file.path
    if cue_file.missing:
        return _Image(path, "missing", 0, [])
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError):
        info = None
    temporary = None
    if info is None and cue_file.file_type in ("BINARY", "MOTOROLA"):
        segments, n_sectors, spare = _raw_segments(disc, file_index, path.stat().st_size)
        n_samples = n_sectors * SAMPLES_PER_FRAME
        if spare:
            audio_tail = segments[-1][2] == SECTOR_BYTES["AUDIO"]
            n_samples += spare // 4 if audio_tail else 0
            notes.append(f"{path.name} ends with {spare} bytes short of a whole sector")
        return _Image(path, "raw", n_samples, segments, big_endian=cue_file.file_type == "MOTOROLA")
    if info is None:
        # APE, WavPack, TTA, ALAC…: FFmpeg decodes them bit-exactly to a temporary 16-bit WAV.
        sample_format = _ffmpeg_sample_format(path)
        if not re.fullmatch(r"44100 Hz stereo s16p?", sample_format):
            raise DiscError(f"{path.name} is {sample_format}; only CD audio (16-bit, 44.1 kHz, stereo) can be split")
        temporary = scratch / f".{path.name}.wav{TMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}"
        result = subprocess.run(
            [ff.ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-i", str(path), "-map", "0:a:0", "-c:a", "pcm_s16le",
             "-f", "wav", str(temporary)],
            capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode != 0:
            temporary.unlink(missing_ok=True)
            raise DiscError(f"{path.name}: FFmpeg could not decode it: {result.stderr.strip().splitlines()[-1:]}")
        info = sf.info(str(temporary))
    if (info.samplerate, info.channels, info.subtype) != (SAMPLE_RATE, 2, "PCM_16"):
        if temporary:
            temporary.unlink(missing_ok=True)
        raise DiscError(
            f"{path.name} is {info.subtype} {info.samplerate} Hz with {info.channels} channel(s); "
            "only CD audio (16-bit PCM, 44.1 kHz, stereo) can be split"
        )
    return _Image(path, "sndfile", info.frames, [], temporary=temporary)


# ---------------------------------------------------------------- the disc's layout

@dataclass(frozen=True)
class _Piece:
    start: int  # timeline sample
    n: int
    file_index: int  # -1: digital silence (PREGAP/POSTGAP)
    file_offset: int


@dataclass(frozen=True)
class _Span:
    track: CueTrack | None  # None: hidden track one audio
    start: int  # timeline samples
    stop: int
    start_sector: int  # LSN on the disc


@dataclass(frozen=True)
class _Layout:
    pieces: list[_Piece]
    spans: list[_Span]  # audio only, in order (HTOA first when present)
    toc: DiscToc
    notes: list[str]


def _layout(disc: Disc, lengths: list[int]) -> _Layout:
    """Where every index, track and silence lies on the disc, from the sheet and each file's length in samples."""
    notes: list[str] = []
    n_files = len(disc.files)
    # Silence no file stores, as (file, sample in file) → frames; inserted before the audio at that sample.
    inserts: list[list[tuple[int, int]]] = [[] for _ in range(n_files)]
    for k, track in enumerate(disc.tracks):
        if track.postgap_frames:
            if k + 1 < len(disc.tracks):
                first = disc.tracks[k + 1].indexes[0]
                inserts[first.file_index].append((first.frames * SAMPLES_PER_FRAME, track.postgap_frames))
            else:
                inserts[-1].append((lengths[-1], track.postgap_frames))
        if track.pregap_frames:
            one = track.index(1)
            inserts[one.file_index].append((one.frames * SAMPLES_PER_FRAME, track.pregap_frames))
    pieces: list[_Piece] = []
    bases: list[int] = []
    position = 0
    for f in range(n_files):
        bases.append(position)
        cursor = 0
        for at, frames in sorted(inserts[f]):
            if at > cursor:
                pieces.append(_Piece(position, at - cursor, f, cursor))
                position += at - cursor
                cursor = at
            pieces.append(_Piece(position, frames * SAMPLES_PER_FRAME, -1, 0))
            position += frames * SAMPLES_PER_FRAME
        if lengths[f] > cursor:
            pieces.append(_Piece(position, lengths[f] - cursor, f, cursor))
            position += lengths[f] - cursor
    total = position

    def at(track: CueTrack, number: int) -> int:
        index = track.index(number)
        sample = index.frames * SAMPLES_PER_FRAME
        if sample > lengths[index.file_index] and not disc.files[index.file_index].missing:
            raise CueError(
                f"{disc.cue_path.name}, line {index.line}: INDEX {number:02d} ({frames_to_msf(index.frames)}) of "
                f"TRACK {track.number:02d} is past the end of {disc.files[index.file_index].path.name} "
                f"({frames_to_msf(lengths[index.file_index] // SAMPLES_PER_FRAME)} long)"
            )
        silence = sum(frames * SAMPLES_PER_FRAME for where, frames in inserts[index.file_index] if where <= sample)
        return bases[index.file_index] + sample + silence

    starts = [at(t, 1) for t in disc.tracks]
    firsts = [min(at(t, i.number) for i in t.indexes) for t in disc.tracks]
    for k in range(1, len(disc.tracks)):
        if starts[k] <= starts[k - 1]:
            t = disc.tracks[k]
            raise CueError(f"{disc.cue_path.name}, line {t.line}: TRACK {t.number:02d} starts before TRACK "
                           f"{disc.tracks[k - 1].number:02d} ends (empty or out of order)")  # fmt: skip

    # Sessions: REM SESSION when given, else an enhanced CD's trailing data tracks form session 2.
    sessions = [t.session for t in disc.tracks]
    last_audio = max((k for k, t in enumerate(disc.tracks) if t.is_audio), default=-1)
    if last_audio < 0:
        raise CueError(f"{disc.cue_path.name}: no audio tracks")
    if max(sessions) == 1 and last_audio < len(disc.tracks) - 1:
        sessions = [1 if k <= last_audio else 2 for k in range(len(disc.tracks))]
        notes.append(f"data track {disc.tracks[last_audio + 1].number} follows the audio: read as an enhanced CD's "
                     f"second session, {SESSION_GAP_SECTORS} sectors after the audio on the disc")  # fmt: skip
    shift = [0] * len(disc.tracks)  # sectors a session lies further on the disc than in the image
    for k in range(1, len(disc.tracks)):
        shift[k] = shift[k - 1]
        if sessions[k] > sessions[k - 1]:
            t = disc.tracks[k]
            session_start = min(firsts[k], starts[k] - t.pregap_frames * SAMPLES_PER_FRAME) // SAMPLES_PER_FRAME
            shift[k] = shift[k - 1] + session_start + SESSION_GAP_SECTORS - starts[k] // SAMPLES_PER_FRAME

    toc_tracks, leadout_shift = [], 0
    for k, t in enumerate(disc.tracks):
        if disc.files[t.index(1).file_index].missing:
            notes.append(f"track {t.number} is a data track in a missing file: left out of the TOC, "
                         "so the freedb and AccurateRip IDs may not match")  # fmt: skip
            continue
        leadout_shift = shift[k]
        if starts[k] % SAMPLES_PER_FRAME:
            notes.append(f"track {t.number} starts {starts[k] % SAMPLES_PER_FRAME} samples into a sector "
                         "(a file before it is not whole sectors); its sector is rounded down")  # fmt: skip
        toc_tracks.append(TocTrack(t.number, starts[k] // SAMPLES_PER_FRAME + shift[k], t.is_audio, sessions[k]))
    if total % SAMPLES_PER_FRAME:
        notes.append(f"the image is not whole CD frames ({total % SAMPLES_PER_FRAME} samples over); "
                     "the last frame counts as a whole sector")  # fmt: skip
    leadout = -(-total // SAMPLES_PER_FRAME) + leadout_shift
    toc = DiscToc(tuple(toc_tracks), leadout)

    spans = []
    first = disc.tracks[0]
    if first.is_audio and starts[0] > 0:
        spans.append(_Span(None, 0, starts[0], 0))
    for k, t in enumerate(disc.tracks):
        if not t.is_audio:
            notes.append(f"track {t.number} is a data track ({t.mode}): skipped")
            continue
        if k + 1 < len(disc.tracks):
            following = disc.tracks[k + 1]
            stop = starts[k + 1] if following.is_audio else firsts[k + 1]
        else:
            stop = total
        if stop <= starts[k]:
            raise CueError(f"{disc.cue_path.name}, line {t.line}: TRACK {t.number:02d} holds no audio "
                           "(it starts where the image or the next track ends)")  # fmt: skip
        spans.append(_Span(t, starts[k], stop, starts[k] // SAMPLES_PER_FRAME + shift[k]))
    return _Layout(pieces, spans, toc, notes)


def _pcm(pieces: list[_Piece], images: list[_Image], start: int, stop: int) -> Iterator[np.ndarray]:
    """int16 (n, 2) blocks of the timeline between two samples."""
    for piece in pieces:
        a, b = max(start, piece.start), min(stop, piece.start + piece.n)
        while a < b:
            n = min(BLOCK_SAMPLES, b - a)
            if piece.file_index < 0:
                yield np.zeros((n, 2), np.int16)
            else:
                yield images[piece.file_index].read(piece.file_offset + a - piece.start, n)
            a += n


# ---------------------------------------------------------------- splitting

def _tags(disc: Disc, track: CueTrack | None, n_tracks: int, mb_id: str) -> dict[str, str]:
    """Vorbis comments for a split track (names as in the Xiph recommendations and MusicBrainz Picard)."""
    tags = {
        "album": disc.title,
        "albumartist": disc.performer,
        "artist": (track.performer if track else None) or disc.performer,
        "title": track.title if track else None,
        "tracknumber": str(track.number if track else 0),
        "tracktotal": str(n_tracks),
        "date": disc.rem.get("DATE"),
        "genre": disc.rem.get("GENRE"),
        "discnumber": disc.rem.get("DISCNUMBER"),
        "disctotal": disc.rem.get("TOTALDISCS"),
        "composer": (track.songwriter if track else None) or disc.songwriter,
        "isrc": track.isrc if track else None,
        "barcode": disc.catalog,
        "musicbrainz_discid": mb_id,
    }
    return {k: v for k, v in tags.items() if v}


def _write_track(path: Path, blocks: Iterator[np.ndarray], checksums: TrackChecksums, tags: dict[str, str]) -> None:
    with atomic_path(path) as tmp:
        # The temporary name ends in ".tmp-…", so the format is given, not guessed from the suffix.
        with sf.SoundFile(str(tmp), "w", SAMPLE_RATE, 2, "PCM_16", format="FLAC") as out:
            for block in blocks:
                checksums.update(block)
                out.write(block)
        flac = mutagen.flac.FLAC(tmp)
        for key, value in tags.items():
            flac[key.upper()] = value
        flac.save()


def _split(disc: Disc, folder: Path, key: str) -> dict:
    """Write every audio track of `disc` into `folder` and return the sidecar (written last)."""
    notes: list[str] = []
    images: list[_Image] = []
    try:
        for i in range(len(disc.files)):
            images.append(_open_image(disc, i, folder.parent, notes))
        layout = _layout(disc, [im.n_samples for im in images])
        notes += layout.notes
        mb_id = musicbrainz_disc_id(layout.toc)
        numbered = [s for s in layout.spans if s.track is not None]
        tracks, image_crc = [], 0

        def whole_image_crc(blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
            # The numbered tracks' PCM in order: an image rip's "Copy CRC" (EAC) or "All Tracks" CRC32 (XLD).
            nonlocal image_crc
            for block in blocks:
                image_crc = zlib.crc32(np.ascontiguousarray(block, "<i2").tobytes(), image_crc)
                yield block

        for span in layout.spans:
            sums = TrackChecksums(span.stop - span.start, span is numbered[0], span is numbered[-1])
            number = span.track.number if span.track else 0
            name = f"{number:02d}.flac"
            blocks = _pcm(layout.pieces, images, span.start, span.stop)
            if span.track is None:
                # Hidden track one audio: kept only if it is not digital silence (decided before writing).
                if not any(block.any() for block in _pcm(layout.pieces, images, span.start, span.stop)):
                    notes.append(f"{span.stop // SAMPLES_PER_FRAME} sectors before track {numbered[0].track.number}'s "
                                 "INDEX 01 are digital silence: not kept")  # fmt: skip
                    continue
                notes.append(f"hidden track one audio ({frames_to_msf(-(-span.stop // SAMPLES_PER_FRAME))}) "
                             "kept as track 0")  # fmt: skip
            else:
                blocks = whole_image_crc(blocks)
            _write_track(folder / name, blocks, sums, _tags(disc, span.track, len(disc.tracks), mb_id))
            tracks.append(
                {
                    "number": number,
                    "file": name,
                    "title": span.track.title if span.track else None,
                    "performer": ((span.track.performer if span.track else None) or disc.performer),
                    "start_sector": span.start_sector,
                    "n_sectors": -(-(span.stop - span.start) // SAMPLES_PER_FRAME),
                    "crc32": sums.crc32,
                    "accuraterip_v1": sums.v1 if span.track else "",
                    "accuraterip_v2": sums.v2 if span.track else "",
                }
            )
    finally:
        for image in images:
            image.close()
    sidecar = {
        "disc_stage_version": DISC_STAGE_VERSION,
        "disc_key": key,
        "musicbrainz_disc_id": mb_id,
        "freedb_disc_id": freedb_disc_id(layout.toc),
        "accuraterip_disc_id": accuraterip_disc_id(layout.toc),
        "toc": {"tracks": [dataclasses.asdict(t) for t in layout.toc.tracks], "leadout_sector": layout.toc.leadout_sector},
        "image_crc32": f"{image_crc & 0xFFFFFFFF:08X}",
        "tracks": tracks,
        "notes": notes,
    }
    write_json_atomic(folder / SIDECAR, sidecar)
    return sidecar


def _verify_against_logs(cue_path: Path, sidecar: dict) -> tuple[dict[int, str], list[str]]:
    """The log CRC per track from the log that fits this disc best, and notes on what disagrees."""
    computed = {t["number"]: t for t in sidecar["tracks"] if t["number"] > 0}
    candidates = rip_log_candidates(cue_path)
    best: tuple[int, RipLog] | None = None
    for path in candidates:
        try:
            log = read_rip_log(path)
        except OSError:
            continue
        if not log.crc32 and not log.range_crc32 and not log.accuraterip:
            continue
        matches = sum(computed.get(n, {}).get("crc32") == crc for n, crc in log.crc32.items())
        matches += sidecar["image_crc32"] == log.range_crc32
        if best is None or matches > best[0]:  # ties keep the earlier log: the sheet's namesake first
            best = (matches, log)
    if best is None:
        return {}, []
    matches, log = best
    name = Path(log.path).name
    if matches == 0 and Path(log.path).stem != cue_path.stem and len(candidates) > 1:
        return {}, [f"{len(candidates)} logs beside the sheet and none matches this disc: not used"]
    notes = [f"rip log {name} ({log.tool})"]
    for number, crc in sorted(log.crc32.items()):
        if number in computed and computed[number]["crc32"] != crc:
            notes.append(f"track {number}: CRC32 {computed[number]['crc32']} differs from the log's {crc} ({name})")
    for number, values in sorted(log.accuraterip.items()):
        ours = {computed[number]["accuraterip_v1"], computed[number]["accuraterip_v2"]} if number in computed else set()
        if ours and not ours & set(values):
            notes.append(f"track {number}: AccurateRip {'/'.join(sorted(ours))} differs from the log's "
                         f"{'/'.join(values)} ({name})")  # fmt: skip
    if log.range_crc32:
        verdict = "matches" if log.range_crc32 == sidecar["image_crc32"] else "differs from"
        notes.append(f"image CRC32 {sidecar['image_crc32']} {verdict} the log's {log.range_crc32} ({name})")
    return {n: crc for n, crc in log.crc32.items()}, notes


def split_disc(cue_path: Path, out_dir: Path) -> DiscRecord:
    """Split the disc a CUE sheet describes into `out_dir/{disc_key}/{NN}.flac` (reused when already there).

    Raises CueError for a malformed sheet or missing audio, DiscError for an image that is not readable
    CD audio. Log comparison is redone on every call (a log added later is taken into account).
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
        sidecar = _split(disc, folder, key)
    log_crcs, log_notes = _verify_against_logs(cue_path, sidecar)
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
            crc_matches_log=(log_crcs[t["number"]] == t["crc32"]) if t["number"] in log_crcs and t["number"] > 0 else None,
        )
        for t in sidecar["tracks"]
    ]
    return DiscRecord(
        cue_path=str(cue_path),
        image_paths=[str(f.path) for f in disc.files if not f.missing],
        disc_key=key,
        musicbrainz_disc_id=sidecar["musicbrainz_disc_id"],
        freedb_disc_id=sidecar["freedb_disc_id"],
        accuraterip_disc_id=sidecar["accuraterip_disc_id"],
        album=disc.title,
        albumartist=disc.performer,
        tracks=tracks,
        notes=list(disc.notes) + list(sidecar["notes"]) + log_notes,
    )


# ---------------------------------------------------------------- ripping with cdparanoia

@dataclass(frozen=True)
class ParanoiaTrack:
    number: int
    start_sector: int  # LSN, as cdparanoia prints "begin"
    n_sectors: int
    copy_permitted: bool
    pre_emphasis: bool


# cdparanoia -Q (libcdio-paranoia's display_toc): "%3d.  %7ld [mm:ss.ff]  %7ld [mm:ss.ff]  copy pre ch".
_PARANOIA_ROW = re.compile(r"^\s*(\d+)\.\s+(\d+)\s+\[[\d:.]+\]\s+(\d+)\s+\[[\d:.]+\]\s+(OK|no)\s+(yes|no)\s+(\d)\s*$")


def parse_cdparanoia_toc(text: str) -> list[ParanoiaTrack]:
    """The audio tracks of `cdparanoia -Q` output (it prints audio tracks only); RipError if there are none."""
    tracks = []
    for line in text.splitlines():
        if m := _PARANOIA_ROW.match(line):
            number, length, begin = int(m.group(1)), int(m.group(2)), int(m.group(3))
            tracks.append(ParanoiaTrack(number, begin, length, m.group(4) == "OK", m.group(5) == "yes"))
    if not tracks:
        last = next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), "no output")
        raise RipError(f"cdparanoia printed no table of contents: {last}")
    return tracks


def paranoia_toc(tracks: list[ParanoiaTrack]) -> DiscToc:
    last = tracks[-1]
    return DiscToc(tuple(TocTrack(t.number, t.start_sector) for t in tracks), last.start_sector + last.n_sectors)


def cue_for_paranoia_rip(tracks: list[ParanoiaTrack], image_name: str) -> str:
    """A CUE sheet for one WAV holding tracks first..last as cdparanoia ripped them.

    The image starts at the first track's INDEX 01; audio before it (a pregap, or hidden track one audio,
    which cdparanoia's track spans do not reach) becomes PREGAP so the TOC, and the disc IDs, stay right.
    """
    toc = paranoia_toc(tracks)
    lines = [
        f'REM DISCID {freedb_disc_id(toc).upper()}',
        'REM COMMENT "LadLe rip_disc (cdparanoia)"',
        f'FILE "{image_name}" WAVE',
    ]
    for t in tracks:
        lines.append(f"  TRACK {t.number:02d} AUDIO")
        flags = [f for f, on in (("DCP", t.copy_permitted), ("PRE", t.pre_emphasis)) if on]
        if flags:
            lines.append(f"    FLAGS {' '.join(flags)}")
        if t is tracks[0] and t.start_sector > 0:
            lines.append(f"    PREGAP {frames_to_msf(t.start_sector)}")
        lines.append(f"    INDEX 01 {frames_to_msf(t.start_sector - tracks[0].start_sector)}")
    return "\n".join(lines) + "\n"


def find_cdparanoia() -> str:
    """Path of cdparanoia (or libcdio's cd-paranoia); RipError if neither is installed."""
    for name in ("cdparanoia", "cd-paranoia"):
        found = shutil.which(name)
        if found:
            return found
    raise RipError("cdparanoia is not installed (neither cdparanoia nor cd-paranoia is on PATH); install it to rip discs")


def rip_disc(device: str, out_dir: Path, *, read_offset_samples: int = 0) -> Path:
    """Rip the audio CD in `device` with cdparanoia into one WAV plus CUE sheet in `out_dir`; return the sheet.

    `read_offset_samples` is the drive's read offset correction (cdparanoia -O; AccurateRip lists it per
    drive model) and must be right for the AccurateRip checksums to match. Idempotent: a disc already
    ripped into `out_dir` (same TOC) is not read again. Data tracks are not ripped (cdparanoia lists
    audio only), so an enhanced CD's freedb and AccurateRip IDs come out as if it had none.
    """
    program = find_cdparanoia()
    if not Path(device).exists():
        raise RipError(f"no CD device at {device}")
    query = subprocess.run([program, "-d", device, "-Q"], capture_output=True, text=True)
    tracks = parse_cdparanoia_toc(query.stderr + query.stdout)
    out_dir = Path(out_dir)
    stem = f"disc-{freedb_disc_id(paranoia_toc(tracks))}-{len(tracks):02d}"
    image, cue = out_dir / f"{stem}.wav", out_dir / f"{stem}.cue"
    if image.is_file() and cue.is_file():
        return cue
    span = f"{tracks[0].number}-{tracks[-1].number}"
    with atomic_path(image) as tmp:
        rip = subprocess.run(
            [program, "-d", device, "-O", str(read_offset_samples), "-w", "--", span, str(tmp)],
            capture_output=True, text=True,
        )  # fmt: skip
        if rip.returncode != 0 or not tmp.is_file():
            last = next((ln.strip() for ln in reversed(rip.stderr.splitlines()) if ln.strip()), "no output")
            raise RipError(f"cdparanoia failed (exit {rip.returncode}): {last}")
        expected = sum(t.n_sectors for t in tracks) * SAMPLES_PER_FRAME
        got = sf.info(str(tmp)).frames
        if got != expected:
            raise RipError(f"cdparanoia wrote {got} samples, the TOC promises {expected}")
    with atomic_path(cue) as tmp:
        tmp.write_text(cue_for_paranoia_rip(tracks, image.name), encoding="utf-8")
    return cue
