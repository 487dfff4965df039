"""A training library: N works of the music21 corpus, each played its own way, through every SoundFont given.

    result = write_library("library", n_pieces=60, seed=0, progress=True)   # `ladle demo-corpus library --pieces 60`
    result.paths, result.audio_seconds, result.skipped                     # skipped: [(work id, reason)]

The corpus that ships inside music21 holds about 3,000 works (chorales, quartets, piano pieces, rags,
masses, folk tunes, …). They are taken in an order drawn from `seed`, one composer (top-level corpus
folder) at a time in turn, so a few dozen pieces already span many styles instead of the 1,300
Palestrina movements that dominate the corpus. Each work gets its own General MIDI programs, stereo
positions, tempo and velocities, and its own production chain (room, bus compression, EQ, stereo width,
level: storage/sources/production.py), drawn from generators seeded by (seed, work), so a work sounds the same
in every library built with that seed whatever else is in it, and `--pieces 60` is a prefix of
`--pieces 600`. A work that fails to parse or render is skipped with its reason, and the next work in the
order takes its place: the selection is the first N works that render, the same on every run.

Layout: `out_dir/{SoundFont stem}/{corpus folder}/{work}.flac` (44.1 kHz/16-bit stereo FLAC, tagged), plus
`out_dir/library.json` (the parameters, the works and what was skipped). Every render of a work carries
the album "LadLe library: {work id}", so `build-corpus --group-by-album` keeps all renders of a work in
one split and held-out pieces stay unheard. Files whose LADLE_RENDER_KEY tag matches are not rendered again.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import importlib.metadata
import json
import logging
import multiprocessing
import os
import re
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from storage.atomic import write_json_atomic
from storage.sources.midi_render import (
    MELODIC_CHANNELS,
    SAMPLE_RATE,
    Voice,
    bundled_soundfont,
    midi_events,
    parse_work,
    prepare_score,
    read_render_key,
    render_events,
    safe_name,
    score_to_midi,
    tinysoundfont_version,
    write_flac,
)
from storage.sources.production import Production, apply_production, draw_production

LIBRARY_RENDERER_VERSION = 2  # bump when rendering changes in a way the render key cannot see
SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".abc")  # scores; .rntxt (Roman-numeral analyses) is not music
# GM1 programs drawn from: pianos, chromatic percussion, organs, guitars, basses, strings, ensembles, brass,
# reeds, pipes (0-79) and "ethnic" instruments (104-111); synth pads, effects and percussion sets are left out.
PROGRAMS = tuple(range(0, 80)) + tuple(range(104, 112))
PAN_SPREAD = 40  # pans within ±40 of centre: parts apart, none hard-panned
TEMPO_FACTORS = (0.8, 1.25)  # × the score's own tempo (or DEFAULT_QPM), drawn log-uniformly
VELOCITY_SCALES = (0.55, 1.15)  # × each part's note-on velocities, drawn per part
DEFAULT_QPM = 100.0  # when the encoding has no metronome mark
QPM_RANGE = (40.0, 208.0)  # a metronome's range
LIBRARY_JSON = "library.json"

logger = logging.getLogger(__name__)


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


@dataclass
class LibraryResult:
    paths: list[Path] = field(default_factory=list)  # every file of the library, work by work
    works: list[str] = field(default_factory=list)  # the work ids chosen, in order
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (work id, reason), in order
    audio_seconds: float = 0.0  # over all files
    n_rendered: int = 0  # works rendered by this call (the rest were already there)


def list_works() -> list[Work]:
    """Every score file of music21's core corpus, sorted by work id."""
    from music21 import common, corpus

    root = Path(common.getCorpusFilePath())
    works = []
    for path in sorted(corpus.corpora.CoreCorpus().getPaths()):
        path = Path(path)
        if path.suffix.lower() not in SUFFIXES:
            continue
        number = None
        if path.suffix.lower() == ".abc":
            tunes = re.findall(rb"^X:\s*(\d+)", path.read_bytes(), re.MULTILINE)
            # A file of many tunes would otherwise be parsed whole (minutes for Essen's 500-song files).
            number = int(tunes[0]) if len(tunes) > 1 else None
        works.append(Work(path.relative_to(root).as_posix(), str(path), number))
    return sorted(works, key=lambda w: w.work_id)


