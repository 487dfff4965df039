"""Align: bring the decoded lossy audio onto the lossless timeline and measure how close it is.

    lossy = decode_lossy(encoded, channels=2, target_rate=44100)      # resampled by libsoxr (storage/resample.py)
    lag, _ = measure_lag(lossless, lossy, max_lag=4410, analysis_frames=30 * 44100)
    aligned = shift_to(lossy, lag, lossless.shape[-1])

FFmpeg already trims codec delay for MP3, Vorbis, Opus and AAC-in-MP4 (docs/design.md), but resampling
and odd containers can still shift the audio, so the lag is measured, never assumed.
Convention: aligned[t] = lossy[t + lag]; a positive lag means the lossy audio came out late.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from storage import ffmpeg as ff
from storage.atomic import write_json_atomic
from storage.audio import AudioError
from storage.config import STAGE_VERSIONS, AlignConfig, stable_hash
from storage.encode import Encoded
from storage.ingest import Quarantined, Track, read_track
from storage.resample import resample, resampled_length  # noqa: F401  (re-exported: callers resample through align)


@dataclass(frozen=True)
class Alignment:
    track_id: str
    preset: str
    lag_samples: int  # at the lossless rate
    lossy_frames: int  # length of the decoded lossy audio at the lossless rate, before the fix
    correlation: float  # Pearson, all channels, after alignment
    snr_db: float  # lossless energy over the energy of (lossless - aligned lossy)
    passed: bool  # cleared the quality gate
    align_key: str
    reason: str = ""  # why it failed the gate


def decode_lossy(encoded: Encoded, channels: int, target_rate: int | None = None) -> np.ndarray:
    """The bitstream decoded at the codec's rate, then resampled to `target_rate` when given."""
    audio, rate = ff.decode_file(encoded.path, channels=channels, sample_rate=encoded.sample_rate)
    return audio if target_rate is None else resample(audio, rate, target_rate)


def measure_lag(reference: np.ndarray, signal: np.ndarray, max_lag: int, analysis_frames: int) -> tuple[int, float]:
    """The lag in [-max_lag, max_lag] maximising the cross-correlation of the mono mixes.

    Only `analysis_frames` from the middle of the reference are used, so the cost stays bounded
    for long tracks. Returns (lag, normalised correlation at that lag).
    """
    n = reference.shape[-1]
    span = min(n, analysis_frames)
    start = (n - span) // 2
    # Mono mixes of the windows only: a mix is made column by column, so mixing a slice is slicing the mix.
    ref_part = reference[:, start : start + span].mean(axis=0)
    # The signal window covers every candidate lag: sig[start - max_lag : start + span + max_lag].
    padded = np.zeros(span + 2 * max_lag, dtype=np.float64)
    lo, hi = start - max_lag, start + span + max_lag
    src_lo, src_hi = max(lo, 0), min(hi, signal.shape[-1])
    if src_hi > src_lo:
        padded[src_lo - lo : src_hi - lo] = signal[:, src_lo:src_hi].mean(axis=0)
    # Cross-correlation by FFT in float32. Lag j (0 <= j <= 2·max_lag) reads padded[i + j] for i < span,
    # always below len(padded), so a circular correlation of length len(padded) has no wrap-around.
    n_fft = _fast_length(len(padded))
    spectrum = np.fft.rfft(padded.astype(np.float32), n_fft) * np.conj(np.fft.rfft(ref_part.astype(np.float32), n_fft))
    corr = np.fft.irfft(spectrum, n_fft)[: 2 * max_lag + 1].astype(np.float64)  # corr[j] ↔ lag j - max_lag
    best = int(np.argmax(corr))
    norm = np.sqrt(np.sum(ref_part**2) * np.sum(padded[best : best + span] ** 2))
    return best - max_lag, float(corr[best] / norm) if norm > 0 else 0.0


def _fast_length(n: int) -> int:
    """The smallest 2^a·3^b·5^c >= n: FFT lengths with large prime factors are several times slower."""
    best = 1 << max(n - 1, 0).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def shift_to(signal: np.ndarray, lag: int, n_frames: int) -> np.ndarray:
    """aligned[:, t] = signal[:, t + lag] for t in [0, n_frames); zeros where the signal has none."""
    out = np.zeros((signal.shape[0], n_frames), dtype=np.float32)
    src_lo, src_hi = max(lag, 0), min(n_frames + lag, signal.shape[-1])
    if src_hi > src_lo:
        out[:, src_lo - lag : src_hi - lag] = signal[:, src_lo:src_hi]
    return out


QUALITY_CHUNK_SAMPLES = 1 << 16  # small enough that a chunk's temporaries stay in the CPU cache


def pair_quality(lossless: np.ndarray, aligned: np.ndarray) -> tuple[float, float]:
    """(Pearson correlation, SNR in dB) of an aligned pair: two float arrays of one shape."""
    if np.shape(lossless) != np.shape(aligned):
        raise ValueError(f"an aligned pair has one shape, got {np.shape(lossless)} and {np.shape(aligned)}")
    return shifted_quality(lossless, aligned, 0)


