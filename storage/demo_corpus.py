"""Demo corpus: a small library of real music made offline, so `make demo` and smoke runs need no downloads.

Public-domain scores from the corpus that ships inside music21 are rendered through a General MIDI
SoundFont with TinySoundFont and written as tagged FLAC (44.1 kHz, 16-bit, stereo), laid out like a
ripped CD library:

    out_dir/LadLe demo - Keyboard/02 - Maple Leaf Rag.flac

    from storage.demo_corpus import write_demo_corpus
    paths = write_demo_corpus("demo/library", n_tracks=10, progress=True)

Each track is re-rendered only when its render key (piece, durations, SoundFont content, package
versions) differs from the one stored in its tags, so a second `make demo` costs a few milliseconds a
track. The same call with the same package versions and SoundFont gives bit-identical PCM: nothing is
random, and every track is rendered by a fresh synthesizer so tracks do not depend on each other.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import importlib.util
import json
import math
import re
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from mutagen.flac import FLAC
from tqdm import tqdm

from storage.atomic import atomic_path

SAMPLE_RATE = 44100  # CD audio (Red Book), what the lossless libraries this pipeline serves hold.
PEAK_DBFS = -1.0  # leave 1 dB of headroom: lossy decoders overshoot full-scale peaks (inter-sample peaks).
FADE_S = 0.5  # fade-out so a track trimmed mid-phrase ends without a click.
RELEASE_TAIL_S = 1.5  # after the last note-off, let the instruments' release ring out before the track ends.
# Bump when rendering changes in a way the render key cannot see (it sees pieces, durations, SoundFont and
# package versions); old files are then re-rendered instead of being skipped.
RENDERER_VERSION = 1

# Where distributions put FluidR3 (Debian/Ubuntu fluid-soundfont-gm, Fedora/Arch soundfont-fluid).
SYSTEM_SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
    Path("/usr/local/share/soundfonts/FluidR3_GM.sf2"),
)

# MIDI channel 10 (index 9) is the General MIDI percussion channel; parts never go there.
MELODIC_CHANNELS = tuple(c for c in range(16) if c != 9)


@dataclass(frozen=True)
class DemoVoice:
    """How one score part sounds: a General MIDI program and a stereo position."""

    program: int  # 0-based General MIDI Level 1 program (MMA GM1 sound set: 0 piano, 40 violin, 73 flute, …)
    pan: int  # MIDI CC 10: 0 hard left, 64 centre, 127 hard right


@dataclass(frozen=True)
class DemoPiece:
    """One demo track: which score, how to play it, and the tags it gets."""

    corpus_path: str  # for music21.corpus.parse
    title: str
    composer: str
    album: str
    track_number: int  # within its album
    qpm: float  # quarter notes per minute; replaces the encoding's tempo marks, which are often missing
    voices: tuple[DemoVoice, ...]  # one per score part, in score order
    # A copy of the first part an octave lower on another instrument: turns a one-line tune into a duo,
    # so it has two instruments at two stereo positions instead of one panned mono line.
    octave_below: DemoVoice | None = None
    year: int | None = None  # composition or first publication, where well documented


def _v(*pairs: tuple[int, int]) -> tuple[DemoVoice, ...]:
    return tuple(DemoVoice(program, pan) for program, pan in pairs)


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
    DemoPiece("bach/bwv269", "Aus meines Herzens Grunde, BWV 269", "Johann Sebastian Bach", CHORALES, 1,
              qpm=72, voices=_v((19, 44), (19, 56), (19, 72), (19, 84))),
    DemoPiece("joplin/maple_leaf_rag", "Maple Leaf Rag", "Scott Joplin", KEYBOARD, 2,
              qpm=100, voices=_v((0, 72), (0, 56)), year=1899),
    DemoPiece("mozart/k458/movement1",
              "String Quartet in B-flat major, K. 458 “The Hunt”: I. Allegro vivace assai",
              "Wolfgang Amadeus Mozart", CHAMBER, 2,
              qpm=150, voices=_v((40, 42), (40, 54), (41, 74), (42, 86)), year=1784),
    DemoPiece("schumann_robert/dichterliebe_no2", "Dichterliebe, Op. 48: No. 2, Aus meinen Tränen sprießen",
              "Robert Schumann", SONGS, 2,
              qpm=60, voices=_v((42, 50), (0, 76), (0, 68)), year=1840),
    DemoPiece("ryansMammoth/FishersHornpipe", "Fisher's Hornpipe", "Traditional", FOLK, 1,
              qpm=100, voices=_v((110, 48)), octave_below=DemoVoice(21, 80), year=1883),
    DemoPiece("cpebach/h186", "Keyboard Sonata in A major, Wq. 55/4, H. 186: II. Poco adagio",
              "Carl Philipp Emanuel Bach", KEYBOARD, 1,
              qpm=60, voices=_v((6, 76), (6, 52)), year=1779),
    DemoPiece("corelli/opus3no1/1grave", "Sonata da chiesa in F major, Op. 3 No. 1: I. Grave",
              "Arcangelo Corelli", CHAMBER, 1,
              qpm=60, voices=_v((40, 44), (40, 84), (19, 64)), year=1689),
    DemoPiece("handel/rinaldo/Lascia_chio_pianga", "Rinaldo, HWV 7: Lascia ch'io pianga",
              "George Frideric Handel", SONGS, 1,
              qpm=60, voices=_v((68, 56), (6, 76), (6, 64)), year=1711),
    DemoPiece("haydn/opus74no1/movement1",
              "String Quartet in C major, Op. 74 No. 1: I. Allegro moderato (arr. wind quartet)",
              "Joseph Haydn", CHAMBER, 3,
              qpm=120, voices=_v((73, 44), (68, 58), (71, 72), (70, 84)), year=1793),
    DemoPiece("bach/bwv347", "Ich dank' dir, lieber Herre, BWV 347", "Johann Sebastian Bach", CHORALES, 2,
              qpm=76, voices=_v((56, 46), (56, 58), (57, 70), (58, 82))),
    DemoPiece("verdi/laDonnaEMobile", "Rigoletto: La donna è mobile", "Giuseppe Verdi", SONGS, 3,
              qpm=132, voices=_v((71, 52), (45, 76)), year=1851),
    DemoPiece("liliuokalani/aloha_oe", "Aloha ʻOe", "Liliʻuokalani", SONGS, 4,
              qpm=80, voices=_v((52, 48), (52, 56), (52, 72), (52, 80), (53, 64), (0, 74), (0, 54)), year=1878),
)


def resolve_soundfont(soundfont: str | Path | None = None) -> Path:
    """The SoundFont to render with: the argument, else FluidR3 if installed, else pretty_midi's TimGM6mb."""
    if soundfont is not None:
        path = Path(soundfont)
        if not path.is_file():
            raise FileNotFoundError(f"SoundFont not found: {path}")
        return path
    for path in SYSTEM_SOUNDFONTS:
        if path.is_file():
            return path
    # TimGM6mb (GPL-2, 6 MB) ships inside the pretty_midi package; find it without importing pretty_midi.
    spec = importlib.util.find_spec("pretty_midi")
    if spec is not None and spec.origin is not None:
        path = Path(spec.origin).parent / "TimGM6mb.sf2"
        if path.is_file():
            return path
    raise FileNotFoundError(
        "no General MIDI SoundFont: pass soundfont=, install FluidR3_GM.sf2, or install pretty_midi"
    )


