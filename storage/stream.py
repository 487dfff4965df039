"""Streaming audio I/O for whole-track work in bounded memory: decode in chunks, resample in chunks, write in chunks.

    info = ff.probe_audio("album/01.mp3")                    # rate, channels, codec, duration
    for chunk in decode_chunks("album/01.mp3", channels=2, chunk_frames=441000):
        ...                                                  # float32 (C, n) at the file's own rate
    resampler = StreamResampler(44100, 48000)
    out = resampler.push(chunk); ...; out = resampler.flush()   # same samples as storage.align.resample on the whole
    with open_audio_writer("restored.flac", 44100, channels=2) as writer:
        writer.write(out)                                    # (C, n); appears under its name only when complete

An hour of stereo at 44.1 kHz is 1.3 GB as float32, so nothing here ever holds a whole track.
"""

from __future__ import annotations

import contextlib
import math
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import ffmpeg
import numpy as np
import soundfile as sf
import torch
import torchaudio.transforms as AT

from storage import ffmpeg as ff
from storage.atomic import atomic_path

OUTPUT_FORMATS = {".flac": "FLAC", ".wav": "WAV"}


def decode_chunks(path: str | Path, channels: int, chunk_frames: int, sample_rate: int | None = None) -> Iterator[np.ndarray]:
    """Decode through an FFmpeg pipe, yielding float32 (channels, ≤ chunk_frames) blocks in order.

    At the file's own rate unless `sample_rate` is given (FFmpeg's resampler then). FFmpegError,
    with FFmpeg's last lines, if decoding fails midway. Closing the generator early stops FFmpeg.
    """
    cmd = (
        ffmpeg.input(str(path))
        .output("pipe:", format="f32le", acodec="pcm_f32le", ac=channels, **({"ar": sample_rate} if sample_rate else {}))
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


class StreamResampler:
    """torchaudio's windowed-sinc resampler (storage.align.resample) applied chunk by chunk, exactly.

    torchaudio computes output frame m (P_out samples) from input samples [m·P_in − width,
    (m + 1)·P_in + width), where P_in/P_out is the rate ratio in lowest terms and width the kernel's
    half-length (torchaudio.functional.resample's source). So a block of input that starts at a
    multiple of P_in and reaches `width` past a frame reproduces that frame exactly: each push emits
    the frames whose input is complete and keeps only the input later frames need. The total
    length is torchaudio's, ceil(n·new/orig).
    """

    def __init__(self, orig_rate: int, new_rate: int) -> None:
        self.orig_rate, self.new_rate = orig_rate, new_rate
        self.identity = orig_rate == new_rate
        if not self.identity:
            self._resample = AT.Resample(orig_rate, new_rate)  # kernel computed once (float32)
            gcd = math.gcd(orig_rate, new_rate)
            self.p_in, self.p_out = orig_rate // gcd, new_rate // gcd
            self.width = self._resample.width
        self._buffer = np.zeros((0, 0), np.float32)  # input samples [buffer_start, buffer_start + n)
        self._buffer_start = 0
        self._next_frame = 0  # output frames before this one have been returned
        self._channels = 0
        self.n_in = 0

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Take (C, n) input; return the (C, m) output that is now final."""
        chunk = np.ascontiguousarray(chunk, np.float32)
        self._channels = chunk.shape[0]
        self.n_in += chunk.shape[-1]
        if self.identity:
            return chunk
        self._buffer = chunk if self._buffer.size == 0 else np.concatenate([self._buffer, chunk], axis=1)
        end = self._buffer_start + self._buffer.shape[-1]
        last_frame = (end - self.width) // self.p_in - 1  # its input ends at (last + 1)·P_in + width <= end
        return self._emit(last_frame + 1, final=False)

    def flush(self) -> np.ndarray:
        """The rest of the output, after the last push (zeros past the end, as torchaudio pads)."""
        if self.identity or self._buffer.size == 0:
            return np.zeros((self._channels, 0), np.float32)
        return self._emit(None, final=True)

    def _emit(self, stop_frame: int | None, final: bool) -> np.ndarray:
        if not final and stop_frame <= self._next_frame:
            return np.zeros((self._channels, 0), np.float32)
        first_block_frame = self._buffer_start // self.p_in
        out = self._resample(torch.from_numpy(self._buffer)).numpy()  # (C, ceil(n·P_out/P_in)), block-local
        lo = (self._next_frame - first_block_frame) * self.p_out
        hi = out.shape[-1] if final else (stop_frame - first_block_frame) * self.p_out
        result = out[:, lo:hi]
        if not final:
            self._next_frame = stop_frame
            # keep the input from the first sample the next frame reads, aligned down to a multiple of P_in
            keep_from = max((self._next_frame * self.p_in - self.width) // self.p_in * self.p_in, 0)
            drop = keep_from - self._buffer_start
            if drop > 0:
                self._buffer = self._buffer[:, drop:]
                self._buffer_start = keep_from
        return np.ascontiguousarray(result)


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
def open_audio_writer(path: str | Path, sample_rate: int, channels: int, subtype: str = "PCM_24",
                      suffix: str | None = None) -> Iterator[AudioWriter]:
    """Write FLAC or WAV (by `suffix`, default the path's) incrementally into a temporary sibling,
    renamed over `path` only when the block exits without an error (storage/atomic.py)."""
    suffix = (suffix or Path(path).suffix).lower()
    fmt = OUTPUT_FORMATS.get(suffix)
    if fmt is None:
        raise ValueError(f"can only write .flac or .wav, not {suffix or 'a file without an extension'!r}")
    with atomic_path(path) as tmp:
        with sf.SoundFile(str(tmp), "w", samplerate=sample_rate, channels=channels, subtype=subtype, format=fmt) as handle:
            yield AudioWriter(handle)
