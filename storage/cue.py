"""CUE sheets: read the text (any common encoding), parse it into typed records, find the files it names.

    disc = read_cue("library/Album/Album.cue")    # CueError with a line number and a reason on a bad sheet
    [(t.number, t.title, t.index(1).frames) for t in disc.tracks]

Positions are CD frames (sectors): 75 a second, 588 stereo samples each (Red Book, IEC 60908), counted
from the start of the FILE the index lies in. The grammar is CDRWIN's (the commands in its manual:
CATALOG, CDTEXTFILE, FILE, FLAGS, INDEX, ISRC, PERFORMER, POSTGAP, PREGAP, REM, SONGWRITER, TITLE,
TRACK) plus the CD-TEXT fields some rippers add (COMPOSER, ARRANGER, MESSAGE, GENRE, …).

What is an error and what is only a note:
- errors (`CueError`): no FILE, no TRACK, a TRACK before any FILE, an INDEX/PREGAP/POSTGAP/FLAGS/ISRC
  before any TRACK, a TRACK without INDEX 01, malformed times or numbers, tracks or indexes out of order,
  a FILE path that leaves the cue sheet's folder (`../../etc/passwd`, `/etc/passwd`), and (in
  `read_cue`) a named audio file that cannot be found.
- notes (kept in `Disc.notes`): unknown commands (ignored: real sheets carry vendor extensions), the
  encoding when it had to be guessed, a FILE found under another name (EAC sheets often name
  `Album.wav` after the image was compressed to `Album.flac`, or carry a Windows path).
"""

from __future__ import annotations

import codecs
import dataclasses
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

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
}
FILE_TYPES = ("BINARY", "MOTOROLA", "WAVE", "AIFF", "MP3", "FLAC", "WAV")
KNOWN_COMMANDS = {
    "CATALOG", "CDTEXTFILE", "FILE", "FLAGS", "INDEX", "ISRC", "PERFORMER", "POSTGAP", "PREGAP",
    "REM", "SONGWRITER", "TITLE", "TRACK",
    # CD-TEXT packs written by some rippers (cdrdao's CD-TEXT names); kept, not interpreted.
    "ARRANGER", "COMPOSER", "MESSAGE", "DISC_ID", "GENRE", "TOC_INFO1", "TOC_INFO2", "UPC_EAN", "SIZE_INFO",
}  # fmt: skip
# Where a FILE named by the sheet is missing, these are tried with the same stem (EAC names the WAV it
# wrote; the image is usually compressed afterwards).
AUDIO_EXTENSIONS = (".flac", ".wav", ".wv", ".ape", ".tta", ".aiff", ".aif", ".m4a", ".bin", ".img", ".raw")


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


# ---------------------------------------------------------------- text and its encoding

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts with UTF-16 LE's
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Legacy code pages tried for text that is neither BOM-marked nor valid UTF-8, in order of preference
# on a tie: Western European (EAC's default on most systems), Cyrillic, Japanese (Shift-JIS as Windows
# extends it).
LEGACY_ENCODINGS = ("cp1252", "cp1251", "cp932")


def _script(ch: str) -> str:
    """A coarse script class for mojibake scoring: ascii | latin | cyrillic | cjk | symbol | bad."""
    o = ord(ch)
    if o < 0x80:
        return "ascii"
    if 0x80 <= o <= 0x9F or 0xE000 <= o <= 0xF8FF or 0xFF61 <= o <= 0xFF9F or o == 0xFFFD:
        return "bad"  # C1 controls, private use, half-width katakana: what a wrong code page produces
    if 0x3000 <= o <= 0x30FF or 0x3400 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0xFF00 <= o <= 0xFF60:
        return "cjk"  # CJK punctuation, kana, ideographs, full-width forms
    if 0x0400 <= o <= 0x04FF:
        return "cyrillic"
    if unicodedata.category(ch).startswith("L"):
        return "latin"
    return "symbol"


