"""Lossless audio files: stream info and tags (mutagen), bit-exact PCM, float (C, T) arrays.

    info = probe_lossless("album/01 Intro.flac")        # raises AudioError with a readable reason
    digest, n_frames = pcm_md5("album/01 Intro.flac", info)
    audio = read_lossless("album/01 Intro.flac", info)  # float32 (C, T) in [-1, 1)

FLAC, WAV and AIFF are read with soundfile (libsndfile); ALAC in MP4 through FFmpeg. The PCM digest
is exactly FLAC's STREAMINFO MD5 (little-endian interleaved samples at their own width), so the same
audio as FLAC, WAV, AIFF or ALAC gets the same digest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import mutagen
import numpy as np
import soundfile as sf

from storage import ffmpeg as ff

LOSSLESS_EXTENSIONS = (".flac", ".wav", ".aif", ".aiff", ".m4a")
# ladle_split: the split a track is pinned to (storage/ingest.py), a Vorbis comment of FLAC files.
TAG_KEYS = ("artist", "albumartist", "album", "title", "tracknumber", "discnumber", "date", "genre", "ladle_split")
BLOCK_FRAMES = 1 << 16


class AudioError(ValueError):
    """A file that is not usable lossless audio; the message says why, in words."""


@dataclass(frozen=True)
class StreamInfo:
    container: str  # flac | wav | aiff | alac
    sample_rate: int
    channels: int
    bits_per_sample: int
    n_frames: int  # per channel, as the header claims
    header_md5: str | None  # FLAC STREAMINFO MD5 when the encoder set it
    tags: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.sample_rate


def _first(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return None if value is None else str(value).strip() or None


def _read_tags(path: Path) -> dict:
    """Common tags as plain strings; files whose tags mutagen can't map get fewer keys, not an error."""
    try:
        easy = mutagen.File(path, easy=True)
    except Exception:
        return {}
    if easy is None or easy.tags is None:
        return {}
    tags = {}
    for key in TAG_KEYS:
        try:
            value = _first(easy.tags.get(key))
        except (KeyError, ValueError):
            value = None
        if value is not None:
            tags[key] = value
    return tags


def probe_lossless(path: str | Path) -> StreamInfo:
    """Stream info and tags of a lossless file, or AudioError saying why it is not one."""
    path = Path(path)
    if not path.is_file():
        raise AudioError("not a file")
    if path.stat().st_size == 0:
        raise AudioError("empty file (0 bytes)")
    suffix = path.suffix.lower()
    try:
        parsed = mutagen.File(path)
    except Exception as e:
        raise AudioError(f"unreadable header: {e}") from None
    if parsed is None:
        raise AudioError(f"not a recognised audio file (extension {suffix})")
    kind = type(parsed).__name__
    info = parsed.info
    header_md5 = None
    if kind == "FLAC":
        container, bits, n_frames = "flac", info.bits_per_sample, info.total_samples
        if info.md5_signature:
            header_md5 = f"{info.md5_signature:032x}"
    elif kind in ("WAVE", "AIFF"):
        container = "wav" if kind == "WAVE" else "aiff"
        bits, n_frames = info.bits_per_sample, _frames_from_soundfile(path)
        if kind == "WAVE":  # libsndfile counts only the frames present: the header says what should be
            n_frames = max(n_frames, wav_declared_frames(path) or 0)
    elif kind == "MP4":
        if not str(getattr(info, "codec", "")).startswith("alac"):
            raise AudioError(f"lossy source ({getattr(info, 'codec', 'unknown codec')} in MP4), not lossless")
        container, bits = "alac", info.bits_per_sample
        n_frames = round(info.length * info.sample_rate)  # MP4 headers give a duration, not a count
    else:
        raise AudioError(f"not a lossless format ({kind})")
    if bits not in (16, 24):
        raise AudioError(f"unsupported sample format: {bits}-bit (16- and 24-bit integer PCM are supported)")
    if info.channels not in (1, 2):
        raise AudioError(f"unsupported channel count {info.channels} (mono and stereo are supported)")
    if not 8000 <= info.sample_rate <= 192000:
        raise AudioError(f"unsupported sample rate {info.sample_rate} Hz")
    if n_frames <= 0:
        raise AudioError("no audio frames")
    return StreamInfo(container, info.sample_rate, info.channels, bits, n_frames, header_md5, _read_tags(path))