def shifted_quality(lossless: np.ndarray, lossy: np.ndarray, lag: int) -> tuple[float, float]:
    """`pair_quality(lossless, shift_to(lossy, lag, T))` for (C, T) and (C, T'), without the shifted copy.

    Two passes over chunks of each channel: the means, then every sum at once. A chunk's products
    are float32 (BLAS dot products) and the chunks add up in float64, so no whole-track temporary
    is made and the sums keep about seven significant digits on tracks of any length.
    """
    x = np.ascontiguousarray(np.atleast_2d(lossless), np.float32)
    y = np.ascontiguousarray(np.atleast_2d(lossy), np.float32)
    n_frames = x.shape[-1]
    n = x.size
    if n == 0:
        return 0.0, float("inf")
    # Frames [lo, hi) of the lossless timeline have lossy samples y[:, lo + lag : hi + lag]; the rest are zeros.
    lo = max(-lag, 0)
    hi = max(min(n_frames, y.shape[-1] - lag), lo)
    mean_x = np.float32(np.add.reduce(x, axis=None, dtype=np.float64) / n)
    mean_y = np.float32(np.add.reduce(y[:, lo + lag : hi + lag], axis=None, dtype=np.float64) / n)
    chunk = min(n_frames, QUALITY_CHUNK_SAMPLES)
    diff, xc, yc, shifted = (np.empty(chunk, np.float32) for _ in range(4))
    signal = noise = cov = var_x = var_y = 0.0
    for channel in range(x.shape[0]):
        for start in range(0, n_frames, chunk):
            a = x[channel, start : start + chunk]
            m = a.size
            if lo <= start and start + m <= hi:
                b = y[channel, start + lag : start + m + lag]  # wholly inside the lossy audio: a view
            else:
                b = shifted[:m]
                b[:] = 0
                inner_lo, inner_hi = max(start, lo), min(start + m, hi)
                if inner_hi > inner_lo:
                    b[inner_lo - start : inner_hi - start] = y[channel, inner_lo + lag : inner_hi + lag]
            d, u, v = diff[:m], xc[:m], yc[:m]
            np.subtract(a, b, out=d)
            np.subtract(a, mean_x, out=u)
            np.subtract(b, mean_y, out=v)
            signal += float(np.dot(a, a))
            noise += float(np.dot(d, d))
            cov += float(np.dot(u, v))
            var_x += float(np.dot(u, u))
            var_y += float(np.dot(v, v))
    snr_db = 10 * np.log10(signal / noise) if noise > 0 else float("inf")
    denom = np.sqrt(var_x * var_y)
    return (cov / denom if denom > 0 else 0.0), float(snr_db)


def align_key(encoded: Encoded, cfg: AlignConfig) -> str:
    return stable_hash(["align", STAGE_VERSIONS["align"], encoded.encode_key, asdict(cfg)])


def alignment_path(data_dir: str | Path, encoded: Encoded) -> Path:
    return Path(data_dir) / "pairs" / encoded.preset / f"{encoded.track_id}.json"


def find_alignment(encoded: Encoded, cfg: AlignConfig, data_dir: str | Path) -> Alignment | None:
    """The alignment an earlier run measured for this encode and `cfg` (its sidecar), or None."""
    try:
        record = json.loads(alignment_path(data_dir, encoded).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return Alignment(**record) if record.get("align_key") == align_key(encoded, cfg) else None


def measure_alignment(
    track: Track, encoded: Encoded, lossless: np.ndarray, lossy: np.ndarray, cfg: AlignConfig
) -> Alignment:
    """Lag, correlation, SNR and the quality gate of decoded audio: both (C, T) at the track's rate."""
    max_lag = round(cfg.max_lag_seconds * track.sample_rate)
    lag, _ = measure_lag(lossless, lossy, max_lag, round(cfg.analysis_seconds * track.sample_rate))
    correlation, snr_db = shifted_quality(lossless, lossy, lag)
    failures = []
    if correlation < cfg.min_correlation:
        failures.append(f"correlation {correlation:.3f} < {cfg.min_correlation}")
    if snr_db < cfg.min_snr_db:
        failures.append(f"SNR {snr_db:.1f} dB < {cfg.min_snr_db} dB")
    if abs(lag) == max_lag:
        failures.append(f"lag {lag} at the edge of the ±{max_lag}-sample search window")
    return Alignment(
        track_id=track.track_id,
        preset=encoded.preset,
        lag_samples=lag,
        lossy_frames=lossy.shape[-1],
        correlation=round(correlation, 6),
        snr_db=round(snr_db, 3),
        passed=not failures,
        align_key=align_key(encoded, cfg),
        reason="; ".join(failures),
    )


def save_alignment(data_dir: str | Path, encoded: Encoded, alignment: Alignment) -> None:
    write_json_atomic(alignment_path(data_dir, encoded), asdict(alignment))


def align_pair(track: Track, encoded: Encoded, cfg: AlignConfig, data_dir: str | Path) -> Alignment | Quarantined:
    """Measure lag and quality of one pair (cached in a sidecar keyed by the encode and `cfg`).

    A source that changed since ingest, or a bitstream FFmpeg cannot decode, gives Quarantined.
    The shard writer measures alignments during its own decode (storage/shards.py); this is the
    stand-alone path, and the one that reads their sidecars back.
    """
    found = find_alignment(encoded, cfg, data_dir)
    if found is not None:
        return found
    try:
        lossless = read_track(track)
        lossy = decode_lossy(encoded, track.channels, track.sample_rate)
    except (AudioError, ff.FFmpegError) as e:
        return Quarantined(track.path, "align", str(e), track.track_id, encoded.preset)
    alignment = measure_alignment(track, encoded, lossless, lossy, cfg)
    save_alignment(data_dir, encoded, alignment)
    return alignment
