"""How one work of the training library sounds: its variation (instruments, pans, tempo, velocities), its
score plan (MIDI plus how to play it), and its render through SoundFonts, drums and a production chain.

    variation = draw_variation(seed=0, work_id="bach/bwv269.mxl")
    plan = score_plan(work, variation, max_seconds=40.0)                 # music21 makes it
    audio, duration_s = render_plan(plan, soundfont_bytes, 40.0, 20.0)    # tinysoundfont alone plays it

`storage.sources.library` picks the works and renders them in parallel with `render_work`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from storage.sources.drums import Groove, load_kit, mix_drums, render_groove
from storage.sources.midi_render import (
    MELODIC_CHANNELS,
    PEAK_DBFS,
    SAMPLE_RATE,
    Voice,
    midi_events,
    midi_period_s,
    parse_work,
    prepare_score,
    render_events,
    score_to_midi,
    write_flac,
)
from storage.sources.production import Production, apply_production

# GM1 programs drawn from: pianos, chromatic percussion, organs, guitars, basses, strings, ensembles, brass,
# reeds, pipes (0-79) and "ethnic" instruments (104-111); synth pads, effects and percussion sets are left out.
PROGRAMS = tuple(range(0, 80)) + tuple(range(104, 112))
PAN_SPREAD = 40  # pans within ±40 of centre: parts apart, none hard-panned
TEMPO_FACTORS = (0.8, 1.25)  # × the score's own tempo (or DEFAULT_QPM), drawn log-uniformly
VELOCITY_SCALES = (0.55, 1.15)  # × each part's note-on velocities, drawn per part
DEFAULT_QPM = 100.0  # when the encoding has no metronome mark
QPM_RANGE = (40.0, 208.0)  # a metronome's range


@dataclass(frozen=True)
class Work:
    work_id: str  # path under music21's corpus folder, e.g. "bach/bwv269.mxl"
    path: str  # absolute path on this machine (not part of any key)
    number: int | None = None  # the first tune (ABC "X:") of a file that holds several


@dataclass(frozen=True)
class Variation:
    """How one work is played; one entry per possible part (MIDI allows 15 melodic channels)."""

    programs: tuple[int, ...]
    pans: tuple[int, ...]
    velocity_scales: tuple[float, ...]
    tempo_factor: float
    octave_program: int  # a one-part work is doubled an octave lower on this program (a duo, in stereo)


def draw_variation(seed: int, work_id: str) -> Variation:
    """The way `work_id` is played in a library built with `seed` (independent of the other works)."""
    digest = hashlib.sha256(f"ladle-library:{seed}:{work_id}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    n = len(MELODIC_CHANNELS)
    programs = tuple(int(PROGRAMS[i]) for i in rng.integers(0, len(PROGRAMS), n))
    pans = tuple(int(p) for p in rng.integers(64 - PAN_SPREAD, 64 + PAN_SPREAD + 1, n))
    velocity = tuple(round(float(v), 3) for v in rng.uniform(*VELOCITY_SCALES, n))
    tempo = round(float(np.exp(rng.uniform(*np.log(TEMPO_FACTORS)))), 3)
    octave = int(PROGRAMS[rng.integers(0, len(PROGRAMS))])
    return Variation(programs, pans, velocity, tempo, octave)


def _score_qpm(score) -> float | None:
    from music21 import tempo

    for mark in score.recurse().getElementsByClass(tempo.MetronomeMark):
        qpm = mark.getQuarterBPM()
        if qpm:
            return float(qpm)
    return None


@dataclass(frozen=True)
class ScorePlan:
    """What a work becomes before any sound: its MIDI and how each part is played. music21 makes it;
    `midi_events` and `render_events` play it with tinysoundfont alone."""

    midi: bytes  # one track per voice (score_to_midi), at the variation's tempo
    voices: tuple[Voice, ...]
    velocity_scales: tuple[float, ...]
    qpm: float
    title: str | None
    composer: str | None
    beats_per_bar: int = 4  # quarter notes in a bar (6/8 counts 3): where a drum groove's bars fall
    downbeat_quarters: float = 0.0  # the first full bar's start: a pickup's length, else 0


def _meter(score) -> tuple[int, float]:
    """(quarter notes per bar, quarter notes before the first full bar) of a prepared score."""
    from music21 import stream

    first = score.parts[0].getElementsByClass(stream.Measure).first()
    bar_quarters = float(first.barDuration.quarterLength)
    played = float(first.duration.quarterLength)
    pickup = played if 0 < played < bar_quarters else 0.0
    return max(1, round(bar_quarters)), pickup


def score_plan(work: Work, variation: Variation, max_seconds: float) -> ScorePlan:
    """Parse `work` and apply `variation`: tempo, GM programs, pans and velocities (a one-part work doubled
    an octave lower). ValueError for a work with no parts or more than the melodic channels."""
    score = parse_work(work.path, work.number)
    n_parts = len(score.parts)
    if n_parts == 0:
        raise ValueError("no parts")
    if n_parts > len(MELODIC_CHANNELS):
        raise ValueError(f"{n_parts} parts: more than the {len(MELODIC_CHANNELS)} melodic MIDI channels")
    qpm = float(np.clip((_score_qpm(score) or DEFAULT_QPM) * variation.tempo_factor, *QPM_RANGE))
    qpm = round(qpm, 2)
    meta = score.metadata
    title = (meta.title or meta.movementName) if meta is not None else None
    composer = meta.composer if meta is not None else None
    score = prepare_score(score, qpm, max_seconds, octave_below=n_parts == 1)
    voices = [Voice(variation.programs[k], variation.pans[k]) for k in range(n_parts)]
    scales = list(variation.velocity_scales[:n_parts])
    if n_parts == 1:
        voices.append(Voice(variation.octave_program, 128 - variation.pans[0]))  # the other side of the stage
        scales.append(variation.velocity_scales[1])
    beats_per_bar, downbeat = _meter(score)
    midi = score_to_midi(score, len(voices))
    return ScorePlan(midi, tuple(voices), tuple(scales), qpm, title, composer, beats_per_bar, downbeat)


def render_plan(
    plan: ScorePlan, soundfont_bytes: bytes, max_seconds: float, min_seconds: float
) -> tuple[np.ndarray, float]:
    """(2, T) float32 audio of `plan` through one SoundFont, and its duration in seconds."""
    events, duration_s = midi_events(plan.midi, max_seconds, min_seconds)
    return render_events(events, plan.voices, soundfont_bytes, duration_s, plan.velocity_scales), duration_s


def add_drums(audio: np.ndarray, plan: ScorePlan, groove: Groove, kit_folder: str, duration_s: float) -> np.ndarray:
    """`audio` with `groove` played on the plan's beat through the kit in `kit_folder`, peak at PEAK_DBFS."""
    kit = load_kit(Path(kit_folder))
    if kit is None:
        raise ValueError(f"drum kit {kit_folder} has no kick, snare and closed hi-hat")
    period_s = midi_period_s(plan.midi)
    drums = render_groove(groove, kit, plan.qpm, plan.beats_per_bar, plan.downbeat_quarters, period_s, duration_s)
    mixed = mix_drums(audio, drums, groove.level_db)
    return mixed * np.float32(10 ** (PEAK_DBFS / 20) / float(np.abs(mixed).max()))