def order_works(works: Sequence[Work], seed: int) -> list[Work]:
    """All works in a seeded order that takes one composer (top-level folder) at a time, in turn."""
    rng = np.random.default_rng(seed)
    groups: dict[str, list[Work]] = {}
    for work in sorted(works, key=lambda w: w.work_id):
        groups.setdefault(work.work_id.split("/")[0], []).append(work)
    names = sorted(groups)
    queues = [[groups[name][i] for i in rng.permutation(len(groups[name]))] for name in names]
    queues = [queues[i] for i in rng.permutation(len(queues))]
    ordered, depth = [], 0
    while len(ordered) < len(works):
        ordered += [queue[depth] for queue in queues if depth < len(queue)]
        depth += 1
    return ordered


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


def _file_stems(works: Sequence[Work]) -> dict[str, str]:
    """work id → file path under a SoundFont's folder: "bach/bwv269", "beethoven/opus18no1 - movement1"."""

    def stem(work_id: str, keep_suffix: bool) -> str:
        folder, *rest = Path(work_id).parts
        name = " - ".join(rest) if keep_suffix else " - ".join(rest)[: -len(Path(work_id).suffix) or None]
        return f"{safe_name(folder)}/{safe_name(name)}"

    plain = [stem(w.work_id, False) for w in works]
    clashes = {s for s in plain if plain.count(s) > 1}
    return {w.work_id: (s if s not in clashes else stem(w.work_id, True)) for w, s in zip(works, plain)}


