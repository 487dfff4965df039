"""Drums from real sampled kits (Hydrogen's drumkit.xml format) played as a groove on a piece's beat.

    kit = load_kit(Path("/usr/share/hydrogen/data/drumkits/ColomboAcousticDrumkit"))   # None: no kick/snare/hat
    groove = draw_groove(seed=0, key="bach/bwv269.mxl", kits=["ColomboAcousticDrumkit"], share=1.0)
    drums = render_groove(groove, kit, qpm=96.0, beats_per_bar=4, pickup_quarters=0.0,
                          period_s=31.2, duration_s=40.0)                  # (2, T) float32 at 44.1 kHz

The music21 corpus has no percussion, so a groove is drawn for a share of the works and laid on the
score's own pulse: the tempo, the bar length and the pickup come from the score (`score_plan`), and
the pattern restarts with every pass of a looped piece. Cymbals and hi-hats are what these renders
otherwise lack: the band above a codec's cut that records are full of. Debian's `hydrogen-drumkits`
installs 14 kits (docs/sources.md gives their licences); kits without a kick, a snare and a closed
hi-hat (hand percussion, djembes) are left out.
"""

from __future__ import annotations

import hashlib
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 44100
KIT_DIRS = (Path("/usr/share/hydrogen/data/drumkits"), Path("/usr/local/share/hydrogen/data/drumkits"))
ROLES = ("kick", "snare", "hat", "cymbal")
# Patterns on a grid of eighth notes per beat (two slots a beat): the slots each role plays in a bar of
# `beats_per_bar` beats. "backbeat" is rock/pop's kick on 1 and 3, snare on 2 and 4; "half" puts the
# snare on 3 only; "sparse" is a ballad's quarter-note hi-hat.
PATTERNS = ("backbeat", "half", "sparse")


@dataclass(frozen=True)
class Layer:
    min_velocity: float  # 0..1, Hydrogen's layer range
    max_velocity: float
    path: str


@dataclass(frozen=True)
class Kit:
    name: str
    layers: dict  # role -> tuple[Layer, ...]


@dataclass(frozen=True)
class Groove:
    """How the drums of one work are played; drawn per (seed, work), stored with the track."""

    kit: str  # folder name of the kit
    pattern: str
    level_db: float  # drums' RMS against the music's
    hat_eighths: bool  # hi-hat on every eighth (else on the beat)
    crash_every_bars: int  # a crash on the first beat of every n-th bar
    seed: int  # draws the velocities of the hits


def _role(name: str) -> str | None:
    n = name.lower()
    if "kick" in n or "bass drum" in n or "bassdrum" in n:
        return "kick"
    if "snare" in n and "roll" not in n and "rim" not in n:
        return "snare"
    if ("hat" in n or "hh" in n) and not any(w in n for w in ("open", " op", "pedal", " pd", "semi", "swish", "choke")):
        return "hat"
    if "crash" in n or "ride" in n:
        return "cymbal"
    return None


def load_kit(folder: Path) -> Kit | None:
    """The first kick, snare, closed hi-hat and cymbal of a Hydrogen kit; None when it lacks one of the first three."""
    try:
        root = ET.parse(folder / "drumkit.xml").getroot()
    except (OSError, ET.ParseError):
        return None
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""  # newer kits declare a namespace
    layers: dict[str, tuple[Layer, ...]] = {}
    for instrument in root.iter(f"{ns}instrument"):
        role = _role(instrument.findtext(f"{ns}name") or "")
        if role is None or role in layers:
            continue
        found = [
            Layer(float(la.findtext(f"{ns}min") or 0), float(la.findtext(f"{ns}max") or 1),
                  str(folder / (la.findtext(f"{ns}filename") or "")))
            for la in instrument.iter(f"{ns}layer")
        ]  # fmt: skip
        if not found and instrument.findtext(f"{ns}filename"):  # old kits: one sample, no layers
            found = [Layer(0.0, 1.0, str(folder / instrument.findtext(f"{ns}filename")))]
        found = [la for la in found if Path(la.path).is_file()]
        if found:
            layers[role] = tuple(sorted(found, key=lambda la: la.min_velocity))
    if not {"kick", "snare", "hat"} <= set(layers):
        return None
    return Kit(folder.name, layers)


def installed_kits(dirs: Sequence[Path] = KIT_DIRS) -> list[Path]:
    """Every kit folder in `dirs` that `load_kit` can play, sorted by name (first folder wins a name)."""
    found: dict[str, Path] = {}
    for d in dirs:
        for folder in sorted(d.iterdir()) if d.is_dir() else []:
            if folder.name not in found and load_kit(folder) is not None:
                found[folder.name] = folder
    return [found[name] for name in sorted(found)]