def mojibake_score(text: str) -> int:
    """How implausible `text` is as real titles: 0 for clean text, higher for what a wrong code page gives.

    Short CUE sheets defeat statistical detectors (charset_normalizer reads cp1252 "Café" as cp1250
    and cp932 "東京事変" as cp1252 on these machines), so this scores script consistency instead:
    - characters no real title has (C1 controls, private use, half-width katakana): 10 each;
    - a word mixing Cyrillic with Latin ("Cafщ" is cp1252 "Café" read as cp1251): 5;
    - three or more accented Latin letters or symbols in a row ("Êèíî" is cp1251 "Кино" read as cp1252): 3;
    - a run of non-ASCII characters mixing scripts with symbols ("“Œ‹žŽ" is Shift-JIS read as cp1252): 3;
    - one ideograph wedged inside a Latin word ("Pok駑on" is cp1252 "Pokémon" read as Shift-JIS): 5;
    - "ƒ", or "‚" glued to a character: Shift-JIS kana lead bytes read as cp1252: 3 each.
    """
    score = 0
    for ch in text:
        if _script(ch) == "bad":
            score += 10
    for word in re.findall(r"[^\W\d_]+", text):
        scripts = {_script(c) for c in word}
        if "cyrillic" in scripts and ({"ascii", "latin"} & scripts):
            score += 5
    for run in re.findall(r"[^\x00-\x7f]+", text):
        scripts = {_script(c) for c in run}
        if scripts <= {"cjk"} or scripts <= {"cyrillic"}:
            continue
        if len(run) >= 3 and scripts <= {"latin", "symbol"}:
            score += 3
        elif len(scripts) > 1:
            score += 3
    for match in re.finditer(r"(?<=[A-Za-z])[^\x00-\x7f](?=[A-Za-z])", text):
        if _script(match.group()) == "cjk":
            score += 5
    # Shift-JIS lead bytes 0x82 (hiragana) and 0x83 (katakana) read as cp1252: "‚" glued to the next
    # character, and "ƒ", which no real title contains ("スピッツ" becomes "ƒXƒsƒbƒc").
    score += 3 * (text.count("ƒ") + len(re.findall(r"‚\S", text)))
    return score


