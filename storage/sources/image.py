"""Reading the FILEs of a CUE sheet as CD audio (int16 stereo at sample offsets), whatever holds them.

    image = open_image(disc, 0, scratch_dir, notes)    # a WAV/FLAC/AIFF, a raw BINARY/MOTOROLA .bin, or APE/WavPack…
    block = image.read(offset, 588); image.close()     # int16 (588, 2)

Sound files libsndfile reads are read directly; raw images are laid out sector by sector (a data
track's sectors may be larger than audio's); other formats (APE, WavPack, TTA, ALAC) are decoded
bit-exactly by FFmpeg to a temporary WAV beside the split, deleted on `close()`.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from storage import ffmpeg as ff
from storage.atomic import temporary_name
from storage.sources.cue import SAMPLES_PER_FRAME, SECTOR_BYTES, CueTrack, Disc

SAMPLE_RATE = 44100


class DiscError(ValueError):
    """A disc image that cannot be split (unreadable, not CD audio, shorter than its sheet); says why."""


@dataclass
class ImageFile:
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
        if not track.indexes or track.is_placeholder:
            continue  # EAC's MODEx/2xxx: no sector of it is in any file
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


def open_image(disc: Disc, file_index: int, scratch: Path, notes: list[str]) -> ImageFile:
    cue_file = disc.files[file_index]
    path = cue_file.path
    if cue_file.missing:
        return ImageFile(path, "missing", 0, [])
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
        return ImageFile(path, "raw", n_samples, segments, big_endian=cue_file.file_type == "MOTOROLA")
    if info is None:
        # APE, WavPack, TTA, ALAC…: FFmpeg decodes them bit-exactly to a temporary 16-bit WAV.
        sample_format = _ffmpeg_sample_format(path)
        if not re.fullmatch(r"44100 Hz stereo s16p?", sample_format):
            raise DiscError(f"{path.name} is {sample_format}; only CD audio (16-bit, 44.1 kHz, stereo) can be split")
        temporary = scratch / temporary_name(path.name, ".wav")
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
    return ImageFile(path, "sndfile", info.frames, [], temporary=temporary)
