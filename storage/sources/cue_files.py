"""Where the files a CUE sheet names are: paths kept inside the sheet's folder, and found under other names.

    path = resolve_file_name("Album.wav", Path("library/Album"))       # ValueError if it would leave the folder
    found, note = find_file("Album.wav", path, Path("library/Album"))   # library/Album/Album.flac, "… not found; using …"

A FILE name comes from the sheet's text, which may come from anywhere: it must never make the pipeline
read outside the sheet's folder (`../../etc/passwd`, `/etc/passwd`, `C:\\x.wav`, `\\\\server\\share\\x.wav`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

# Where a FILE named by the sheet is missing, these are tried with the same stem (EAC names the WAV it
# wrote; the image is usually compressed afterwards).
AUDIO_EXTENSIONS = (".flac", ".wav", ".wv", ".ape", ".tta", ".aiff", ".aif", ".m4a", ".bin", ".img", ".raw")


def resolve_file_name(name: str, cue_dir: Path) -> Path:
    """The FILE's path, lexically inside `cue_dir`; ValueError if it leaves that folder.

    Backslashes are read as separators (sheets written on Windows). Symlinks are not followed: the
    sheet's text is what must not point elsewhere; the folder's own links are the owner's business.
    """
    if any(ord(c) < 0x20 for c in name):
        raise ValueError(f"FILE {name!r} contains a control character")
    posix = name.replace("\\", "/")
    if re.match(r"^[A-Za-z]:/", posix):
        # A drive-letter path names a disk on the machine that wrote the sheet, not a folder "C:" here.
        raise ValueError(f"FILE {name!r} is an absolute Windows path; name the file relative to the cue sheet")
    base = os.path.normpath(os.path.abspath(cue_dir))
    target = os.path.normpath(os.path.join(base, posix))
    if os.path.commonpath([base, target]) != base:
        raise ValueError(f"FILE {name!r} is outside the cue sheet's folder")
    return Path(target)


def find_file(name: str, path: Path, cue_dir: Path) -> tuple[Path | None, str | None]:
    """The file a FILE command means (`path`: where the sheet says it is), and a note when it was found
    under another name: only ever a name directly in `cue_dir`, never a path the sheet spells out."""
    if path.is_file():
        return path, None
    base = PurePosixPath(name.replace("\\", "/")).name
    stem = PurePosixPath(base).stem
    candidates = [cue_dir / base] + [cue_dir / f"{stem}{ext}" for ext in AUDIO_EXTENSIONS]
    for candidate in candidates:
        if candidate.is_file():
            return candidate, f"FILE {name!r} not found; using {candidate.name!r}"
    # Sheets written on case-insensitive file systems.
    wanted = {c.name.casefold() for c in candidates}
    for candidate in sorted(cue_dir.iterdir()) if cue_dir.is_dir() else []:
        if candidate.name.casefold() in wanted and candidate.is_file():
            return candidate, f"FILE {name!r} not found; using {candidate.name!r}"
    return None, None
