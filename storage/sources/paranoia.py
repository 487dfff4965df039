"""Ripping an audio CD with cdparanoia into one WAV image plus a CUE sheet that `split_disc` reads.

cue_path = rip_disc("/dev/cdrom", Path("library/rips"), read_offset_samples=6)   # RipError on failure
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from storage.atomic import atomic_path
from storage.sources.cue import SAMPLES_PER_FRAME, frames_to_msf
from storage.sources.discid import DiscToc, TocTrack, freedb_disc_id


class RipError(RuntimeError):
    """Ripping a disc failed before it started or on the way; one line saying why."""


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
        f"REM DISCID {freedb_disc_id(toc).upper()}",
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
    raise RipError(
        "cdparanoia is not installed (neither cdparanoia nor cd-paranoia is on PATH); install it to rip discs"
    )


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
