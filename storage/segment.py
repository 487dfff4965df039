"""Segment: cut an aligned pair into fixed-length training segments by one of the paper's strategies.

    pair = load_pair(track, encoded, alignment, seg_cfg)     # or make_pair(..., *decode_sources(track, encoded))
    for segment in cut_segments(pair, seg_cfg, range(n_windows(...))):
        ...

Everything is laid out on the dataset's rate R (`SegmentConfig.sample_rate`). Window w covers lossless
samples [w·hop, w·hop + L); its lossy side is laid out by the strategy (storage/strategy.py, which
owns the rates, the rounding and the layout; LadLe paper, Table I).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from storage.align import Alignment, decode_lossy, resample, resampled_length, shift_to
from storage.config import SegmentConfig
from storage.encode import Encoded
from storage.ingest import Track, read_track
from storage.strategy import get_strategy


@dataclass
class Pair:
    lossless: np.ndarray  # (2, T) at the dataset rate
    lossy: np.ndarray  # (2, T) at the dataset rate for `resample`, else (2, T_lossy) at lossy_rate
    sample_rate: int
    lossy_rate: int
    source_channels: int


@dataclass
class Segment:
    index: int
    offset_samples: int
    lossless: np.ndarray  # (2, L) float32
    lossy: np.ndarray  # (2, L) float32


def n_windows(n_frames: int, segment_samples: int, hop_samples: int) -> int:
    return 0 if n_frames < segment_samples else (n_frames - segment_samples) // hop_samples + 1


def track_windows(track: Track, cfg: SegmentConfig) -> int:
    """How many windows the track gives, known before any decoding (from the ingest frame count)."""
    n_frames = resampled_length(track.n_frames, track.sample_rate, cfg.sample_rate)
    return n_windows(n_frames, cfg.segment_samples, cfg.hop_samples)


def _as_stereo(audio: np.ndarray) -> np.ndarray:
    """Mono sources are duplicated to two identical channels, so every segment is (2, L)."""
    return np.repeat(audio, 2, axis=0) if audio.shape[0] == 1 else audio


def decode_sources(track: Track, encoded: Encoded) -> tuple[np.ndarray, np.ndarray]:
    """Both sides decoded once, at their own rates: lossless (C, T) at the track's, lossy (C, T') at the codec's.

    AudioError when the source changed since ingest, FFmpegError when the bitstream does not decode.
    """
    return read_track(track), decode_lossy(encoded, track.channels)


def _aligned(lossy: np.ndarray, lag: int, n_frames: int) -> np.ndarray:
    """`shift_to(lossy, lag, n_frames)`, as a view of `lossy` when it covers the whole span (a pair is only read)."""
    if 0 <= lag and lag + n_frames <= lossy.shape[-1]:
        return lossy[:, lag : lag + n_frames]
    return shift_to(lossy, lag, n_frames)


def make_pair(
    track: Track, encoded: Encoded, alignment: Alignment, cfg: SegmentConfig, lossless: np.ndarray, lossy: np.ndarray
) -> Pair:
    """Lay decoded sources (`decode_sources`) out for `cfg.strategy` (see the module docstring)."""
    rate = cfg.sample_rate
    strategy = get_strategy(cfg.strategy)
    lossless = resample(lossless, track.sample_rate, rate)
    lossy_rate = strategy.lossy_rate(rate, encoded.sample_rate)
    # The lossy side spans the same stretch of time as the lossless one, counted at its own rate.
    if strategy.keeps_codec_rate:
        n_lossy = resampled_length(track.n_frames, track.sample_rate, lossy_rate)
    else:
        n_lossy = lossless.shape[-1]
    lossy = resample(lossy, encoded.sample_rate, lossy_rate)  # a no-op when the strategy keeps the codec rate
    lossy = _aligned(lossy, round(alignment.lag_samples * lossy_rate / track.sample_rate), n_lossy)
    return Pair(_as_stereo(lossless), _as_stereo(lossy), rate, lossy_rate, track.channels)


def load_pair(track: Track, encoded: Encoded, alignment: Alignment, cfg: SegmentConfig) -> Pair:
    """Decode both sides and lay them out for `cfg.strategy`."""
    return make_pair(track, encoded, alignment, cfg, *decode_sources(track, encoded))


def cut_segments(pair: Pair, cfg: SegmentConfig, windows: Iterable[int]) -> Iterator[Segment]:
    """Segments for the given window indices; digital silence skipped when `cfg.skip_silence`."""
    strategy = get_strategy(cfg.strategy)
    length, hop = cfg.segment_samples, cfg.hop_samples
    lossy_length = strategy.lossy_length(length, pair.sample_rate, pair.lossy_rate)
    for w in windows:
        start = w * hop
        lossless = pair.lossless[:, start : start + length]
        if cfg.skip_silence and not np.any(lossless):
            continue
        lossy_start = strategy.lossy_start(start, pair.sample_rate, pair.lossy_rate)
        piece = np.zeros((2, lossy_length), np.float32)  # the track's tail may end inside the window
        available = pair.lossy[:, lossy_start : lossy_start + lossy_length]
        piece[:, : available.shape[-1]] = available
        lossy = strategy.layout(piece, length)  # (2, L)
        yield Segment(w, start, np.ascontiguousarray(lossless, np.float32), lossy)
