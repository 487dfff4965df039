"""Reading the FILEs of a CUE sheet as PCM at sample offsets, whatever holds them.

    image = open_image(disc, 0, scratch_dir, notes)    # a WAV/FLAC/AIFF, a raw BINARY/MOTOROLA .bin, or APE/WavPack…
    image.format                                        # PcmFormat(44100, 2, "PCM_16"): CD audio
    block = image.read(offset, 588); image.close()     # int16 (588, 2); int32 for 24-bit images

Any integer PCM the split tracks (FLAC) can hold is read: 8, 16 or 24 bits, any rate, any number of
channels (a mono FLAC, a 24-bit/96-kHz vinyl or download image); 32-bit and floating-point images are
refused, since FLAC as libsndfile writes it holds at most 24 bits. 24-bit samples are read as int32
(left-justified, as libsndfile gives them) and written back exactly.
Sound files libsndfile reads are read directly; raw images are laid out sector by sector (a data
track's sectors may be larger than audio's; raw images are always CD audio); other formats (APE,
WavPack, TTA, ALAC) are decoded bit-exactly by FFmpeg to a temporary WAV beside the split, deleted on
`close()`.
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
# libsndfile subtype of an image → (numpy dtype it is read as, subtype the split FLAC is written in)
SUBTYPES = {"PCM_S8": ("int16", "PCM_S8"), "PCM_U8": ("int16", "PCM_S8"), "PCM_16": ("int16", "PCM_16"),
            "PCM_24": ("int32", "PCM_24")}  # fmt: skip
# FFmpeg sample format (and bits) → the PCM codec that keeps it exactly in a temporary WAV
FFMPEG_PCM = {
    ("u8", None): "pcm_u8",
    ("s16", None): "pcm_s16le",
    ("s32", "24"): "pcm_s24le",
    ("s32", None): "pcm_s32le",
}


class DiscError(ValueError):
    """A disc image that cannot be split (unreadable, not integer PCM, shorter than its sheet); says why."""


@dataclass(frozen=True)
class PcmFormat:
    rate: int
    channels: int
    subtype: str  # libsndfile's: PCM_16, PCM_24, …

    @property
    def is_cd_audio(self) -> bool:
        """Red Book audio (16-bit, 44.1 kHz, stereo): the only audio AccurateRip, disc IDs and rip logs describe."""
        return (self.rate, self.channels, self.subtype) == (SAMPLE_RATE, 2, "PCM_16")

    @property
    def dtype(self) -> str:
        return SUBTYPES[self.subtype][0]

    @property
    def flac_subtype(self) -> str:
        return SUBTYPES[self.subtype][1]

    def describe(self) -> str:
        bits = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24}.get(self.subtype, self.subtype)
        return f"{bits}-bit, {self.rate} Hz, {self.channels} channel(s)"


CD_AUDIO = PcmFormat(SAMPLE_RATE, 2, "PCM_16")


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
    format: PcmFormat = CD_AUDIO  # a raw image's always; a missing file's is never read

    def read(self, offset: int, n: int) -> np.ndarray:
        """(n, channels) samples, int16 (int32 for 24-bit), from `offset` samples into this file."""
        if self.kind == "sndfile":
            self.handle = self.handle or sf.SoundFile(str(self.temporary or self.path))
            if self.handle.tell() != offset:  # tracks are read in order: seek only when jumping
                self.handle.seek(offset)
            block = self.handle.read(n, dtype=self.format.dtype, always_2d=True)
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


def _ffmpeg_pcm_codec(path: Path) -> str:
    """The PCM codec that holds this file's samples exactly (FFmpeg's sample format, planar or not)."""
    result = subprocess.run([ff.ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    match = re.search(r"Audio: [^,]+, (\d+) Hz, ([^,]+), ([a-z0-9]+?)p?(?: \((\d+) bit\))?(?:,|$)", result.stderr, re.M)
    if not match:
        raise DiscError(f"{path.name}: not an audio file FFmpeg can read")
    codec = FFMPEG_PCM.get((match.group(3), match.group(4)))
    if codec is None:
        bits = f" ({match.group(4)} bit)" if match.group(4) else ""
        raise DiscError(f"{path.name} is {match.group(3)}{bits} audio; only 8-, 16- or 24-bit integer PCM can be split")
    return codec


@dataclass(frozen=True)
class _Info:
    frames: int
    samplerate: int
    channels: int
    subtype: str


def _low_byte_zero(path: Path) -> bool:
    """Whether every 32-bit sample of a sound file has a zero low byte (24-bit audio in 32-bit words)."""
    with sf.SoundFile(str(path)) as f:
        for block in f.blocks(blocksize=1 << 16, dtype="int32", always_2d=True):
            if (block & 0xFF).any():
                return False
    return True


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
        # APE, WavPack, TTA, ALAC…: FFmpeg decodes them bit-exactly to a temporary WAV of the same sample format.
        codec = _ffmpeg_pcm_codec(path)
        temporary = scratch / temporary_name(path.name, ".wav")
        result = subprocess.run(
            [ff.ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-i", str(path), "-map", "0:a:0", "-c:a", codec,
             "-f", "wav", str(temporary)],
            capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode != 0:
            temporary.unlink(missing_ok=True)
            raise DiscError(f"{path.name}: FFmpeg could not decode it: {result.stderr.strip().splitlines()[-1:]}")
        info = sf.info(str(temporary))
    if info.subtype == "PCM_32" and _low_byte_zero(temporary or path):
        # 24-bit audio in 32-bit words (FFmpeg decodes WavPack/ALAC 24-bit as s32 without saying so):
        # every sample's low byte is zero, so it is read as int32 and written as 24-bit exactly.
        notes.append(f"{path.name}: 32-bit samples whose low 8 bits are all zero: 24-bit audio, kept as 24-bit")
        info = _Info(info.frames, info.samplerate, info.channels, "PCM_24")
    if info.subtype not in SUBTYPES:
        if temporary:
            temporary.unlink(missing_ok=True)
        raise DiscError(
            f"{path.name} is {info.subtype} {info.samplerate} Hz with {info.channels} channel(s); "
            "only 8-, 16- or 24-bit integer PCM can be split (FLAC holds no more)"
        )
    pcm = PcmFormat(info.samplerate, info.channels, info.subtype)
    return ImageFile(path, "sndfile", info.frames, [], temporary=temporary, format=pcm)
