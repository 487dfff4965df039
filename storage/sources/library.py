"""A training library: N works of the music21 corpus, each played its own way, through every SoundFont given.

    result = write_library("library", n_pieces=60, seed=0, progress=True)   # `ladle demo-corpus library --pieces 60`
    result.paths, result.audio_seconds, result.skipped                     # skipped: [(work id, reason)]

The corpus that ships inside music21 holds about 3,000 works (chorales, quartets, piano pieces, rags,
masses, folk tunes, …). They are taken in an order drawn from `seed`, one composer (top-level corpus
folder) at a time in turn, so a few dozen pieces already span many styles instead of the 1,300
Palestrina movements that dominate the corpus. Each work gets its own General MIDI programs, stereo
positions, tempo and velocities, its own production chain (room, bus compression, EQ, stereo width, level:
storage/sources/production.py) and, given drum kits, maybe drums (storage/sources/drums.py), drawn from
generators seeded by (seed, work), so a work sounds the same in every library built with that seed
whatever else is in it, and `--pieces 60` is a prefix of `--pieces 600`. A work that fails to parse or render is skipped with its reason, and the next work in the
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
from storage.sources.drums import Groove, draw_groove, kit_digest, load_kit
from storage.sources.midi_render import (
    bundled_soundfont,
    read_render_key,
    safe_name,
    tinysoundfont_version,
)
from storage.sources.production import Production, draw_production
from storage.sources.work_render import (  # noqa: F401  (ScorePlan, score_plan, render_plan: callers ask this module)
    ScorePlan,
    Variation,
    Work,
    draw_variation,
    render_plan,
    render_work,
    score_plan,
)

LIBRARY_RENDERER_VERSION = 2  # bump when rendering changes in a way the render key cannot see
SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".abc")  # scores; .rntxt (Roman-numeral analyses) is not music
LIBRARY_JSON = "library.json"

logger = logging.getLogger(__name__)


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
    soundfont_sha256: str, drums: dict | None = None,
) -> str:  # fmt: skip
    inputs = {
        "drums": drums,  # the groove and its kit's content hash
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
    drumkits: Sequence[str | Path] = (),
    drum_share: float = 0.5,
) -> LibraryResult:
    """Render the first `n_pieces` works (in the order `seed` draws) that render, through every SoundFont.

    With no SoundFonts, TimGM6mb (shipped by pretty_midi) is used. Pieces shorter than `min_seconds` are
    looped, longer ones cut at `max_seconds`. Each work goes through its own production chain
    (storage/sources/production.py, drawn from (seed, work)) unless `production` is False; with
    `drumkits` (Hydrogen kit folders), `drum_share` of the works get drums (storage/sources/drums.py). `workers` processes render in parallel (default: one per
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
    kits = {Path(k).name: Path(k) for k in drumkits}
    for folder in kits.values():
        if load_kit(folder) is None:
            raise ValueError(f"not a playable drum kit (drumkit.xml with a kick, snare and closed hi-hat): {folder}")
    kit_sha = {name: kit_digest(folder) for name, folder in kits.items()}
    out_dir = Path(out_dir)
    works = order_works(list_works(), seed)
    stems = _file_stems(works)

    def plan(work: Work) -> tuple[Variation, Production | None, Groove | None, list[str], list[str]]:
        variation = draw_variation(seed, work.work_id)
        chain = draw_production(seed, work.work_id) if production else None
        groove = draw_groove(seed, work.work_id, sorted(kits), drum_share)
        drums = {"groove": asdict(groove), "kit_sha256": kit_sha[groove.kit]} if groove is not None else None
        outs = [str(out_dir / safe_name(p.stem) / f"{stems[work.work_id]}.flac") for p in paths]
        keys = [_render_key(work, variation, chain, max_seconds, min_seconds, s, drums) for s in sha]
        return variation, chain, groove, outs, keys

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
                variation, chain, groove, outs, keys = plan(work)
                if all(read_render_key(Path(o)) == k for o, k in zip(outs, keys)):
                    done[cursor] = sf.info(outs[0]).duration
                    bar.update(1)
                else:
                    kit_folder = str(kits[groove.kit]) if groove is not None else None
                    job = pool.submit(render_work, work, variation, chain, [str(p) for p in paths], outs, keys,
                                      max_seconds, min_seconds, groove, kit_folder)  # fmt: skip
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
        variation, chain, groove, outs, keys = plan(work)
        result.works.append(work.work_id)
        result.paths += [Path(o) for o in outs]
        result.audio_seconds += done[position] * len(outs)
        pieces.append({"work": work.work_id, "number": work.number, "files": [str(Path(o).relative_to(out_dir))
                       for o in outs], "seconds": round(done[position], 3), "variation": asdict(variation),
                       "production": asdict(chain) if chain is not None else None,
                       "drums": asdict(groove) if groove is not None else None})  # fmt: skip
    result.skipped = [(works[p].work_id, failed[p]) for p in sorted(failed)]
    write_json_atomic(out_dir / LIBRARY_JSON, {
        "seed": seed, "n_pieces": n_pieces, "max_seconds": max_seconds, "min_seconds": min_seconds,
        "soundfonts": [{"name": p.name, "sha256": s} for p, s in zip(paths, sha)],
        "renderer_version": LIBRARY_RENDERER_VERSION, "production": production,
        "drumkits": [{"name": n, "sha256": kit_sha[n]} for n in sorted(kits)], "pieces": pieces,
        "skipped": [{"work": w, "reason": r} for w, r in result.skipped],
    })  # fmt: skip
    return result
