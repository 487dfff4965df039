"""Segment: cut an aligned pair into fixed-length training segments by one of the paper's strategies.

    pair = load_pair(track, encoded, alignment, seg_cfg)
    for segment in cut_segments(pair, seg_cfg, range(n_windows(...))):
        ...

Everything is laid out on the dataset's rate R (`SegmentConfig.sample_rate`). Window w covers lossless
samples [w·hop, w·hop + L). For `resample` the lossy audio is resampled to R and cut the same way. For
`pad-edges` and `spread-zeros` the lossy audio stays at its codec rate r (LadLe paper, Table I): the
matching Lq = round(L·r/R) lossy samples are either centred with zeros at both ends, or spread evenly
over the L positions with zeros between. When r == R all three strategies give the same segments.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from storage.align import Alignment, decode_lossy, resample, resampled_length, shift_to
from storage.config import SegmentConfig
from storage.encode import Encoded
from storage.ingest import Track, read_track


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


def load_pair(track: Track, encoded: Encoded, alignment: Alignment, cfg: SegmentConfig) -> Pair:
    """Decode both sides and lay them out for `cfg.strategy` (see the module docstring)."""
    rate = cfg.sample_rate
    lossless = resample(read_track(track), track.sample_rate, rate)
    n_frames = lossless.shape[-1]
    if cfg.strategy == "resample":
        lossy = decode_lossy(encoded, track.channels, rate)
        lossy = shift_to(lossy, round(alignment.lag_samples * rate / track.sample_rate), n_frames)
        lossy_rate = rate
    else:
        lossy_rate = encoded.sample_rate
        lossy = decode_lossy(encoded, track.channels)
        n_lossy = resampled_length(track.n_frames, track.sample_rate, lossy_rate)
        lossy = shift_to(lossy, round(alignment.lag_samples * lossy_rate / track.sample_rate), n_lossy)
    return Pair(_as_stereo(lossless), _as_stereo(lossy), rate, lossy_rate, track.channels)


def cut_segments(pair: Pair, cfg: SegmentConfig, windows: Iterable[int]) -> Iterator[Segment]:
    """Segments for the given window indices; digital silence skipped when `cfg.skip_silence`."""
    length, hop = cfg.segment_samples, cfg.hop_samples
    lossy_length = round(length * pair.lossy_rate / pair.sample_rate)
    for w in windows:
        start = w * hop
        lossless = pair.lossless[:, start : start + length]
        if cfg.skip_silence and not np.any(lossless):
            continue
        if cfg.strategy == "resample":
            lossy = pair.lossy[:, start : start + length]
        else:
            lossy_start = round(start * pair.lossy_rate / pair.sample_rate)
            piece = np.zeros((2, lossy_length), np.float32)
            available = pair.lossy[:, lossy_start : lossy_start + lossy_length]
            piece[:, : available.shape[-1]] = available
            lossy = np.zeros((2, length), np.float32)
            if cfg.strategy == "pad-edges":
                left = (length - lossy_length) // 2
                lossy[:, left : left + lossy_length] = piece
            else:  # spread-zeros: lossy sample i lands at floor(i·L/Lq)
                lossy[:, (np.arange(lossy_length) * length) // lossy_length] = piece
        yield Segment(w, start, np.ascontiguousarray(lossless, np.float32), np.ascontiguousarray(lossy, np.float32))
