"""CUE sheets: read the text (any common encoding), parse it into typed records, find the files it names.

    disc = read_cue("library/Album/Album.cue")    # CueError with a line number and a reason on a bad sheet
    [(t.number, t.title, t.index(1).frames) for t in disc.tracks]

Positions are CD frames (sectors): 75 a second, 588 stereo samples each (Red Book, IEC 60908), counted
from the start of the FILE the index lies in. The grammar is CDRWIN's (the commands in its manual:
CATALOG, CDTEXTFILE, FILE, FLAGS, INDEX, ISRC, PERFORMER, POSTGAP, PREGAP, REM, SONGWRITER, TITLE,
TRACK) plus the CD-TEXT fields some rippers add (COMPOSER, ARRANGER, MESSAGE, GENRE, …).

What is an error, what is a warning and what is only a note:
- errors (`CueError`): no TRACK, a TRACK before any FILE when no image is known, an INDEX/PREGAP/POSTGAP/
  FLAGS/ISRC before any TRACK, an audio TRACK without any INDEX, malformed times or numbers, tracks out of order,
  an index earlier than the index before it (in its track or the previous one, within one FILE), a
  FILE path that leaves the cue sheet's folder (`../../etc/passwd`, `/etc/passwd`, `C:\\x.wav`,
  `\\\\server\\x.wav`), and (in `read_cue`) a named audio file that cannot be found.
- warnings (kept in `Disc.warnings`): what peers accept and this parser reads their way, where the
  meaning is unambiguous: an audio TRACK without INDEX 01 starts at its first index (libcue's rule: its
  only index, or INDEX 00); a bare number as a time is a count of frames (`INDEX 01 99`, libcue's
  grammar); a sheet without FILE (as FLAC embeds one: CUESHEET tag) describes the image it came with,
  or the one audio file beside it that has its stem.
- notes (kept in `Disc.notes`): unknown commands (ignored: real sheets carry vendor extensions), the
  encoding when it had to be detected, a FILE found under another name (EAC sheets often name
  `Album.wav` after the image was compressed to `Album.flac`), a data track without INDEX 01.

Data tracks: EAC writes a data track it did not read as `TRACK nn MODEx/2xxx` with no INDEX or only
INDEX 00 (CUETools reads the same placeholder); no file holds any of it, so its place on the disc comes
from the rip log's TOC (`storage.sources.discid.toc_with_log`) or, after the audio, from the enhanced-CD
layout. Lines may end in CR LF, LF or CR alone.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from storage.sources.cue_files import resolve_file_name
from storage.sources.text import MIN_CONFIDENCE

PLACEHOLDER_MODE = "MODEX/2XXX"  # as the parser stores it (upper case)
FRAMES_PER_SECOND = 75  # CD frames (sectors) per second, Red Book
SAMPLES_PER_FRAME = 588  # 44100 / 75 stereo samples per CD frame

# Bytes per sector of each TRACK type in a BINARY image (CDRWIN manual; CDG carries 96 subcode bytes).
SECTOR_BYTES = {
    "AUDIO": 2352,
    "CDG": 2448,
    "MODE1/2048": 2048,
    "MODE1/2352": 2352,
    "MODE2/2048": 2048,
    "MODE2/2324": 2324,
    "MODE2/2336": 2336,
    "MODE2/2352": 2352,
    "CDI/2336": 2336,
    "CDI/2352": 2352,
    # EAC's placeholder for a data track it did not read (also read by CUETools): no sector of it is in any
    # file, so its size never matters; 2352 keeps the raw-image layout code uniform.
    PLACEHOLDER_MODE: 2352,
}
FILE_TYPES = ("BINARY", "MOTOROLA", "WAVE", "AIFF", "MP3", "FLAC", "WAV")
KNOWN_COMMANDS = {
    "CATALOG", "CDTEXTFILE", "FILE", "FLAGS", "INDEX", "ISRC", "PERFORMER", "POSTGAP", "PREGAP",
    "REM", "SONGWRITER", "TITLE", "TRACK",
    # CD-TEXT packs written by some rippers (cdrdao's CD-TEXT names); kept, not interpreted.
    "ARRANGER", "COMPOSER", "MESSAGE", "DISC_ID", "GENRE", "TOC_INFO1", "TOC_INFO2", "UPC_EAN", "SIZE_INFO",
}  # fmt: skip


class CueError(ValueError):
    """A CUE sheet that cannot be used; the message names the sheet, the line and the reason."""


@dataclass(frozen=True)
class CueFile:
    name: str  # as written in the sheet
    path: Path  # where it is on disk (after `read_cue`), or where the sheet says it is
    file_type: str  # BINARY | MOTOROLA | WAVE | AIFF | MP3 | FLAC
    line: int
    missing: bool = False  # only ever True for a file that holds nothing but data tracks


@dataclass(frozen=True)
class CueIndex:
    number: int  # 0 = pregap start, 1 = track start, 2..99 = subindexes
    file_index: int  # into Disc.files: an index lies in the FILE in effect where it is written
    frames: int  # CD frames from the start of that file
    line: int


@dataclass(frozen=True)
class CueTrack:
    number: int
    mode: str  # AUDIO, MODE1/2352, …
    file_index: int  # the FILE in effect at the TRACK line
    indexes: tuple[CueIndex, ...]
    line: int
    pregap_frames: int = 0  # PREGAP: silence not stored in any file
    postgap_frames: int = 0  # POSTGAP: same, after the track
    title: str | None = None
    performer: str | None = None
    songwriter: str | None = None
    isrc: str | None = None
    flags: tuple[str, ...] = ()
    session: int = 1  # from REM SESSION nn (CUETools, ImgBurn); 1 when absent
    rem: dict[str, str] = field(default_factory=dict)
    cdtext: dict[str, str] = field(default_factory=dict)

    @property
    def is_audio(self) -> bool:
        return self.mode == "AUDIO"

    @property
    def is_placeholder(self) -> bool:
        """EAC's MODEx/2xxx: a data track no file holds."""
        return self.mode == PLACEHOLDER_MODE

    def index(self, number: int) -> CueIndex | None:
        return next((i for i in self.indexes if i.number == number), None)


