"""A mix-bus production chain for rendered tracks: EQ, room reverb, bus compression, stereo width and level.

    production = draw_production(seed=0, key="bach/bwv269.mxl")   # seeded, independent of every other track
    produced = apply_production(audio, 44100, production)           # (2, T) float32 -> (2, T) float32

A General MIDI render is dry, centred and peak-normalised; records are mixed in a room, compressed,
equalised, spread and mastered to a level. The parameters are drawn separately from being applied (as
Descript's audiotools does), so each track's chain is a small record stored with it (library.json, and
the FLAC's LADLE_PRODUCTION tag) and replays to the same samples. The DSP is numpy and scipy only:
pedalboard (GPL-3.0) would make every distribution of this Apache-2.0 project that bundles it
GPL-bound (docs/sources.md), and these five stages need no more than biquads, a convolution and a
gain computer.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
from scipy import signal

FADE_S = 0.5  # the render's fade-out, applied again: the reverb's tail is cut where the track ends
BLOCK = 64  # compressor gain computed per 64 samples (1.5 ms at 44.1 kHz), then interpolated


@dataclass(frozen=True)
class Production:
    """One track's chain; every gain in dB, every time in ms unless named otherwise."""

    low_shelf_hz: float
    low_shelf_db: float
    peak_hz: float
    peak_db: float
    peak_q: float
    high_shelf_hz: float
    high_shelf_db: float
    reverb_rt60_s: float  # time for the room's tail to fall by 60 dB
    reverb_wet: float  # share of the wet signal's power in the mix, 0..1
    reverb_predelay_ms: float
    reverb_damping_hz: float  # the tail's one-pole low-pass: rooms absorb highs first
    reverb_seed: int  # draws the tail's noise
    threshold_db: float  # compressor threshold, relative to the mix's peak
    ratio: float
    attack_ms: float
    release_ms: float
    width: float  # side signal × width (1 leaves the image as rendered)
    peak_dbfs: float  # the master's peak level