def kit_digest(folder: Path) -> str:
    """Content hash of a kit folder (drumkit.xml and every sample): part of a render key."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def draw_groove(seed: int, key: str, kits: Sequence[str], share: float) -> Groove | None:
    """The drums of track `key` in a library built with `seed`: None for the (1 - share) of works without."""
    if not kits:
        return None
    digest = hashlib.sha256(f"ladle-drums:{seed}:{key}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    if rng.uniform() >= share:
        return None
    return Groove(
        kit=str(kits[int(rng.integers(0, len(kits)))]),
        pattern=PATTERNS[int(rng.integers(0, len(PATTERNS)))],
        level_db=round(float(rng.uniform(-10, -2)), 2),
        hat_eighths=bool(rng.uniform() < 0.6),
        crash_every_bars=int(rng.choice([4, 8, 16])),
        seed=int(rng.integers(0, 2**31)),
    )


def _read_sample(path: str) -> np.ndarray:
    """(2, T) float32 at SAMPLE_RATE."""
    import soundfile as sf
    import soxr

    audio, rate = sf.read(path, dtype="float32", always_2d=True)  # (T, C)
    if rate != SAMPLE_RATE:
        audio = soxr.resample(audio, rate, SAMPLE_RATE).astype(np.float32)
    return np.ascontiguousarray((audio if audio.shape[1] >= 2 else np.repeat(audio, 2, axis=1))[:, :2].T)


def hits(groove: Groove, beats_per_bar: int, bars: int) -> list[tuple[str, float]]:
    """(role, beat) of every hit in `bars` bars, beats counted from the first downbeat."""
    out = []
    for bar in range(bars):
        start = bar * beats_per_bar
        for beat in range(beats_per_bar):
            t = start + beat
            if groove.pattern == "backbeat":
                out.append(("kick" if beat % 2 == 0 else "snare", t))
            elif groove.pattern == "half" and beat in (0, beats_per_bar // 2):
                out.append(("kick" if beat == 0 else "snare", t))
            elif groove.pattern == "sparse" and beat == 0:
                out.append(("kick", t))
            out.append(("hat", t))
            if groove.hat_eighths:
                out.append(("hat", t + 0.5))
        if bar % groove.crash_every_bars == 0:
            out.append(("cymbal", start))
    return out


def render_groove(
    groove: Groove, kit: Kit, qpm: float, beats_per_bar: int, pickup_quarters: float, period_s: float,
    duration_s: float,
) -> np.ndarray:  # fmt: skip
    """(2, T) float32: the groove on the score's beat (a quarter note), bar by bar from the first full bar,
    starting again with every pass of a piece looped every `period_s`."""
    n = round(duration_s * SAMPLE_RATE)
    out = np.zeros((2, n), dtype=np.float32)
    rng = np.random.default_rng(groove.seed)
    cache: dict[str, np.ndarray] = {}
    beat_s = 60.0 / qpm
    first_bar_s = pickup_quarters * beat_s
    bars = max(1, math.ceil((period_s - first_bar_s) / (beat_s * beats_per_bar)))
    pattern = hits(groove, beats_per_bar, bars)
    for k in range(max(1, math.ceil(duration_s / period_s))):
        for role, beat in pattern:
            t = k * period_s + first_bar_s + beat * beat_s
            if role not in kit.layers or t >= min(duration_s, (k + 1) * period_s):
                continue
            velocity = float(np.clip(rng.normal(0.8 if role != "hat" else 0.6, 0.1), 0.05, 1.0))
            layers = kit.layers[role]
            layer = next((la for la in layers if la.min_velocity <= velocity <= la.max_velocity), layers[-1])
            sample = cache.get(layer.path)
            if sample is None:
                sample = cache[layer.path] = _read_sample(layer.path)
            at = round(t * SAMPLE_RATE)
            length = min(sample.shape[1], n - at)
            out[:, at : at + length] += velocity * sample[:, :length]
    return out


def mix_drums(music: np.ndarray, drums: np.ndarray, level_db: float) -> np.ndarray:
    """`music` plus `drums` at `level_db` of the music's RMS (both (2, T)); the music alone if the drums are silent."""
    drums_rms = float(np.sqrt(np.mean(drums.astype(np.float64) ** 2)))
    if drums_rms == 0.0:
        return music
    music_rms = float(np.sqrt(np.mean(music.astype(np.float64) ** 2)))
    return (music + drums * np.float32(music_rms / drums_rms * 10 ** (level_db / 20))).astype(np.float32)
