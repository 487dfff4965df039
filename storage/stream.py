"""Streaming audio I/O for whole-track work in bounded memory: decode in chunks, resample in chunks, write in chunks.

    info = ff.probe_audio("album/01.mp3")                    # rate, channels, codec, duration
    for chunk in decode_chunks("album/01.mp3", channels=2, chunk_frames=441000):
        ...                                                  # float32 (C, n) at the file's own rate
    resampler = StreamResampler(44100, 48000)
    out = resampler.push(chunk); ...; out = resampler.flush()   # same samples as storage.resample.resample on the whole
    with open_audio_writer("restored.flac", 44100, channels=2) as writer:
        writer.write(out)                                    # (C, n); appears under its name only when complete

An hour of stereo at 44.1 kHz is 1.3 GB as float32, so nothing here ever holds a whole track.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import ffmpeg
import numpy as np
import soundfile as sf

from storage import ffmpeg as ff
from storage.atomic import atomic_path
from storage.resample import StreamResampler  # noqa: F401  (re-exported: streaming I/O's resampler)

OUTPUT_FORMATS = {".flac": "FLAC", ".wav": "WAV"}


def decode_chunks(
    path: str | Path, channels: int, chunk_frames: int, sample_rate: int | None = None
) -> Iterator[np.ndarray]:
    """Decode through an FFmpeg pipe, yielding float32 (channels, ≤ chunk_frames) blocks in order.

    At the file's own rate unless `sample_rate` is given (FFmpeg's resampler then). FFmpegError,
    with FFmpeg's last lines, if decoding fails midway. Closing the generator early stops FFmpeg.
    """
    cmd = (
        ffmpeg.input(str(path))
        .output(
            "pipe:", format="f32le", acodec="pcm_f32le", ac=channels, **({"ar": sample_rate} if sample_rate else {})
        )
        .global_args("-nostdin", "-hide_banner", "-v", "error")
        .compile(cmd=ff.ffmpeg_exe())
    )
    frame_bytes = 4 * channels
    with tempfile.TemporaryFile() as stderr:  # a file, not a pipe: FFmpeg can never block on a full stderr
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
        try:
            pending = b""
            while True:
                data = proc.stdout.read(chunk_frames * frame_bytes - len(pending))
                if not data:
                    break
                data = pending + data
                usable = len(data) - len(data) % frame_bytes
                pending = data[usable:]
                if usable:
                    yield np.frombuffer(data[:usable], dtype="<f4").reshape(-1, channels).T.copy()  # (C, n)
            proc.wait()
        finally:
            if proc.poll() is None:  # the consumer stopped early
                proc.kill()
                proc.wait()
            proc.stdout.close()
        if proc.returncode != 0:
            stderr.seek(0)
            raise ff.FFmpegError(f"decoding {Path(path).name} failed: {ff._tail(stderr.read())}")  # noqa: SLF001


class AudioWriter:
    """(C, n) float chunks appended to an open SoundFile, clipped to [-1, 1]."""

    def __init__(self, handle: sf.SoundFile) -> None:
        self._handle = handle
        self.frames = 0

    def write(self, chunk: np.ndarray) -> None:
        if chunk.shape[-1]:
            self._handle.write(np.clip(chunk, -1.0, 1.0).T)
            self.frames += chunk.shape[-1]


@contextlib.contextmanager
def open_audio_writer(
    path: str | Path, sample_rate: int, channels: int, subtype: str = "PCM_24", suffix: str | None = None
) -> Iterator[AudioWriter]:
    """Write FLAC or WAV (by `suffix`, default the path's) incrementally into a temporary sibling,
    renamed over `path` only when the block exits without an error (storage/atomic.py)."""
    suffix = (suffix or Path(path).suffix).lower()
    fmt = OUTPUT_FORMATS.get(suffix)
    if fmt is None:
        raise ValueError(f"can only write .flac or .wav, not {suffix or 'a file without an extension'!r}")
    with atomic_path(path) as tmp:
        with sf.SoundFile(
            str(tmp), "w", samplerate=sample_rate, channels=channels, subtype=subtype, format=fmt
        ) as handle:
            yield AudioWriter(handle)