@dataclass(frozen=True)
class Disc:
    cue_path: Path
    encoding: str
    files: tuple[CueFile, ...]
    tracks: tuple[CueTrack, ...]
    title: str | None = None
    performer: str | None = None
    songwriter: str | None = None
    catalog: str | None = None
    rem: dict[str, str] = field(default_factory=dict)  # DATE, GENRE, COMMENT, DISCID, DISCNUMBER, …
    cdtext: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    encoding_confidence: float = 1.0  # see storage.sources.text.DecodedText; below MIN_CONFIDENCE no text tags
    warnings: tuple[str, ...] = ()  # what was read leniently (module docstring)

    @property
    def text_trusted(self) -> bool:
        return self.encoding_confidence >= MIN_CONFIDENCE


# ---------------------------------------------------------------- parsing

_TIME = re.compile(r"^(\d{1,3}):(\d{1,2}):(\d{1,2})$")


def msf_to_frames(text: str) -> int:
    """'mm:ss:ff' (ff in 0..74) → CD frames; ValueError on anything else."""
    match = _TIME.match(text.strip())
    if not match:
        raise ValueError(f"time {text!r} is not mm:ss:ff")
    minutes, seconds, frames = (int(g) for g in match.groups())
    if seconds >= 60 or frames >= FRAMES_PER_SECOND:
        raise ValueError(f"time {text!r} has seconds ≥ 60 or frames ≥ 75")
    return (minutes * 60 + seconds) * FRAMES_PER_SECOND + frames


def cue_time_to_frames(text: str) -> tuple[int, bool]:
    """A CUE time: 'mm:ss:ff', or a bare number of frames as libcue reads it; (frames, was_bare)."""
    text = text.strip()
    if text.isdigit():
        return int(text), True
    return msf_to_frames(text), False


def frames_to_msf(frames: int) -> str:
    seconds, ff = divmod(frames, FRAMES_PER_SECOND)
    return f"{seconds // 60:02d}:{seconds % 60:02d}:{ff:02d}"


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text.rfind('"') > 0:
        return text[1 : text.rfind('"')]
    return text.strip('"')


