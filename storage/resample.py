"""Sample-rate conversion for the whole project: libsoxr, one-shot or streamed, the same samples either way.

    y = resample(x, 32000, 44100)                  # (C, T) float32 -> (C, resampled_length(T, 32000, 44100))
    n = resampled_length(44100 * 60, 44100, 48000) # known before decoding: shard plans count windows with it

libsoxr's "HQ" preset was measured 2-3x faster than torchaudio's default windowed sinc and tens of dB
closer to ideal band-limited resampling on a sweep (`python -m bench.resample`, BENCHMARKS.md, "Resample"). It
needs no torch, so building a corpus never imports torch; storage/stream.py streams it in chunks.
"""

from __future__ import annotations

import numpy as np
import soxr

SOXR_QUALITY = "HQ"


def resampled_length(n_frames: int, orig_rate: int, new_rate: int) -> int:
    """The length `resample` returns: ceil(n · new / orig)."""
    return -(-n_frames * new_rate // orig_rate)


def fit_length(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """(C, T) cut or zero-padded at the end to `n_frames` (libsoxr rounds the length; we ceil it)."""
    if audio.shape[-1] >= n_frames:
        return audio[:, :n_frames]
    return np.concatenate([audio, np.zeros((audio.shape[0], n_frames - audio.shape[-1]), audio.dtype)], axis=1)


def resample(audio: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """(C, T) float32 through libsoxr; a no-op at equal rates. Always `resampled_length` frames long."""
    if orig_rate == new_rate:
        return audio
    out = soxr.resample(np.ascontiguousarray(audio.T, np.float32), orig_rate, new_rate, quality=SOXR_QUALITY)  # (T', C)
    return fit_length(np.ascontiguousarray(out.T), resampled_length(audio.shape[-1], orig_rate, new_rate))


class StreamResampler:
    """`resample` applied chunk by chunk, with exactly the same samples.

    libsoxr's streaming resampler is chunk-size independent: any split of the input gives the output
    of one call on the whole (tests/storage/test_stream.py checks it). `flush` pads the total to
    `resampled_length`, as `resample` does.
    """

    def __init__(self, orig_rate: int, new_rate: int) -> None:
        self.orig_rate, self.new_rate = orig_rate, new_rate
        self.identity = orig_rate == new_rate
        self._stream = None  # made at the first push, when the channel count is known
        self._channels = 0
        self.n_in = 0
        self.n_out = 0

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Take (C, n) input; return the (C, m) output that is now final."""
        chunk = np.ascontiguousarray(chunk, np.float32)
        self._channels = chunk.shape[0]
        self.n_in += chunk.shape[-1]
        if self.identity:
            return chunk
        if self._stream is None:
            self._stream = soxr.ResampleStream(
                self.orig_rate, self.new_rate, self._channels, dtype="float32", quality=SOXR_QUALITY
            )
        return self._emit(self._stream.resample_chunk(np.ascontiguousarray(chunk.T)))

    def flush(self) -> np.ndarray:
        """The rest of the output, zero-padded to the whole input's `resampled_length`."""
        if self.identity or self._stream is None:
            return np.zeros((self._channels, 0), np.float32)
        tail = self._emit(self._stream.resample_chunk(np.zeros((0, self._channels), np.float32), last=True))
        missing = resampled_length(self.n_in, self.orig_rate, self.new_rate) - self.n_out
        if missing > 0:
            tail = np.concatenate([tail, np.zeros((self._channels, missing), np.float32)], axis=1)
            self.n_out += missing
        return tail

    def _emit(self, out: np.ndarray) -> np.ndarray:
        """(m, C) from libsoxr -> (C, m), never past `resampled_length` of the input so far."""
        out = np.ascontiguousarray(out.T)
        out = out[:, : max(resampled_length(self.n_in, self.orig_rate, self.new_rate) - self.n_out, 0)]
        self.n_out += out.shape[-1]
        return out
