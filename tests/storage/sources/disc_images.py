"""Tiny CD images for the disc tests: whole-frame tone tracks, a three-track sheet, an EAC log.

name = write_image(tmp_path / "src", "flac", np.concatenate(cd_tracks()))
(tmp_path / "src" / "disc.cue").write_text(image_sheet(name))
"""

import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.conftest import tone_pcm, write_pcm

SECTOR = 588  # stereo samples per CD frame
LENGTHS = (40, 37, 50)  # frames; 37 is odd


def cd_tracks(lengths=LENGTHS, seed=0) -> list[np.ndarray]:
    """int16 (T, 2) tracks of whole CD frames, as they should come out of a split."""
    return [tone_pcm(n * SECTOR / 44100, seed=seed + k)[: n * SECTOR].astype(np.int16) for k, n in enumerate(lengths)]


def read_int16(path) -> np.ndarray:
    return sf.read(str(path), dtype="int16", always_2d=True)[0]


def image_sheet(image_name: str, file_type: str = "WAVE", extra: str = "") -> str:
    """Three tracks in one image; track 2 has a 10-frame pregap (INDEX 00) inside track 1's audio."""
    return (
        'REM GENRE Jazz\nREM DATE 1959\nPERFORMER "The Quintet"\nTITLE "Kind of Test"\n'
        f'FILE "{image_name}" {file_type}\n'
        '  TRACK 01 AUDIO\n    TITLE "So What"\n    INDEX 01 00:00:00\n'
        '  TRACK 02 AUDIO\n    TITLE "Freddie"\n    PERFORMER "Guest"\n    INDEX 00 00:00:30\n    INDEX 01 00:00:40\n'
        f'  TRACK 03 AUDIO\n    TITLE "Blue"\n    INDEX 01 00:01:02\n{extra}'
    )


def write_image(folder: Path, kind: str, pcm: np.ndarray) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "bin":
        (folder / "image.bin").write_bytes(pcm.astype("<i2").tobytes())
        return "image.bin"
    if kind == "wv":  # a format soundfile cannot read: decoded through FFmpeg
        write_pcm(folder / "src.wav", pcm)
        import subprocess

        from storage.ffmpeg import ffmpeg_exe

        subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-y", "-i", str(folder / "src.wav"), str(folder / "image.wv")], check=True
        )
        (folder / "src.wav").unlink()
        return "image.wv"
    write_pcm(folder / f"image.{kind}", pcm)
    return f"image.{kind}"


def eac_log_text(track_blocks: str) -> str:
    """One rip as EAC 1.x writes it (CR LF line ends), around the given TOC and track blocks."""
    return (
        "Exact Audio Copy V1.6 from 23. October 2020\r\n\r\nEAC extraction logfile from 1. January 2024, 12:00\r\n\r\n"
        "The Quintet / Kind of Test\r\n\r\nUsed drive  : PLEXTOR DVDR   PX-716A   Adapter: 0  ID: 1\r\n\r\n"
        "Read mode               : Secure\r\n\r\n" + track_blocks + "\r\nEnd of status report\r\n"
    )


def eac_log(track_blocks: str) -> bytes:
    """A one-rip EAC log file's bytes: UTF-16 LE with a byte-order mark, as EAC writes it."""
    return b"\xff\xfe" + eac_log_text(track_blocks).encode("utf-16-le")


def slow_accuraterip(pcm_bytes: bytes, first: bool, last: bool) -> tuple[str, str]:
    """AccurateRip v1/v2 with plain loops, straight from the definition."""
    words = struct.unpack(f"<{len(pcm_bytes) // 4}I", pcm_bytes)  # (right << 16) | left
    check_from = 5 * 588 if first else 1
    check_to = len(words) - 5 * 588 if last else len(words)
    v1 = v2 = 0
    for position, word in enumerate(words, start=1):
        if check_from <= position <= check_to:
            product = word * position
            v1 = (v1 + (product & 0xFFFFFFFF)) & 0xFFFFFFFF
            v2 = (v2 + (product & 0xFFFFFFFF) + (product >> 32)) & 0xFFFFFFFF
    return f"{v1:08X}", f"{v2:08X}"
