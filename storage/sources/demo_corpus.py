"""Demo corpus: a small library of real music made offline, so `make demo` and smoke runs need no downloads.

Public-domain scores from the corpus that ships inside music21 are rendered through a General MIDI
SoundFont with TinySoundFont and written as tagged FLAC (44.1 kHz, 16-bit, stereo), laid out like a
ripped CD library:

    out_dir/LadLe demo - Keyboard/02 - Maple Leaf Rag.flac

    from storage.sources.demo_corpus import write_demo_corpus
    paths = write_demo_corpus("demo/library", n_tracks=10, progress=True)

Every track is pinned to a split by its `LADLE_SPLIT` tag (storage/ingest.py), so the demo's splits are
the same on every machine: a track id is a hash of the rendered audio, which changes with the SoundFont
and package versions, and a hashed split of ten tracks may leave the test or val split empty. Maple
Leaf Rag is the held-out test track (never trained or calibrated on), the String Quartet K. 458 the val
track the fill gains are calibrated on, and every other piece trains; any first N >= 3 pieces hold all three.

Each track is re-rendered only when its render key (piece, durations, SoundFont content, package
versions) differs from the one stored in its tags, so a second `make demo` costs a few milliseconds a
track. The same call with the same package versions and SoundFont gives bit-identical PCM: nothing is
random, and every track is rendered by a fresh synthesizer so tracks do not depend on each other.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from mutagen.flac import FLAC
from tqdm import tqdm

from storage.sources.midi_render import (
    PEAK_DBFS,
    SAMPLE_RATE,
    Voice,
    parse_work,
    prepare_score,
    render_events,
    resolve_soundfont,
    safe_name,
    score_events,
    tinysoundfont_version,
    write_flac,
)

# Bump when rendering changes in a way the render key cannot see (it sees pieces, durations, SoundFont and
# package versions); old files are then re-rendered instead of being skipped.
RENDERER_VERSION = 1

__all__ = [
    "DEMO_PIECES",
    "PEAK_DBFS",
    "SAMPLE_RATE",
    "DemoPiece",
    "Voice",
    "demo_track_path",
    "render_piece",
    "resolve_soundfont",
    "write_demo_corpus",
]


@dataclass(frozen=True)
class DemoPiece:
    """One demo track: which score, how to play it, and the tags it gets."""

    corpus_path: str  # for music21.corpus.parse
    title: str
    composer: str
    album: str
    track_number: int  # within its album
    qpm: float  # quarter notes per minute; replaces the encoding's tempo marks, which are often missing
    voices: tuple[Voice, ...]  # one per score part, in score order
    # A copy of the first part an octave lower on another instrument: turns a one-line tune into a duo,
    # so it has two instruments at two stereo positions instead of one panned mono line.
    octave_below: Voice | None = None
    year: int | None = None  # composition or first publication, where well documented
    split: str = "train"  # written as its LADLE_SPLIT tag: the split ingest puts it in


def _v(*pairs: tuple[int, int]) -> tuple[Voice, ...]:
    return tuple(Voice(program, pan) for program, pan in pairs)


# GM programs used (0-based, GM1 sound set): 0 Acoustic Grand Piano, 6 Harpsichord, 19 Church Organ,
# 21 Accordion, 40 Violin, 41 Viola, 42 Cello, 45 Pizzicato Strings, 52 Choir Aahs, 53 Voice Oohs,
# 56 Trumpet, 57 Trombone, 58 Tuba, 68 Oboe, 70 Bassoon, 71 Clarinet, 73 Flute, 110 Fiddle.
# Pans stay within ±24 of centre ("slight"): parts sit apart as in a small ensemble on a stage; piano and
# harpsichord staves are placed from the player's seat (bass left, treble right).
# Albums are chronological; the list order below is the render order, interleaved so that the first few
# tracks (what a small n_tracks renders) already span several instruments and albums.
CHORALES = "LadLe demo: Bach chorales"
KEYBOARD = "LadLe demo: Keyboard"
CHAMBER = "LadLe demo: Chamber music"
SONGS = "LadLe demo: Songs and arias"
FOLK = "LadLe demo: Folk tunes"

DEMO_PIECES: tuple[DemoPiece, ...] = (
    DemoPiece(
        "bach/bwv269",
        "Aus meines Herzens Grunde, BWV 269",
        "Johann Sebastian Bach",
        CHORALES,
        1,
        qpm=72,
        voices=_v((19, 44), (19, 56), (19, 72), (19, 84)),
    ),
    DemoPiece(
        "joplin/maple_leaf_rag",
        "Maple Leaf Rag",
        "Scott Joplin",
        KEYBOARD,
        2,
        qpm=100,
        voices=_v((0, 72), (0, 56)),
        year=1899,
        split="test",
    ),
    DemoPiece(
        "mozart/k458/movement1",
        "String Quartet in B-flat major, K. 458 “The Hunt”: I. Allegro vivace assai",
        "Wolfgang Amadeus Mozart",
        CHAMBER,
        2,
        qpm=150,
        voices=_v((40, 42), (40, 54), (41, 74), (42, 86)),
        year=1784,
        split="val",
    ),
    DemoPiece(
        "schumann_robert/dichterliebe_no2",
        "Dichterliebe, Op. 48: No. 2, Aus meinen Tränen sprießen",
        "Robert Schumann",
        SONGS,
        2,
        qpm=60,
        voices=_v((42, 50), (0, 76), (0, 68)),
        year=1840,
    ),
    DemoPiece(
        "ryansMammoth/FishersHornpipe",
        "Fisher's Hornpipe",
        "Traditional",
        FOLK,
        1,
        qpm=100,
        voices=_v((110, 48)),
        octave_below=Voice(21, 80),
        year=1883,
    ),
    DemoPiece(
        "cpebach/h186",
        "Keyboard Sonata in A major, Wq. 55/4, H. 186: II. Poco adagio",
        "Carl Philipp Emanuel Bach",
        KEYBOARD,
        1,
        qpm=60,
        voices=_v((6, 76), (6, 52)),
        year=1779,
    ),
    DemoPiece(
        "corelli/opus3no1/1grave",
        "Sonata da chiesa in F major, Op. 3 No. 1: I. Grave",
        "Arcangelo Corelli",
        CHAMBER,
        1,
        qpm=60,
        voices=_v((40, 44), (40, 84), (19, 64)),
        year=1689,
    ),
    DemoPiece(
        "handel/rinaldo/Lascia_chio_pianga",
        "Rinaldo, HWV 7: Lascia ch'io pianga",
        "George Frideric Handel",
        SONGS,
        1,
        qpm=60,
        voices=_v((68, 56), (6, 76), (6, 64)),
        year=1711,
    ),
    DemoPiece(
        "haydn/opus74no1/movement1",
        "String Quartet in C major, Op. 74 No. 1: I. Allegro moderato (arr. wind quartet)",
        "Joseph Haydn",
        CHAMBER,
        3,
        qpm=120,
        voices=_v((73, 44), (68, 58), (71, 72), (70, 84)),
        year=1793,
    ),
    DemoPiece(
        "bach/bwv347",
        "Ich dank' dir, lieber Herre, BWV 347",
        "Johann Sebastian Bach",
        CHORALES,
        2,
        qpm=76,
        voices=_v((56, 46), (56, 58), (57, 70), (58, 82)),
    ),
    DemoPiece(
        "verdi/laDonnaEMobile",
        "Rigoletto: La donna è mobile",
        "Giuseppe Verdi",
        SONGS,
        3,
        qpm=132,
        voices=_v((71, 52), (45, 76)),
        year=1851,
    ),
    DemoPiece(
        "liliuokalani/aloha_oe",
        "Aloha ʻOe",
        "Liliʻuokalani",
        SONGS,
        4,
        qpm=80,
        voices=_v((52, 48), (52, 56), (52, 72), (52, 80), (53, 64), (0, 74), (0, 54)),
        year=1878,
    ),
)


def demo_track_path(out_dir: str | Path, piece: DemoPiece) -> Path:
    """out_dir/<album>/<NN - title>.flac, with names safe as single path components."""
    return Path(out_dir) / safe_name(piece.album) / f"{piece.track_number:02d} - {safe_name(piece.title)}.flac"


def _render_key(piece: DemoPiece, max_seconds: float, min_seconds: float, soundfont_sha256: str) -> str:
    """Content key of one rendered track: everything that decides its samples."""
    inputs = {
        "renderer_version": RENDERER_VERSION,
        "piece": {k: v for k, v in asdict(piece).items() if k != "split"},  # the split is a tag, not audio
        "max_seconds": float(max_seconds),
        "min_seconds": float(min_seconds),
        "sample_rate": SAMPLE_RATE,
        "soundfont_sha256": soundfont_sha256,
        "music21": importlib.metadata.version("music21"),
        "tinysoundfont": tinysoundfont_version(),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _expected_tags(piece: DemoPiece, render_key: str, soundfont_name: str) -> dict[str, str]:
    tags = {
        "ARTIST": piece.composer,
        "COMPOSER": piece.composer,
        "ALBUM": piece.album,
        "TITLE": piece.title,
        "TRACKNUMBER": str(piece.track_number),
        "GENRE": "Folk" if piece.album == FOLK else "Classical",
        "COMMENT": f"music21 corpus {piece.corpus_path}, rendered with {soundfont_name} by LadLe",
        "LADLE_RENDER_KEY": render_key,
        "LADLE_SPLIT": piece.split,
    }
    if piece.year is not None:
        tags["DATE"] = str(piece.year)
    return tags


def _has_tags(path: Path, tags: dict[str, str]) -> bool:
    try:
        flac = FLAC(path)
    except Exception:  # missing, truncated or not FLAC: render it again
        return False
    return all(flac.get(key) == [value] for key, value in tags.items())


def render_piece(
    piece: DemoPiece, soundfont: str | Path | None = None, max_seconds: float = 40.0, min_seconds: float = 20.0
) -> np.ndarray:
    """Render one piece to (2, T) float32 at SAMPLE_RATE: at most max_seconds, at least min_seconds
    (looped if shorter), faded out, peak at PEAK_DBFS."""
    score = parse_work(piece.corpus_path)
    if len(score.parts) != len(piece.voices):
        raise ValueError(f"{piece.corpus_path}: {len(score.parts)} parts but {len(piece.voices)} voices")
    score = prepare_score(score, piece.qpm, max_seconds, octave_below=piece.octave_below is not None)
    voices = piece.voices + ((piece.octave_below,) if piece.octave_below is not None else ())
    try:
        events, duration_s = score_events(score, len(voices), max_seconds, min_seconds)
        return render_events(events, voices, resolve_soundfont(soundfont).read_bytes(), duration_s)
    except (ValueError, RuntimeError) as e:
        raise type(e)(f"{piece.corpus_path}: {e}") from None


def write_demo_corpus(
    out_dir: str | Path,
    n_tracks: int = 10,
    max_seconds: float = 40.0,
    min_seconds: float = 20.0,
    soundfont: str | Path | None = None,
    progress: bool = False,
) -> list[Path]:
    """Write the first `n_tracks` of DEMO_PIECES as tagged 44.1 kHz/16-bit stereo FLAC under out_dir.

    Tracks whose file already carries the same tags (render key included) are left alone.
    Returns the track paths in DEMO_PIECES order.
    """
    if not 1 <= n_tracks <= len(DEMO_PIECES):
        raise ValueError(f"n_tracks must be in 1..{len(DEMO_PIECES)}, got {n_tracks}")
    if not 0 < min_seconds <= max_seconds:
        raise ValueError(f"need 0 < min_seconds <= max_seconds, got {min_seconds}, {max_seconds}")
    tinysoundfont_version()  # RendererMissing before any progress bar or file
    soundfont_path = resolve_soundfont(soundfont)
    soundfont_sha256 = hashlib.sha256(soundfont_path.read_bytes()).hexdigest()

    paths = []
    for piece in tqdm(DEMO_PIECES[:n_tracks], desc="demo corpus", unit="track", disable=not progress):
        path = demo_track_path(out_dir, piece)
        tags = _expected_tags(
            piece, _render_key(piece, max_seconds, min_seconds, soundfont_sha256), soundfont_path.name
        )
        paths.append(path)
        if _has_tags(path, tags):
            continue
        write_flac(path, render_piece(piece, soundfont_path, max_seconds, min_seconds), tags)
    return paths