def decode_text(data: bytes, fallback: str = "cp1252") -> tuple[str, str]:
    """(text, encoding) of a CUE sheet or rip log: BOM, else strict UTF-8, else the best legacy code page.

    EAC writes logs as UTF-16 LE with a BOM and CUE sheets in UTF-8 or the system's ANSI code page;
    XLD and CUETools write UTF-8. Among the legacy code pages, the decoding with the lowest
    `mojibake_score` wins; ties go to the earlier one in LEGACY_ENCODINGS (cp1252 first).
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                break
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    best: tuple[int, int, str, str] | None = None
    for rank, encoding in enumerate(LEGACY_ENCODINGS):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        candidate = (mojibake_score(text), rank, text, encoding)
        best = candidate if best is None or candidate[:2] < best[:2] else best
    if best is None:
        return data.decode(fallback, errors="replace"), fallback
    return best[2], best[3]


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


def _resolve_name(name: str, cue_dir: Path) -> Path:
    """The FILE's path, lexically inside `cue_dir`; ValueError if it leaves that folder.

    Backslashes are read as separators (sheets written on Windows). Symlinks are not followed: the
    sheet's text is what must not point elsewhere; the folder's own links are the owner's business.
    """
    posix = name.replace("\\", "/")
    if re.match(r"^[A-Za-z]:/", posix):
        # A drive-letter path names a disk on the machine that wrote the sheet, not a folder "C:" here.
        raise ValueError(f"FILE {name!r} is an absolute Windows path; name the file relative to the cue sheet")
    base = os.path.normpath(os.path.abspath(cue_dir))
    target = os.path.normpath(os.path.join(base, posix))
    if os.path.commonpath([base, target]) != base:
        raise ValueError(f"FILE {name!r} is outside the cue sheet's folder")
    return Path(target)


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


def parse_cue(text: str, cue_dir: str | Path, cue_name: str = "cue sheet", encoding: str = "utf-8") -> Disc:
    """Parse CUE text; FILE paths are resolved against `cue_dir` but not looked for on disk."""
    cue_dir = Path(cue_dir)

    def fail(line_no: int, reason: str) -> CueError:
        return CueError(f"{cue_name}, line {line_no}: {reason}")

    files: list[CueFile] = []
    tracks: list[_TrackDraft] = []
    disc_fields: dict[str, str] = {}
    disc_rem: dict[str, str] = {}
    disc_cdtext: dict[str, str] = {}
    notes: list[str] = []
    session = 1
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
                files.append(CueFile(name, _resolve_name(name, cue_dir), file_type, line_no))
            elif command == "TRACK":
                if not files:
                    raise ValueError("TRACK before any FILE: the sheet does not say which file holds the audio")
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
                number, frames = int(number_text), msf_to_frames(time_text)
                if not 0 <= number <= 99:
                    raise ValueError(f"index number {number} is outside 0..99")
                previous = track.indexes[-1] if track.indexes else None
                if previous and number <= previous.number:
                    raise ValueError(f"INDEX {number:02d} follows INDEX {previous.number:02d} in TRACK {track.number:02d}")
                if previous and previous.file_index == len(files) - 1 and frames < previous.frames:
                    raise ValueError(f"INDEX {number:02d} ({time_text}) is before INDEX {previous.number:02d}")
                track.indexes.append(CueIndex(number, len(files) - 1, frames, line_no))
            elif command == "PREGAP":
                track.pregap_frames = msf_to_frames(rest)
            elif command == "POSTGAP":
                track.postgap_frames = msf_to_frames(rest)
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
            raise fail(draft.line, f"TRACK {draft.number:02d} has no INDEX 01")
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
    )


# ---------------------------------------------------------------- the sheet on disk

def _find_on_disk(cue_file: CueFile, cue_dir: Path) -> tuple[Path | None, str | None]:
    """The file the sheet means, and a note when it was found under another name."""
    if cue_file.path.is_file():
        return cue_file.path, None
    base = PurePosixPath(cue_file.name.replace("\\", "/")).name
    stem = PurePosixPath(base).stem
    candidates = [cue_dir / base] + [cue_dir / f"{stem}{ext}" for ext in AUDIO_EXTENSIONS]
    for candidate in candidates:
        if candidate.is_file():
            return candidate, f"FILE {cue_file.name!r} not found; using {candidate.name!r}"
    # Sheets written on case-insensitive file systems.
    wanted = {c.name.casefold() for c in candidates}
    for candidate in sorted(cue_dir.iterdir()) if cue_dir.is_dir() else []:
        if candidate.name.casefold() in wanted and candidate.is_file():
            return candidate, f"FILE {cue_file.name!r} not found; using {candidate.name!r}"
    return None, None


def read_cue(path: str | Path) -> Disc:
    """Decode, parse and locate the files of one CUE sheet; CueError if it is malformed or audio is missing.

    A missing file that holds only data tracks is tolerated (marked `missing`, with a note): rippers
    often keep the audio and drop the data session of an enhanced CD.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CueError(f"{path.name}: cannot read: {e.strerror}") from None
    text, encoding = decode_text(data)
    disc = parse_cue(text, path.parent, path.name, encoding)
    notes = list(disc.notes)
    if encoding not in ("utf-8", "utf-8-sig", "utf-16", "utf-32"):
        notes.insert(0, f"cue sheet is not Unicode; decoded as {encoding} (guessed)")
    files = []
    for i, cue_file in enumerate(disc.files):
        found, note = _find_on_disk(cue_file, path.parent)
        if note:
            notes.append(note)
        if found is not None:
            files.append(dataclasses.replace(cue_file, path=found))
            continue
        holders = [t for t in disc.tracks if any(ix.file_index == i for ix in t.indexes) or t.file_index == i]
        if holders and not any(t.is_audio for t in holders):
            notes.append(f"FILE {cue_file.name!r} (data track {holders[0].number}) is missing")
            files.append(dataclasses.replace(cue_file, missing=True))
            continue
        raise CueError(f"{path.name}, line {cue_file.line}: FILE {cue_file.name!r} does not exist next to the cue sheet")
    return dataclasses.replace(disc, cue_path=path, files=tuple(files), notes=tuple(notes))


_FILE_LINE = re.compile(r'^\s*FILE\s+(?:"([^"]*)"|(.+?))(?:\s+\w+)?\s*$', re.IGNORECASE | re.MULTILINE)


def referenced_files(path: str | Path) -> list[Path]:
    """The existing files a sheet names, even when the sheet is otherwise malformed (never raises).

    Used to keep a disc image out of plain-track ingest when its sheet is broken: the sheet is then
    reported as bad, instead of the whole image turning up as one 70-minute "track".
    """
    path = Path(path)
    try:
        return [f.path for f in read_cue(path).files if not f.missing]
    except (CueError, OSError):
        pass
    try:
        text, _ = decode_text(path.read_bytes())
    except OSError:
        return []
    found = []
    for match in _FILE_LINE.finditer(text):
        name = match.group(1) if match.group(1) is not None else match.group(2)
        try:
            cue_file = CueFile(name, _resolve_name(name, path.parent), "", 0)
        except ValueError:
            continue
        on_disk, _ = _find_on_disk(cue_file, path.parent)
        if on_disk is not None:
            found.append(on_disk)
    return found