def render_work(
    work: Work, variation: Variation, production: Production | None, soundfonts: Sequence[str],
    out_paths: Sequence[str], keys: Sequence[str], max_seconds: float, min_seconds: float,
    groove: Groove | None = None, kit_folder: str | None = None,
) -> float:  # fmt: skip
    """Render one work through each SoundFont into its out path (atomically), with `groove`'s drums and
    through `production`'s chain when given; return seconds per file.

    Runs in a worker process. Every SoundFont is rendered before anything is written, so a work that
    fails leaves no file behind.
    """
    plan = score_plan(work, variation, max_seconds)
    rendered = [render_plan(plan, Path(sf2).read_bytes(), max_seconds, min_seconds) for sf2 in soundfonts]
    if groove is not None:
        rendered = [(add_drums(audio, plan, groove, kit_folder, seconds), seconds) for audio, seconds in rendered]
    if production is not None:
        rendered = [(apply_production(audio, SAMPLE_RATE, production), seconds) for audio, seconds in rendered]
    for (audio, _duration_s), sf2, out, key in zip(rendered, soundfonts, out_paths, keys):
        tags = {
            "ARTIST": plan.composer or work.work_id.split("/")[0],
            "ALBUM": f"LadLe library: {work.work_id}",
            "TITLE": plan.title or Path(work.work_id).stem,
            "COMMENT": f"music21 corpus {work.work_id} at {plan.qpm:g} qpm, GM programs "
                       f"{','.join(str(v.program) for v in plan.voices)}, rendered with {Path(sf2).name} by LadLe",
            "LADLE_RENDER_KEY": key,
        }  # fmt: skip
        if plan.composer:
            tags["COMPOSER"] = plan.composer
        if groove is not None:
            tags["LADLE_DRUMS"] = json.dumps(asdict(groove), sort_keys=True)
        if production is not None:
            tags["LADLE_PRODUCTION"] = json.dumps(asdict(production), sort_keys=True)
        write_flac(Path(out), audio, tags)
    return rendered[0][1]
