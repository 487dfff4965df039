"""ViSQOL v3 (audio mode) on excerpts of active audio: the perceptual-quality metric of the registry.

    visqol_moslqo(lossless, restored, 44100)          # mean MOS-LQO over up to 3 excerpts of 5 s, 1..~4.73
    active_excerpts(lossless, 44100, 3, 5.0)          # [(start, stop), ...] sample ranges it scores

ladle_model/evaluation/metrics.py re-exports these and registers the metric; this module imports only numpy
(visqol-python and the resampler are imported when first used).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

VISQOL_RATE = 48000  # ViSQOL v3 audio mode works at 48 kHz (Chinen et al., QoMEX 2020)
# visqol-python raises "Reference spectrum size (44) smaller than minimum patch size (45)" below
# 45 frames of 1024 samples at 48 kHz: measured, excerpts of 0.955 s fail and 0.96 s pass at 32, 44.1 and 48 kHz.
VISQOL_MIN_SECONDS = 45 * 1024 / VISQOL_RATE  # 0.96 s


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x, np.float64)


def visqol_available() -> bool:
    try:
        import visqol  # noqa: F401
    except ImportError:
        return False
    return True


def active_excerpts(
    reference, sample_rate: int, n_excerpts: int, excerpt_seconds: float, quiet_db: float = 20.0
) -> list[tuple[int, int]]:
    """Up to `n_excerpts` (start, stop) sample ranges of active audio, evenly spread over the track.

    The track is cut into back-to-back excerpts; those whose RMS (mono mix of the reference) is within
    `quiet_db` of the loudest excerpt's are active (no silence, no fade-out tails), and n of them are
    taken at even spacing. A track shorter than one excerpt is one excerpt; digital silence has none.
    """
    x = _numpy(reference)
    mono = x.reshape(-1, x.shape[-1]).mean(axis=0)
    length = round(excerpt_seconds * sample_rate)
    n_total = len(mono) // length
    if n_excerpts <= 0 or not np.any(mono):
        return []
    if n_total == 0:
        return [(0, len(mono))]
    rms = np.sqrt(np.mean(mono[: n_total * length].reshape(n_total, length) ** 2, axis=1))
    if rms.max() <= 0:
        return []
    active = np.flatnonzero(rms >= rms.max() * 10 ** (-quiet_db / 20))
    picks = np.unique(np.round(np.linspace(0, len(active) - 1, min(n_excerpts, len(active)))).astype(int))
    return [(int(active[i]) * length, (int(active[i]) + 1) * length) for i in picks]


_VISQOL_API = None
_POOL = None  # (workers, ProcessPoolExecutor): kept across calls, a calibration scores hundreds of excerpts


def _visqol_api():
    global _VISQOL_API
    if _VISQOL_API is None:
        from visqol import VisqolApi

        api = VisqolApi()
        api.create(mode="audio")  # the bundled SVR model of ViSQOL v3's audio mode
        _VISQOL_API = api
    return _VISQOL_API


def _measure(pair: np.ndarray) -> float:
    """MOS-LQO of one (2, n) float64 pair of mono mixes at 48 kHz (reference, estimate)."""
    return float(_visqol_api().measure_from_arrays(pair[0], pair[1], VISQOL_RATE).moslqo)


def default_workers() -> int:
    """Processes that score excerpts at once: the cores this process may run on, 1 inside a daemonic process
    (a Prefect or multiprocessing worker, which may not start children)."""
    if multiprocessing.current_process().daemon:
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _pool(workers: int):
    """A process pool of `workers` (spawned: no state of the caller's, torch's threads included, is inherited)."""
    global _POOL
    if _POOL is None or _POOL[0] != workers:
        if _POOL is not None:
            _POOL[1].shutdown(cancel_futures=True)
        _POOL = (workers, ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")))
    return _POOL[1]


def measure_all(pairs: list[np.ndarray], workers: int | None = None) -> list[float]:
    """MOS-LQO of each (2, n) pair (`_measure`), in order; `workers` processes at once (None: `default_workers`).

    One excerpt per process at a time: visqol-python aborted the process now and then when two threads
    of one process scored at once. A pool whose worker died is dropped and the rest is scored here, one by one.
    The workers are spawned, so a script that calls this needs Python's `if __name__ == "__main__":` guard
    (each worker imports the script; unguarded, it would run it again); `workers=1` needs none."""
    global _POOL
    workers = min(default_workers() if workers is None else workers, len(pairs))
    if workers > 1:
        try:
            return list(_pool(workers).map(_measure, pairs))
        except BrokenProcessPool:
            _POOL = None  # a worker died: score here instead
    return [_measure(pair) for pair in pairs]


def visqol_moslqo(
    reference,
    estimate,
    sample_rate: int,
    n_excerpts: int = 3,
    excerpt_seconds: float = 5.0,
    resample: Callable[[np.ndarray, int, int], np.ndarray] | None = None,
    workers: int | None = None,
):
    """ViSQOL v3 in audio mode (visqol-python, a port of Google's ViSQOL 3.3.3): mean MOS-LQO over
    up to `n_excerpts` excerpts of active audio (see `active_excerpts`, chosen on the reference), each
    mixed to mono (as ViSQOL reads files) and resampled to 48 kHz (audio mode's rate).

    (C, T) audio gives a float, (B, C, T) one value per item. MOS-LQO runs from 1 to about 4.73 (the
    audio-mode SVR's ceiling: a signal against itself). Costs about 0.7 s of CPU per second of
    excerpt; the excerpts are scored by `workers` processes at once (`measure_all`). NaN when
    visqol-python is not installed or there is no active audio; an excerpt shorter than
    VISQOL_MIN_SECONDS raises visqol-python's ValueError.
    """
    ref, est = _numpy(reference), _numpy(estimate)
    if ref.shape != est.shape or ref.ndim not in (2, 3):
        raise ValueError(f"expected two (C, T) or (B, C, T) arrays of one shape, got {ref.shape} and {est.shape}")
    batched = ref.ndim == 3
    ref, est = (ref, est) if batched else (ref[None], est[None])
    if not visqol_available():
        values = np.full(len(ref), np.nan)
        return values if batched else float(values[0])
    if resample is None:
        from storage.align import resample
    pairs, owner = [], []  # every excerpt of every item, and which item it is of
    for item, (r, e) in enumerate(zip(ref, est)):
        for start, stop in active_excerpts(r, sample_rate, n_excerpts, excerpt_seconds):
            pair = np.stack([r[:, start:stop].mean(axis=0), e[:, start:stop].mean(axis=0)]).astype(
                np.float32
            )  # (2, n) mono mixes
            pairs.append(resample(pair, sample_rate, VISQOL_RATE).astype(np.float64))
            owner.append(item)
    counts = np.bincount(owner, minlength=len(ref))
    sums = np.bincount(owner, weights=measure_all(pairs, workers), minlength=len(ref))
    values = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)  # each item's mean over its excerpts
    return values if batched else float(values[0])