def wav_declared_frames(path: str | Path) -> int | None:
    """Frames a WAV file's `data` chunk header declares, or None when it does not say (streamed, RF64).

    A WAV cut short keeps its header: the declared size exceeds the bytes present, which is how a
    truncated file is told from a short one.
    """
    with open(path, "rb") as f:
        riff = f.read(12)
        if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            return None
        block_align = 0
        while len(header := f.read(8)) == 8:
            chunk, size = header[:4], int.from_bytes(header[4:], "little")
            if chunk == b"fmt ":
                fmt = f.read(size)
                block_align = int.from_bytes(fmt[12:14], "little")
                f.seek(size % 2, 1)  # chunks are padded to an even size
            elif chunk == b"data":
                return size // block_align if block_align and size not in (0, 0xFFFFFFFF) else None
            else:
                f.seek(size + size % 2, 1)
    return None


def _frames_from_soundfile(path: Path) -> int:
    try:
        return sf.info(str(path)).frames
    except Exception as e:
        raise AudioError(f"unreadable audio: {e}") from None


def _pcm_blocks(path: Path, info: StreamInfo):
    """Yield (frames, C) integer blocks at the sample's own width: int16, or int32 within ±2**23 for 24-bit."""
    if info.container == "alac":
        pcm = ff.decode_pcm_int(path, info.channels, info.bits_per_sample)
        yield pcm.astype(np.int16) if info.bits_per_sample == 16 else pcm
        return
    if info.bits_per_sample == 16:
        yield from sf.blocks(str(path), blocksize=BLOCK_FRAMES, dtype="int16", always_2d=True)
        return
    shift = 32 - info.bits_per_sample
    for block in sf.blocks(str(path), blocksize=BLOCK_FRAMES, dtype="int32", always_2d=True):
        block >>= shift
        yield block


def _le_bytes(block: np.ndarray, bits: int) -> bytes | memoryview:
    """Interleaved little-endian samples at `bits` width: the layout FLAC's MD5 is computed over."""
    if bits == 16:
        return memoryview(np.ascontiguousarray(block, "<i2")).cast("B")
    return block.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()


def pcm_md5(path: str | Path, info: StreamInfo) -> tuple[str, int, int]:
    """(MD5 of the decoded PCM, frames decoded, peak |sample|); AudioError if decoding fails midway."""
    digest = hashlib.md5()
    n_frames, peak = 0, 0
    try:
        for block in _pcm_blocks(Path(path), info):
            digest.update(_le_bytes(block, info.bits_per_sample))
            n_frames += len(block)
            if len(block):  # max and -min, never abs: abs(-2**15) overflows int16
                peak = max(peak, int(block.max()), -int(block.min()))
    except (sf.LibsndfileError, RuntimeError, ff.FFmpegError) as e:
        raise AudioError(f"decoding failed after {n_frames} frames: {e}") from None
    return digest.hexdigest(), n_frames, peak


def read_lossless(path: str | Path, info: StreamInfo) -> np.ndarray:
    """The whole file as float32 (C, T) in [-1, 1): each sample is its integer over 2**(bits - 1).

    libsndfile converts to float32 itself, by that power of two, so the values are exact and the
    same as converting the integers here, without an integer copy of the whole track.
    """
    if info.container == "alac":
        pcm = ff.decode_pcm_int(path, info.channels, info.bits_per_sample)
        return np.ascontiguousarray((pcm.astype(np.float32) / float(1 << (info.bits_per_sample - 1))).T)
    audio, _ = sf.read(str(path), dtype="float32", always_2d=True)  # (T, C)
    return np.ascontiguousarray(audio.T)