def _split_file_args(rest: str) -> tuple[str, str]:
    """FILE's arguments: a name (quoted, or unquoted and possibly with spaces) and a type (last word)."""
    rest = rest.strip()
    if rest.startswith('"'):
        end = rest.find('"', 1)
        if end < 0:
            raise ValueError("unbalanced quotes")
        return rest[1:end], rest[end + 1 :].strip()
    name, _, file_type = rest.rpartition(" ")
    if not name:  # only one word: a name without a type
        return file_type, ""
    return name.strip(), file_type.strip()


@dataclass
class _TrackDraft:
    number: int
    mode: str
    file_index: int
    line: int
    session: int
    indexes: list[CueIndex] = field(default_factory=list)
    pregap_frames: int = 0
    postgap_frames: int = 0
    title: str | None = None
    performer: str | None = None
    songwriter: str | None = None
    isrc: str | None = None
    flags: tuple[str, ...] = ()
    rem: dict[str, str] = field(default_factory=dict)
    cdtext: dict[str, str] = field(default_factory=dict)


def parse_cue(
    text: str, cue_dir: str | Path, cue_name: str = "cue sheet", encoding: str = "utf-8", image: str | None = None
) -> Disc:
    """Parse CUE text; FILE paths are resolved against `cue_dir` but not looked for on disk.

    `image`: the file a sheet without FILE describes (the FLAC that embeds it, or the image beside it).
    """
    cue_dir = Path(cue_dir)

    def fail(line_no: int, reason: str) -> CueError:
        return CueError(f"{cue_name}, line {line_no}: {reason}")

    files: list[CueFile] = []
    tracks: list[_TrackDraft] = []
    disc_fields: dict[str, str] = {}
    disc_rem: dict[str, str] = {}
    disc_cdtext: dict[str, str] = {}
    notes: list[str] = []
    warnings: list[str] = []
    session = 1
    last_index: tuple[CueIndex, int] | None = None  # the latest index and its track number
    # splitlines() also splits at a lone CR: sheets written with classic Mac OS line ends parse too.
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line:
            continue
        command, _, rest = line.partition(" ")
        command, rest = command.upper(), rest.strip()
        track = tracks[-1] if tracks else None
        try:
            if command == "REM":
                key, _, value = rest.partition(" ")
                key, value = key.upper(), _unquote(value)
                if key == "SESSION":
                    session = int(value)
                elif key and track is None:
                    disc_rem[key] = value
                elif key:
                    track.rem[key] = value
            elif command == "FILE":
                name, file_type = _split_file_args(rest)
                if not name:
                    raise ValueError("FILE without a file name")
                file_type = file_type.upper() or "WAVE"
                if file_type not in FILE_TYPES:
                    notes.append(f"line {line_no}: unknown FILE type {file_type!r}, read by content")
                files.append(CueFile(name, resolve_file_name(name, cue_dir), file_type, line_no))
            elif command == "TRACK":
                if not files and image is None:
                    raise ValueError("TRACK before any FILE: the sheet does not say which file holds the audio")
                if not files:
                    files.append(CueFile(image, resolve_file_name(image, cue_dir), "WAVE", line_no))
                    warnings.append(f"the sheet names no FILE: its tracks are read from {image!r}")
                number_text, _, mode = rest.partition(" ")
                number, mode = int(number_text), mode.strip().upper()
                if mode not in SECTOR_BYTES:
                    raise ValueError(f"unknown track type {mode!r}")
                if not 1 <= number <= 99:
                    raise ValueError(f"track number {number} is outside 1..99")
                if tracks and number <= tracks[-1].number:
                    raise ValueError(f"TRACK {number:02d} follows TRACK {tracks[-1].number:02d}")
                if tracks and number != tracks[-1].number + 1:
                    notes.append(f"line {line_no}: track numbers jump from {tracks[-1].number} to {number}")
                tracks.append(_TrackDraft(number, mode, len(files) - 1, line_no, session))
            elif command in ("INDEX", "PREGAP", "POSTGAP", "FLAGS", "ISRC") and track is None:
                raise ValueError(f"{command} before any TRACK")
            elif command == "INDEX":
                number_text, _, time_text = rest.partition(" ")
                number, (frames, bare) = int(number_text), cue_time_to_frames(time_text)
                if bare:
                    warnings.append(
                        f"line {line_no}: INDEX time {time_text.strip()!r} is a bare number: read as frames"
                    )
                if not 0 <= number <= 99:
                    raise ValueError(f"index number {number} is outside 0..99")
                previous = track.indexes[-1] if track.indexes else None
                if previous and number <= previous.number:
                    raise ValueError(
                        f"INDEX {number:02d} follows INDEX {previous.number:02d} in TRACK {track.number:02d}"
                    )
                # Positions only grow within a FILE, across tracks too: an index before the last one
                # (this track's or the previous track's) would give a track a negative length.
                if last_index and last_index[0].file_index == len(files) - 1 and frames < last_index[0].frames:
                    where = "" if last_index[1] == track.number else f" of TRACK {last_index[1]:02d}"
                    raise ValueError(
                        f"INDEX {number:02d} ({time_text}) of TRACK {track.number:02d} is before "
                        f"INDEX {last_index[0].number:02d}{where} ({frames_to_msf(last_index[0].frames)})"
                    )
                track.indexes.append(CueIndex(number, len(files) - 1, frames, line_no))
                last_index = (track.indexes[-1], track.number)
            elif command in ("PREGAP", "POSTGAP"):
                frames, bare = cue_time_to_frames(rest)
                setattr(track, f"{command.lower()}_frames", frames)
                if bare:
                    warnings.append(f"line {line_no}: {command} time {rest!r} is a bare number: read as frames")
            elif command == "FLAGS":
                track.flags = tuple(rest.upper().split())
            elif command == "ISRC":
                track.isrc = _unquote(rest)
            elif command in ("TITLE", "PERFORMER", "SONGWRITER"):
                value = _unquote(rest) or None
                if track is None:
                    disc_fields[command.lower()] = value
                else:
                    setattr(track, command.lower(), value)
            elif command in ("CATALOG", "CDTEXTFILE"):
                disc_fields[command.lower()] = _unquote(rest)
            elif command in KNOWN_COMMANDS:
                (track.cdtext if track else disc_cdtext)[command] = _unquote(rest)
            else:
                notes.append(f"line {line_no}: unknown command {command!r} ignored")
        except ValueError as e:
            raise fail(line_no, str(e)) from None

    if not files:
        raise CueError(f"{cue_name}: no FILE command: the sheet names no audio file")
    if not tracks:
        raise CueError(f"{cue_name}: no TRACK command")
    finished = []
    for draft in tracks:
        if not any(i.number == 1 for i in draft.indexes):
            if draft.mode == "AUDIO" and not draft.indexes:
                raise fail(draft.line, f"TRACK {draft.number:02d} has no INDEX 01 (nor any other index)")
            if draft.mode == "AUDIO":
                # libcue's rule: a track starts at its first index (its only one, or INDEX 00).
                first = draft.indexes[0]
                draft.indexes[0] = dataclasses.replace(first, number=1)
                warnings.append(f"line {draft.line}: TRACK {draft.number:02d} has no INDEX 01: it starts at its "
                                f"INDEX {first.number:02d} ({frames_to_msf(first.frames)})")  # fmt: skip
            else:
                notes.append(f"line {draft.line}: data TRACK {draft.number:02d} has no INDEX 01: no file holds it")
        values = dataclasses.asdict(draft)
        values["indexes"] = tuple(draft.indexes)
        finished.append(CueTrack(**values))
    return Disc(
        cue_path=cue_dir / cue_name,
        encoding=encoding,
        files=tuple(files),
        tracks=tuple(finished),
        title=disc_fields.get("title"),
        performer=disc_fields.get("performer"),
        songwriter=disc_fields.get("songwriter"),
        catalog=disc_fields.get("catalog"),
        rem=disc_rem,
        cdtext=disc_cdtext,
        notes=tuple(notes),
        warnings=tuple(warnings),
    )
