"""A CUE sheet read from disk: its bytes (a .cue file, or the sheet a FLAC embeds), decoded and parsed, with the
audio files it names found beside it.

    disc = read_cue("library/Album/Album.cue")        # storage.sources.cue.Disc, encoding and warnings recorded
    referenced_files("library/Album/Album.cue")       # the audio files the sheet names, as found on disk
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from storage.sources.cue import CueError, CueFile, CueTrack, Disc, parse_cue
from storage.sources.cue_files import AUDIO_EXTENSIONS, find_file, resolve_file_name
from storage.sources.text import MIN_CONFIDENCE, decode_text, detect_text


def sheet_source(path: str | Path) -> tuple[bytes, str | None]:
    """A sheet's bytes, and the image a sheet without FILE describes.

    A FLAC's CUESHEET tag (Vorbis comments are UTF-8) describes that FLAC; a .cue file without FILE
    describes the one audio file beside it with its stem (`Album.cue` and `Album.flac`), if there is one.
    """
    path = Path(path)
    if path.suffix.lower() == ".flac":
        import mutagen.flac

        try:
            sheets = (mutagen.flac.FLAC(path).tags or {}).get("CUESHEET") or []
        except mutagen.MutagenError as e:
            raise CueError(f"{path.name}: cannot read its tags: {e}") from None
        if not sheets:
            raise CueError(f"{path.name}: holds no CUESHEET tag")
        return sheets[0].encode("utf-8"), path.name
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CueError(f"{path.name}: cannot read: {e.strerror}") from None
    beside = [path.with_suffix(ext) for ext in AUDIO_EXTENSIONS if path.with_suffix(ext).is_file()]
    return data, beside[0].name if len(beside) == 1 else None


def read_cue(path: str | Path) -> Disc:
    """Decode, parse and locate the files of one CUE sheet (or a FLAC's embedded one); CueError if it is
    malformed or audio is missing.

    A missing file that holds no audio is tolerated (marked `missing`, with a note): rippers often keep
    the audio and drop the data session of an enhanced CD. "No audio" allows the pregap (INDEX 00) of an
    audio track that follows a data track, as CUETools' test images have: with gaps appended to the
    previous track, that pregap belongs to the data track. Text whose encoding cannot be told with
    confidence is still parsed (the audio is usable) but `Disc.text_trusted` is False, with a note.
    """
    path = Path(path)
    data, image = sheet_source(path)
    decoded = detect_text(data)
    disc = parse_cue(decoded.text, path.parent, path.name, decoded.encoding, image=image)
    notes = list(disc.notes)
    if not decoded.trusted:
        notes.insert(
            0,
            f"cue sheet text is not Unicode and its encoding is uncertain (best guess {decoded.encoding}, "
            f"confidence {decoded.confidence:.2f}, below {MIN_CONFIDENCE}): no text from it is written as tags",
        )
    elif decoded.guessed:
        notes.insert(
            0,
            f"cue sheet is not Unicode; decoded as {decoded.encoding} (detected, confidence {decoded.confidence:.2f})",
        )
    files = []
    for i, cue_file in enumerate(disc.files):
        found, note = find_file(cue_file.name, cue_file.path, path.parent)
        if note:
            notes.append(note)
        if found is not None:
            files.append(dataclasses.replace(cue_file, path=found))
            continue
        holders = [t for t in disc.tracks if any(ix.file_index == i for ix in t.indexes) or t.file_index == i]
        audio = [t for t in holders if t.is_audio]
        if holders and all(_only_pregap_after_data(disc, t, i) for t in audio):
            notes.append(f"FILE {cue_file.name!r} (data track {holders[0].number}) is missing")
            files.append(dataclasses.replace(cue_file, missing=True))
            continue
        raise CueError(
            f"{path.name}, line {cue_file.line}: FILE {cue_file.name!r} does not exist next to the cue sheet"
        )
    return dataclasses.replace(
        disc, cue_path=path, files=tuple(files), notes=tuple(notes), encoding_confidence=decoded.confidence
    )


def _only_pregap_after_data(disc: Disc, track: CueTrack, file_index: int) -> bool:
    """Whether `track` has no audio in file `file_index` that any split track needs: at most its pregap,
    and the track before it is data (gaps are appended to the previous track, which is not split)."""
    k = disc.tracks.index(track)
    starts_here = track.index(1) is not None and track.index(1).file_index == file_index
    return not starts_here and k > 0 and not disc.tracks[k - 1].is_audio


_FILE_LINE = re.compile(r'^\s*FILE\s+(?:"([^"]*)"|(.+?))(?:\s+\w+)?\s*$', re.IGNORECASE)


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
    for match in filter(None, map(_FILE_LINE.match, text.splitlines())):  # any line end, a lone CR included
        name = match.group(1) if match.group(1) is not None else match.group(2)
        try:
            cue_file = CueFile(name, resolve_file_name(name, path.parent), "", 0)
        except ValueError:
            continue
        on_disk, _ = find_file(cue_file.name, cue_file.path, path.parent)
        if on_disk is not None:
            found.append(on_disk)
    return found
