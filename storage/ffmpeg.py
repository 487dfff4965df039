"""FFmpeg through ffmpeg-python: encode a file with a preset, decode any file to float PCM.

    encode_file("track.flac", "track.ogg", PRESETS["vorbis-160"])
    audio, sample_rate = decode_file("track.ogg", channels=2)   # (C, T) float32

The binary is FFmpeg from PATH, else the one shipped by imageio-ffmpeg, so `pip install` suffices.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import numpy as np

from storage.config import EncodePreset


class FFmpegError(RuntimeError):
    """FFmpeg failed; the message holds the last lines it printed."""


@functools.cache
def ffmpeg_exe() -> str:
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.cache
def ffmpeg_version() -> str:
    """The first line of `ffmpeg -version`: part of every encode's cache key."""
    out = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0].strip()


def _tail(stderr: bytes, n_lines: int = 4) -> str:
    lines = [ln for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    return " | ".join(lines[-n_lines:]) or "no output"


def encode_file(src: str | Path, dst: str | Path, preset: EncodePreset, muxer: str | None = None) -> None:
    """Encode `src` (anything FFmpeg reads) to `dst` with `preset`; tags and cover art are dropped.

    `-bitexact` keeps encoder version strings and random stream serials out of the bitstream, so the
    same input, preset and FFmpeg give the same bytes. `muxer` forces the container when `dst` has
    no telling extension (a temporary name).
    """
    output_args = dict(preset.ffmpeg_options(), map_metadata=-1, vn=None, fflags="+bitexact", flags="+bitexact")
    if muxer:
        output_args["format"] = muxer
    stream = ffmpeg.input(str(src)).output(str(dst), **output_args)
    try:
        stream.run(cmd=ffmpeg_exe(), capture_stdout=True, capture_stderr=True, overwrite_output=True)
    except ffmpeg.Error as e:
        raise FFmpegError(f"encoding {Path(src).name} with {preset.name} failed: {_tail(e.stderr)}") from None


MUXERS = {"ogg": "ogg", "mp3": "mp3", "m4a": "ipod", "opus": "opus", "flac": "flac", "wav": "wav"}


def decode_file(
    path: str | Path, channels: int | None = None, sample_rate: int | None = None
) -> tuple[np.ndarray, int]:
    """Decode to float32 (C, T) in [-1, 1] at the file's own rate, or at `sample_rate` if given.

    Resampling for alignment is done with torchaudio, not here: pass `sample_rate` only for
    playback-style conversions (e.g. enhancing a file at the model's rate).
    """
    if sample_rate is None or channels is None:
        info = probe_audio(path)
        sample_rate = sample_rate or info.sample_rate
        channels = channels or info.channels
    rate, n_channels = sample_rate, channels
    output_args = {"format": "f32le", "acodec": "pcm_f32le", "ac": n_channels, "ar": rate}
    cmd = ffmpeg.input(str(path)).output("pipe:", **output_args).global_args("-nostdin").compile(cmd=ffmpeg_exe())
    with tempfile.TemporaryFile() as stderr:  # a file, not a pipe: FFmpeg never blocks on a full stderr
        with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr) as proc:
            chunks = _read_frames(proc.stdout, n_channels)
        if proc.returncode != 0:
            stderr.seek(0)
            raise FFmpegError(f"decoding {Path(path).name} failed: {_tail(stderr.read())}")
    # One copy from the pipe's interleaved frames to (C, T), C-contiguous: each chunk's transpose in place.
    audio = np.empty((n_channels, sum(len(c) for c in chunks)), np.float32)
    start = 0
    for chunk in chunks:
        audio[:, start : start + len(chunk)] = chunk.T
        start += len(chunk)
    return audio, rate


DECODE_CHUNK_FRAMES = 1 << 18


def _read_frames(stream, n_channels: int) -> list[np.ndarray]:
    """Interleaved float32 frames from a pipe, read straight into (n, C) arrays until it ends."""
    chunks = []
    while True:
        chunk = np.empty((DECODE_CHUNK_FRAMES, n_channels), "<f4")
        view = memoryview(chunk.reshape(-1).view(np.uint8))
        filled = 0
        while filled < len(view):
            n_bytes = stream.readinto(view[filled:])
            if not n_bytes:
                break
            filled += n_bytes
        if filled:
            chunks.append(chunk[: filled // (4 * n_channels)])
        if filled < len(view):
            return chunks


def decode_pcm_int(path: str | Path, channels: int, bits_per_sample: int) -> np.ndarray:
    """Decode a lossless file bit-exactly to int32 (T, C), samples at their own width (e.g. ±2**23)."""
    sample_fmt = "s16le" if bits_per_sample <= 16 else "s32le"
    try:
        out, _ = (
            ffmpeg.input(str(path))
            .output("pipe:", format=sample_fmt, acodec=f"pcm_{sample_fmt}", ac=channels)
            .run(cmd=ffmpeg_exe(), capture_stdout=True, capture_stderr=True)
        )
    except ffmpeg.Error as e:
        raise FFmpegError(f"decoding {Path(path).name} failed: {_tail(e.stderr)}") from None
    if bits_per_sample <= 16:
        return np.frombuffer(out, dtype="<i2").reshape(-1, channels).astype(np.int32)
    # FFmpeg left-aligns 24-bit samples in 32-bit words.
    return np.frombuffer(out, dtype="<i4").reshape(-1, channels) >> (32 - bits_per_sample)


@dataclass(frozen=True)
class AudioProbe:
    codec: str
    sample_rate: int
    channels: int
    duration_s: float | None  # from the container header: approximate, None when FFmpeg does not say
    kbps: float | None = None  # the stream's bitrate (else the file's), as FFmpeg reports it; None when it does not


_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "5.0": 5, "5.1": 6, "7.1": 8}


def probe_audio(path: str | Path) -> AudioProbe:
    """The first audio stream of any file FFmpeg reads (one `ffmpeg -i` run); FFmpegError when it has none."""
    # ffprobe is not shipped by imageio-ffmpeg, so read `ffmpeg -i`'s stream and duration lines instead.
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    match = re.search(r"Stream #\S+.*?Audio: ([^,\s]+).*?, (\d+) Hz, ([^,]+)", result.stderr)
    if not match:
        raise FFmpegError(f"{Path(path).name}: no audio stream FFmpeg can read ({_tail(result.stderr.encode())})")
    layout = match.group(3).strip()
    n_match = re.match(r"(\d+) channels", layout)
    n_channels = int(n_match.group(1)) if n_match else _LAYOUT_CHANNELS.get(layout.split("(")[0], 0)
    duration = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", result.stderr)
    duration_s = (
        int(duration.group(1)) * 3600 + int(duration.group(2)) * 60 + float(duration.group(3)) if duration else None
    )
    line = result.stderr[match.start() :].split("\n", 1)[0]  # the audio stream's line
    bitrate = re.search(r"(\d+) kb/s", line) or (re.search(r"bitrate: (\d+) kb/s", result.stderr))
    return AudioProbe(
        match.group(1), int(match.group(2)), n_channels, duration_s, float(bitrate.group(1)) if bitrate else None
    )