def _render_key(
    work: Work, variation: Variation, production: Production | None, max_seconds: float, min_seconds: float,
    soundfont_sha256: str,
) -> str:  # fmt: skip
    inputs = {
        "renderer_version": LIBRARY_RENDERER_VERSION,
        "work": work.work_id,
        "number": work.number,
        "variation": asdict(variation),
        "production": asdict(production) if production is not None else None,
        "max_seconds": float(max_seconds),
        "min_seconds": float(min_seconds),
        "soundfont_sha256": soundfont_sha256,
        "music21": importlib.metadata.version("music21"),
        "tinysoundfont": tinysoundfont_version(),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


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
    return ScorePlan(score_to_midi(score, len(voices)), tuple(voices), tuple(scales), qpm, title, composer)


def render_plan(
    plan: ScorePlan, soundfont_bytes: bytes, max_seconds: float, min_seconds: float
) -> tuple[np.ndarray, float]:
    """(2, T) float32 audio of `plan` through one SoundFont, and its duration in seconds."""
    events, duration_s = midi_events(plan.midi, max_seconds, min_seconds)
    return render_events(events, plan.voices, soundfont_bytes, duration_s, plan.velocity_scales), duration_s


def render_work(
    work: Work, variation: Variation, production: Production | None, soundfonts: Sequence[str],
    out_paths: Sequence[str], keys: Sequence[str], max_seconds: float, min_seconds: float,
) -> float:  # fmt: skip
    """Render one work through each SoundFont into its out path (atomically), through `production`'s chain
    when given; return seconds per file.

    Runs in a worker process. Every SoundFont is rendered before anything is written, so a work that
    fails leaves no file behind.
    """
    plan = score_plan(work, variation, max_seconds)
    rendered = [render_plan(plan, Path(sf2).read_bytes(), max_seconds, min_seconds) for sf2 in soundfonts]
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
        if production is not None:
            tags["LADLE_PRODUCTION"] = json.dumps(asdict(production), sort_keys=True)
        write_flac(Path(out), audio, tags)
    return rendered[0][1]


def _reason(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip().splitlines()[0]
    return text[:300]


def write_library(
    out_dir: str | Path,
    n_pieces: int,
    soundfonts: Sequence[str | Path] | None = None,
    seed: int = 0,
    max_seconds: float = 40.0,
    min_seconds: float = 20.0,
    workers: int | None = None,
    progress: bool = False,
    production: bool = True,
) -> LibraryResult:
    """Render the first `n_pieces` works (in the order `seed` draws) that render, through every SoundFont.

    With no SoundFonts, TimGM6mb (shipped by pretty_midi) is used. Pieces shorter than `min_seconds` are
    looped, longer ones cut at `max_seconds`. Each work goes through its own production chain
    (storage/sources/production.py, drawn from (seed, work)) unless `production` is False. `workers` processes render in parallel (default: one per
    CPU); the output does not depend on their number. Fewer than `n_pieces` works only if the corpus
    runs out, which the result and library.json show.
    """
    if n_pieces < 1:
        raise ValueError(f"n_pieces must be at least 1, got {n_pieces}")
    if not 0 < min_seconds <= max_seconds:
        raise ValueError(f"need 0 < min_seconds <= max_seconds, got {min_seconds}, {max_seconds}")
    tinysoundfont_version()  # RendererMissing before any progress bar or file
    paths = [Path(p) for p in (soundfonts or [bundled_soundfont()])]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"SoundFont not found: {path}")
    if len({p.stem for p in paths}) != len(paths):
        raise ValueError("two SoundFonts share a file name; their folders in the library would clash")
    sha = [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    out_dir = Path(out_dir)
    works = order_works(list_works(), seed)
    stems = _file_stems(works)

    def plan(work: Work) -> tuple[Variation, Production | None, list[str], list[str]]:
        variation = draw_variation(seed, work.work_id)
        chain = draw_production(seed, work.work_id) if production else None
        outs = [str(out_dir / safe_name(p.stem) / f"{stems[work.work_id]}.flac") for p in paths]
        keys = [_render_key(work, variation, chain, max_seconds, min_seconds, s) for s in sha]
        return variation, chain, outs, keys

    result = LibraryResult()
    done: dict[int, float] = {}  # position in `works` → seconds per file
    failed: dict[int, str] = {}
    cursor = 0
    bar = tqdm(total=n_pieces, desc="library", unit="piece", disable=not progress)
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no inherited threads or locks
    with cf.ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1, mp_context=context) as pool:
        running: dict[cf.Future, int] = {}
        while True:
            # Submit only while the works running could still fall short of n_pieces: the works tried are
            # then always the shortest prefix of the order that holds n_pieces that render.
            while len(done) + len(running) < n_pieces and cursor < len(works):
                work = works[cursor]
                variation, chain, outs, keys = plan(work)
                if all(read_render_key(Path(o)) == k for o, k in zip(outs, keys)):
                    done[cursor] = sf.info(outs[0]).duration
                    bar.update(1)
                else:
                    job = pool.submit(render_work, work, variation, chain, [str(p) for p in paths], outs, keys,
                                      max_seconds, min_seconds)  # fmt: skip
                    running[job] = cursor
                cursor += 1
            if not running:
                break
            finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for job in finished:
                position = running.pop(job)
                try:
                    done[position] = job.result()
                    result.n_rendered += 1
                    bar.update(1)
                except BrokenProcessPool:
                    raise
                except Exception as e:  # a work music21 or the synth cannot handle: the next one replaces it
                    failed[position] = _reason(e)
                    logger.warning("library: skipped %s: %s", works[position].work_id, failed[position])
                    bar.set_postfix(skipped=len(failed))
    bar.close()

    pieces = []
    for position in sorted(done):
        work = works[position]
        variation, chain, outs, keys = plan(work)
        result.works.append(work.work_id)
        result.paths += [Path(o) for o in outs]
        result.audio_seconds += done[position] * len(outs)
        pieces.append({"work": work.work_id, "number": work.number, "files": [str(Path(o).relative_to(out_dir))
                       for o in outs], "seconds": round(done[position], 3), "variation": asdict(variation),
                       "production": asdict(chain) if chain is not None else None})  # fmt: skip
    result.skipped = [(works[p].work_id, failed[p]) for p in sorted(failed)]
    write_json_atomic(out_dir / LIBRARY_JSON, {
        "seed": seed, "n_pieces": n_pieces, "max_seconds": max_seconds, "min_seconds": min_seconds,
        "soundfonts": [{"name": p.name, "sha256": s} for p, s in zip(paths, sha)],
        "renderer_version": LIBRARY_RENDERER_VERSION, "production": production, "pieces": pieces,
        "skipped": [{"work": w, "reason": r} for w, r in result.skipped],
    })  # fmt: skip
    return result