def demo_track_path(out_dir: str | Path, piece: DemoPiece) -> Path:
    """out_dir/<album>/<NN - title>.flac, with names safe as single path components."""
    return Path(out_dir) / _safe_name(piece.album) / f"{piece.track_number:02d} - {_safe_name(piece.title)}.flac"


def _safe_name(text: str) -> str:
    # Keep spaces, dots, apostrophes and non-ASCII on purpose (the pipeline must cope with them); remove only
    # what cannot be one path component on Linux, macOS or Windows.
    name = unicodedata.normalize("NFC", text)
    name = re.sub(r"\s*:\s*", " - ", name)
    name = re.sub(r'[/\\*?"<>|\x00-\x1f]', "-", name)
    name = name.strip(" .")  # no hidden files, no trailing dot (Windows drops it)
    return name[:150] or "untitled"


def _render_key(piece: DemoPiece, max_seconds: float, min_seconds: float, soundfont_sha256: str) -> str:
    """Content key of one rendered track: everything that decides its samples."""
    inputs = {
        "renderer_version": RENDERER_VERSION,
        "piece": asdict(piece),
        "max_seconds": float(max_seconds),
        "min_seconds": float(min_seconds),
        "sample_rate": SAMPLE_RATE,
        "soundfont_sha256": soundfont_sha256,
        "music21": importlib.metadata.version("music21"),
        "tinysoundfont": importlib.metadata.version("tinysoundfont"),
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


def _load_score(piece: DemoPiece, max_seconds: float):
    """The piece as a music21 Score at `piece.qpm`, cut to the measures that cover `max_seconds`."""
    # music21 takes about a second to import; only rendering needs it, skipping tracks does not.
    from music21 import corpus, stream, tempo

    with warnings.catch_warnings():
        # Encodings in the corpus raise harmless MusicXML/Humdrum warnings; this list is fixed and checked.
        warnings.simplefilter("ignore")
        score = corpus.parse(piece.corpus_path)
    if len(score.parts) != len(piece.voices):
        raise ValueError(f"{piece.corpus_path}: {len(score.parts)} parts but {len(piece.voices)} voices")

    # One tempo for the whole piece: the encodings' marks are missing or partial (music21 then plays at
    # 120 qpm), and a single tempo makes seconds ↔ quarter lengths exact for the cut below.
    for mark in list(score.recurse().getElementsByClass(tempo.TempoIndication)):
        mark.activeSite.remove(mark)
    # Cut before MIDI translation, which dominates the cost (5 s for a whole Beethoven movement), keeping
    # one extra measure so the audio cut at max_seconds falls inside music. Repeats only lengthen it.
    quarters_needed = max_seconds * piece.qpm / 60.0
    measures = list(score.parts[0].getElementsByClass(stream.Measure))
    n_measures = next((i + 1 for i, m in enumerate(measures) if m.offset >= quarters_needed), len(measures))
    score = score.measures(0, n_measures, indicesNotNumbers=True)
    score.parts[0].getElementsByClass(stream.Measure).first().insert(0, tempo.MetronomeMark(number=piece.qpm))

    if piece.octave_below is not None:
        low = copy.deepcopy(score.parts[0])
        low.transpose(-12, inPlace=True)
        score.insert(0, low)
    return score


def _strip_repeats(score) -> None:
    """Remove repeat barlines, voltas and D.C./segno marks, leaving the notes played once in order."""
    from music21 import bar, repeat, spanner, stream

    for measure in score.recurse().getElementsByClass(stream.Measure):
        if isinstance(measure.leftBarline, bar.Repeat):
            measure.leftBarline = None
        if isinstance(measure.rightBarline, bar.Repeat):
            measure.rightBarline = bar.Barline("regular")
    for mark in list(score.recurse().getElementsByClass((spanner.RepeatBracket, repeat.RepeatExpression))):
        mark.activeSite.remove(mark)


def _score_to_midi(score, n_parts: int) -> bytes:
    """Standard MIDI file bytes with score part i alone on MELODIC_CHANNELS[i]."""
    from music21 import midi, repeat

    try:
        midi_file = midi.translate.streamToMidiFile(score)
    except repeat.ExpanderException:
        # A cut can leave an opening repeat without its end (and some encodings are malformed anyway):
        # music21 refuses to expand those, so play through once instead.
        _strip_repeats(score)
        midi_file = midi.translate.streamToMidiFile(score)
    # music21 writes a conductor track, then one track per part, but gives parts with the same instrument
    # the same channel; give each its own so it can get its own program and pan.
    if len(midi_file.tracks) != n_parts + 1:
        raise ValueError(f"expected {n_parts + 1} MIDI tracks, music21 wrote {len(midi_file.tracks)}")
    if n_parts > len(MELODIC_CHANNELS):
        raise ValueError(f"{n_parts} parts: more than the {len(MELODIC_CHANNELS)} melodic MIDI channels")
    for part_index, track in enumerate(midi_file.tracks[1:]):
        for event in track.events:
            if getattr(event, "channel", None) is not None:
                event.channel = MELODIC_CHANNELS[part_index] + 1  # music21 numbers channels from 1
    return midi_file.writestr()


def _synthesize(events: Sequence, voices: Sequence[DemoVoice], soundfont_bytes: bytes, n_samples: int) -> np.ndarray:
    """Play MIDI events through a fresh TinySoundFont synth; return (2, n_samples) float32."""
    import tinysoundfont
    from tinysoundfont.midi import ControlChange, NoteOff, NoteOn, PitchBend

    synth = tinysoundfont.Synth(samplerate=SAMPLE_RATE)
    sfid = synth.sfload(soundfont_bytes)
    for channel, voice in zip(MELODIC_CHANNELS, voices):
        synth.program_select(channel, sfid, 0, voice.program)
        synth.control_change(channel, 10, voice.pan)

    # Drive the synth ourselves rather than with tinysoundfont.Sequencer: its generate() rounds every
    # chunk up to a whole sample while its clock advances exactly, so notes drift late by up to a sample
    # per event; here each event lands on round(t * rate). Program changes in the file are ignored: the
    # programs are the ones set above.
    audio = np.zeros((n_samples, 2), dtype=np.float32)  # (T, C): TinySoundFont writes interleaved stereo
    position = 0
    for event in events:
        at = min(round(event.t * SAMPLE_RATE), n_samples)
        if at > position:
            audio[position:at] = np.frombuffer(synth.generate_simple(at - position), dtype=np.float32).reshape(-1, 2)
            position = at
        if position >= n_samples:
            break
        action = event.action
        if isinstance(action, NoteOn) and action.velocity > 0:
            synth.noteon(event.channel, action.key, action.velocity)
        elif isinstance(action, (NoteOn, NoteOff)):  # note-on with velocity 0 is a note-off (MIDI 1.0)
            synth.noteoff(event.channel, action.key)
        elif isinstance(action, ControlChange):
            synth.control_change(event.channel, action.control, action.control_value)
        elif isinstance(action, PitchBend):
            synth.pitchbend(event.channel, action.pitch_bend)
    if position < n_samples:
        audio[position:] = np.frombuffer(synth.generate_simple(n_samples - position), dtype=np.float32).reshape(-1, 2)
    return np.ascontiguousarray(audio.T)  # (C, T)


def render_piece(
    piece: DemoPiece, soundfont: str | Path | None = None, max_seconds: float = 40.0, min_seconds: float = 20.0
) -> np.ndarray:
    """Render one piece to (2, T) float32 at SAMPLE_RATE: at most max_seconds, at least min_seconds
    (looped if shorter), faded out, peak at PEAK_DBFS."""
    from tinysoundfont.midi import Event, NoteOff, NoteOn, load_memory

    score = _load_score(piece, max_seconds)
    voices = piece.voices + ((piece.octave_below,) if piece.octave_below is not None else ())
    # persistent=False: the events are played once, and tinysoundfont rescans persistent ones on every step.
    events = load_memory(_score_to_midi(score, len(voices)), persistent=False)
    if not events:
        raise ValueError(f"{piece.corpus_path}: no MIDI events")

    # Loop a piece too short for min_seconds, starting each pass where the last note of the previous ends.
    period_s = max(e.t for e in events)
    n_passes = max(1, math.ceil((min_seconds - RELEASE_TAIL_S) / period_s))
    events = [Event(e.action, t=e.t + k * period_s, channel=e.channel, persistent=False)
              for k in range(n_passes) for e in events]
    # Note-offs before note-ons at the same instant, so a repeated note is struck again, not cut off.
    events.sort(key=lambda e: (e.t, 0 if isinstance(e.action, NoteOff) or
                               (isinstance(e.action, NoteOn) and e.action.velocity == 0) else 1))
    duration_s = min(max_seconds, n_passes * period_s + RELEASE_TAIL_S)

    soundfont_bytes = resolve_soundfont(soundfont).read_bytes()
    audio = _synthesize(events, voices, soundfont_bytes, round(duration_s * SAMPLE_RATE))  # (2, T)

    # Raised-cosine fade: smooth at both ends, so the cut itself adds no click.
    n_fade = min(round(FADE_S * SAMPLE_RATE), audio.shape[1] // 4)
    if n_fade > 0:
        audio[:, -n_fade:] *= (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, n_fade))).astype(np.float32)
    peak = float(np.abs(audio).max())
    if peak == 0.0:
        raise RuntimeError(f"{piece.corpus_path}: rendered silence (is the SoundFont General MIDI?)")
    return audio * np.float32(10 ** (PEAK_DBFS / 20) / peak)


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
    soundfont_path = resolve_soundfont(soundfont)
    soundfont_sha256 = hashlib.sha256(soundfont_path.read_bytes()).hexdigest()

    paths = []
    for piece in tqdm(DEMO_PIECES[:n_tracks], desc="demo corpus", unit="track", disable=not progress):
        path = demo_track_path(out_dir, piece)
        tags = _expected_tags(piece, _render_key(piece, max_seconds, min_seconds, soundfont_sha256),
                              soundfont_path.name)
        paths.append(path)
        if _has_tags(path, tags):
            continue
        audio = render_piece(piece, soundfont_path, max_seconds, min_seconds)  # (2, T)
        # Quantise ourselves (round to nearest) rather than leave float→int16 to libsndfile, so the PCM
        # is fixed by this code alone. Peaks are at -1 dBFS, so nothing clips.
        pcm = np.round(audio.T * 32767.0).astype(np.int16)  # (T, C), as soundfile wants it
        with atomic_path(path) as tmp:
            # The temp name ends in ".tmp-…", so the format cannot be inferred from it.
            sf.write(tmp, pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
            flac = FLAC(tmp)
            for key, value in tags.items():
                flac[key] = value
            flac.save()
    return paths