def draw_production(seed: int, key: str) -> Production:
    """The chain of track `key` in a library built with `seed`; ranges are those of ordinary mixes."""
    digest = hashlib.sha256(f"ladle-production:{seed}:{key}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def log_uniform(low: float, high: float) -> float:
        return float(np.exp(rng.uniform(math.log(low), math.log(high))))

    def r(x: float, n: int = 3) -> float:
        return round(float(x), n)

    return Production(
        low_shelf_hz=r(log_uniform(60, 250), 1),
        low_shelf_db=r(rng.uniform(-4, 4), 2),
        peak_hz=r(log_uniform(250, 5000), 1),
        peak_db=r(rng.uniform(-4, 4), 2),
        peak_q=r(rng.uniform(0.5, 2.0)),
        high_shelf_hz=r(log_uniform(3000, 10000), 1),
        high_shelf_db=r(rng.uniform(-5, 4), 2),
        reverb_rt60_s=r(log_uniform(0.25, 2.5)),
        reverb_wet=r(rng.uniform(0.03, 0.3)),
        reverb_predelay_ms=r(rng.uniform(0, 30), 1),
        reverb_damping_hz=r(log_uniform(3000, 12000), 1),
        reverb_seed=int(rng.integers(0, 2**31)),
        threshold_db=r(rng.uniform(-24, -6), 2),
        ratio=r(log_uniform(1.5, 6)),
        attack_ms=r(log_uniform(2, 40), 2),
        release_ms=r(log_uniform(40, 400), 1),
        width=r(rng.uniform(0.6, 1.5)),
        peak_dbfs=r(rng.uniform(-6, -1), 2),
    )


def _biquad(kind: str, f0: float, gain_db: float, q: float, rate: int) -> np.ndarray:
    """One second-order section, (1, 6), from the RBJ Audio EQ Cookbook (shelf slope S = 1)."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * min(f0, 0.45 * rate) / rate
    cos, sin = math.cos(w0), math.sin(w0)
    if kind == "peak":
        alpha = sin / (2 * q)
        b = [1 + alpha * a, -2 * cos, 1 - alpha * a]
        den = [1 + alpha / a, -2 * cos, 1 - alpha / a]
    else:
        alpha = sin / 2 * math.sqrt(2)  # S = 1: the steepest shelf without overshoot
        root = 2 * math.sqrt(a) * alpha
        sign = 1 if kind == "low" else -1
        b = [
            a * ((a + 1) - sign * (a - 1) * cos + root),
            sign * 2 * a * ((a - 1) - sign * (a + 1) * cos),
            a * ((a + 1) - sign * (a - 1) * cos - root),
        ]
        den = [(a + 1) + sign * (a - 1) * cos + root, -sign * 2 * ((a - 1) + sign * (a + 1) * cos),
               (a + 1) + sign * (a - 1) * cos - root]  # fmt: skip
    return np.array([[*(np.array(b) / den[0]), 1.0, den[1] / den[0], den[2] / den[0]]])


def equalise(audio: np.ndarray, rate: int, p: Production) -> np.ndarray:
    sos = np.concatenate([
        _biquad("low", p.low_shelf_hz, p.low_shelf_db, 0.707, rate),
        _biquad("peak", p.peak_hz, p.peak_db, p.peak_q, rate),
        _biquad("high", p.high_shelf_hz, p.high_shelf_db, 0.707, rate),
    ])  # fmt: skip
    return signal.sosfilt(sos, audio, axis=-1)


def room_impulse(rate: int, p: Production) -> np.ndarray:
    """(2, N) decorrelated exponentially decaying noise after a pre-delay, low-passed, unit energy per channel."""
    n = int(rate * min(1.5 * p.reverb_rt60_s, 4.0))
    t = np.arange(n) / rate
    noise = np.random.default_rng(p.reverb_seed).standard_normal((2, n))
    tail = noise * np.exp(-3 * math.log(10) * t / p.reverb_rt60_s)  # -60 dB at rt60
    pole = math.exp(-2 * math.pi * p.reverb_damping_hz / rate)
    tail = signal.lfilter([1 - pole], [1, -pole], tail, axis=-1)
    ir = np.concatenate([np.zeros((2, round(p.reverb_predelay_ms * rate / 1000))), tail], axis=-1)
    return ir / np.sqrt(np.sum(ir**2, axis=-1, keepdims=True))


def add_reverb(audio: np.ndarray, rate: int, p: Production) -> np.ndarray:
    wet = signal.oaconvolve(audio, room_impulse(rate, p), axes=-1)[:, : audio.shape[-1]]
    gain = np.sqrt(np.sum(audio**2) / max(np.sum(wet**2), 1e-20))  # the wet signal at the dry one's power
    return math.sqrt(1 - p.reverb_wet) * audio + math.sqrt(p.reverb_wet) * gain * wet


def compress(audio: np.ndarray, rate: int, p: Production) -> np.ndarray:
    """A feed-forward peak compressor on the stereo bus (linked channels), threshold relative to the peak."""
    n_blocks = -(-audio.shape[-1] // BLOCK)
    padded = np.pad(np.abs(audio).max(axis=0), (0, n_blocks * BLOCK - audio.shape[-1]))
    level_db = 20 * np.log10(np.maximum(padded.reshape(n_blocks, BLOCK).max(axis=1), 1e-9))
    over = level_db - (level_db.max() + p.threshold_db)
    target = np.where(over > 0, over * (1 - 1 / p.ratio), 0.0)  # dB of gain reduction wanted per block
    block_s = BLOCK / rate
    attack, release = (math.exp(-block_s / (ms / 1000)) for ms in (p.attack_ms, p.release_ms))
    reduction = np.empty(n_blocks)
    current = 0.0
    for i, want in enumerate(target.tolist()):  # one step per block: the envelope's attack and release differ
        coeff = attack if want > current else release
        current = coeff * current + (1 - coeff) * want
        reduction[i] = current
    centres = (np.arange(n_blocks) + 0.5) * BLOCK
    gain = 10 ** (-np.interp(np.arange(audio.shape[-1]), centres, reduction) / 20)
    return audio * gain


def widen(audio: np.ndarray, width: float) -> np.ndarray:
    mid, side = (audio[0] + audio[1]) / 2, (audio[0] - audio[1]) / 2 * width
    return np.stack([mid + side, mid - side])


def apply_production(audio: np.ndarray, rate: int, p: Production) -> np.ndarray:
    """(2, T) float -> (2, T) float32: EQ, room, bus compression, width, then the master's peak and fade."""
    x = equalise(audio.astype(np.float64), rate, p)
    x = add_reverb(x, rate, p)
    x = compress(x, rate, p)
    x = widen(x, p.width)
    n_fade = min(round(FADE_S * rate), x.shape[-1] // 4)
    if n_fade > 0:
        x[:, -n_fade:] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, n_fade))
    peak = float(np.abs(x).max())
    if peak == 0.0:
        return np.zeros_like(audio, dtype=np.float32)
    return (x * (10 ** (p.peak_dbfs / 20) / peak)).astype(np.float32)
