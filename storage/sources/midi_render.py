"""Scores to audio: a music21 score played through a General MIDI SoundFont with TinySoundFont.

    score = prepare_score(parse_work("bach/bwv269"), qpm=72, max_seconds=40.0)
    events, duration_s = score_events(score, n_voices=4, max_seconds=40.0, min_seconds=20.0)
    audio = render_events(events, voices, resolve_soundfont().read_bytes(), duration_s)   # (2, T) float32

Shared by the small demo library (`storage.sources.demo_corpus`) and the training library
(`storage.sources.library`). Nothing here is random: the same score, voices and SoundFont give
bit-identical samples, and every render uses a fresh synthesizer, so renders do not depend on each other.
"""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from mutagen.flac import FLAC

from storage.atomic import atomic_path

SAMPLE_RATE = 44100  # CD audio (Red Book), what the lossless libraries this pipeline serves hold.
PEAK_DBFS = -1.0  # leave 1 dB of headroom: lossy decoders overshoot full-scale peaks (inter-sample peaks).
FADE_S = 0.5  # fade-out so a track trimmed mid-phrase ends without a click.
RELEASE_TAIL_S = 1.5  # after the last note-off, let the instruments' release ring out before the track ends.

# Where distributions put FluidR3 (Debian/Ubuntu fluid-soundfont-gm, Fedora/Arch soundfont-fluid).
SYSTEM_SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
    Path("/usr/local/share/soundfonts/FluidR3_GM.sf2"),
)

# Folders distributions install SoundFonts in, and the General MIDI SoundFonts of Debian's packages
# (docs/sources.md gives each one's licence): fluid-soundfont-gm, musescore-general-soundfont(-small,
# -lossless), fluidr3mono-gm-soundfont, timgm6mb-soundfont. TinySoundFont reads .sf3 (Ogg Vorbis samples) too.
SOUNDFONT_DIRS = (
    Path("/usr/share/sounds/sf2"),
    Path("/usr/share/sounds/sf3"),
    Path("/usr/share/soundfonts"),
    Path("/usr/local/share/soundfonts"),
)
GM_SOUNDFONTS = (
    "FluidR3_GM.sf2",
    "MuseScore_General.sf3",
    "MuseScore_General_Lite.sf3",
    "MuseScore_General_Full.sf2",
    "FluidR3Mono_GM.sf3",
    "TimGM6mb.sf2",
)

# MIDI channel 10 (index 9) is the General MIDI percussion channel; parts never go there.
MELODIC_CHANNELS = tuple(c for c in range(16) if c != 9)


# TinySoundFont's wheel declares pyaudio (live playback, needs portaudio headers); rendering offline needs neither.
TINYSOUNDFONT_INSTALL = "pip install --no-deps tinysoundfont==0.3.7"


class RendererMissing(RuntimeError):
    """The synthesizer is not installed; the message says how to install it, in one line."""


def tinysoundfont_version() -> str:
    """The installed tinysoundfont's version (part of every render key); RendererMissing when it is absent."""
    try:
        return importlib.metadata.version("tinysoundfont")
    except importlib.metadata.PackageNotFoundError:
        raise RendererMissing(
            f"rendering MIDI needs tinysoundfont, which is not installed: `{TINYSOUNDFONT_INSTALL}` "
            "(`make install` does it)"
        ) from None


@dataclass(frozen=True)
class Voice:
    """How one score part sounds: a General MIDI program and a stereo position."""

    program: int  # 0-based General MIDI Level 1 program (MMA GM1 sound set: 0 piano, 40 violin, 73 flute, …)
    pan: int  # MIDI CC 10: 0 hard left, 64 centre, 127 hard right


def bundled_soundfont() -> Path:
    """TimGM6mb (GPL-2, 6 MB), which ships inside the pretty_midi package; found without importing it."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is not None and spec.origin is not None:
        path = Path(spec.origin).parent / "TimGM6mb.sf2"
        if path.is_file():
            return path
    raise FileNotFoundError("no General MIDI SoundFont: pass one, install FluidR3_GM.sf2, or install pretty_midi")


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
    return bundled_soundfont()


def installed_soundfonts(dirs: Sequence[Path] = SOUNDFONT_DIRS) -> list[Path]:
    """Every General MIDI SoundFont of GM_SOUNDFONTS installed in `dirs`, in that order, one per file name."""
    found = []
    for name in GM_SOUNDFONTS:
        path = next((d / name for d in dirs if (d / name).is_file()), None)
        if path is not None:
            found.append(path)
    return found


def parse_work(corpus_path: str | Path, number: int | None = None):
    """A work of the music21 corpus (by name, or a score file's absolute path) as a Score; `number` picks one
    tune of a file holding many (ABC's X:)."""
    # music21 takes about a second to import; only rendering needs it, skipping finished tracks does not.
    from music21 import converter, corpus, stream

    with warnings.catch_warnings():
        # Encodings in the corpus raise harmless MusicXML/Humdrum/ABC warnings.
        warnings.simplefilter("ignore")
        if Path(corpus_path).is_absolute():  # a file (what corpus.parse resolves a corpus name to)
            score = converter.parse(corpus_path, number=number)
        else:
            score = corpus.parse(corpus_path, number=number) if number is not None else corpus.parse(corpus_path)
    if isinstance(score, stream.Opus):
        score = score.scores[0]
    return score


def prepare_score(score, qpm: float, max_seconds: float, octave_below: bool = False):
    """`score` at one tempo, cut to the measures that cover `max_seconds`, optionally with its first part
    doubled an octave lower (as the last part)."""
    from music21 import stream, tempo

    # One tempo for the whole piece: the encodings' marks are missing or partial (music21 then plays at
    # 120 qpm), and a single tempo makes seconds ↔ quarter lengths exact for the cut below.
    for mark in list(score.recurse().getElementsByClass(tempo.TempoIndication)):
        mark.activeSite.remove(mark)
    # Cut before MIDI translation, which dominates the cost (5 s for a whole Beethoven movement), keeping
    # one extra measure so the audio cut at max_seconds falls inside music. Repeats only lengthen it.
    quarters_needed = max_seconds * qpm / 60.0
    measures = list(score.parts[0].getElementsByClass(stream.Measure))
    n_measures = next((i + 1 for i, m in enumerate(measures) if m.offset >= quarters_needed), len(measures))
    score = score.measures(0, n_measures, indicesNotNumbers=True)
    first = score.parts[0].getElementsByClass(stream.Measure).first()
    if first is None:  # unmeasured encodings (some ABC files): nowhere to cut or to put the tempo
        raise ValueError("the first part has no measures")
    first.insert(0, tempo.MetronomeMark(number=qpm))

    if octave_below:
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


def score_to_midi(score, n_parts: int) -> bytes:
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


def _is_note_off(event) -> bool:
    from tinysoundfont.midi import NoteOff, NoteOn

    return isinstance(event.action, NoteOff) or (isinstance(event.action, NoteOn) and event.action.velocity == 0)


def score_events(score, n_voices: int, max_seconds: float, min_seconds: float) -> tuple[list, float]:
    """The score's MIDI events (looped up to `min_seconds`) and the track's duration in seconds."""
    return midi_events(score_to_midi(score, n_voices), max_seconds, min_seconds)


def midi_period_s(midi: bytes) -> float:
    """The time of a MIDI file's last event: how often `midi_events` loops it."""
    from tinysoundfont.midi import load_memory

    return max(e.t for e in load_memory(midi, persistent=False))


def midi_events(midi: bytes, max_seconds: float, min_seconds: float) -> tuple[list, float]:
    """A MIDI file's events (looped up to `min_seconds`) and the track's duration in seconds.

    Needs tinysoundfont only, not music21: a score's MIDI bytes (`score_to_midi`) are all it takes to
    play it again.
    """
    from tinysoundfont.midi import Event, load_memory

    # persistent=False: the events are played once, and tinysoundfont rescans persistent ones on every step.
    events = load_memory(midi, persistent=False)
    if not events:
        raise ValueError("no MIDI events")
    # Loop a piece too short for min_seconds, starting each pass where the last note of the previous ends.
    period_s = max(e.t for e in events)
    if period_s <= 0:
        raise ValueError("no music: every MIDI event is at time 0")
    n_passes = max(1, math.ceil((min_seconds - RELEASE_TAIL_S) / period_s))
    events = [Event(e.action, t=e.t + k * period_s, channel=e.channel, persistent=False)
              for k in range(n_passes) for e in events]  # fmt: skip
    # Note-offs before note-ons at the same instant, so a repeated note is struck again, not cut off.
    events.sort(key=lambda e: (e.t, 0 if _is_note_off(e) else 1))
    return events, min(max_seconds, n_passes * period_s + RELEASE_TAIL_S)


def _synthesize(
    events: Sequence, voices: Sequence[Voice], soundfont_bytes: bytes, n_samples: int,
    velocity_scales: Sequence[float] | None = None,
) -> np.ndarray:  # fmt: skip
    """Play MIDI events through a fresh TinySoundFont synth; return (2, n_samples) float32."""
    import tinysoundfont
    from tinysoundfont.midi import ControlChange, NoteOff, NoteOn, PitchBend

    synth = tinysoundfont.Synth(samplerate=SAMPLE_RATE)
    sfid = synth.sfload(soundfont_bytes)
    scale = {}  # channel → velocity factor
    for k, (channel, voice) in enumerate(zip(MELODIC_CHANNELS, voices)):
        synth.program_select(channel, sfid, 0, voice.program)
        synth.control_change(channel, 10, voice.pan)
        if velocity_scales is not None:
            scale[channel] = velocity_scales[k]

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
            velocity = action.velocity
            if event.channel in scale:
                velocity = min(127, max(1, round(velocity * scale[event.channel])))
            synth.noteon(event.channel, action.key, velocity)
        elif isinstance(action, (NoteOn, NoteOff)):  # note-on with velocity 0 is a note-off (MIDI 1.0)
            synth.noteoff(event.channel, action.key)
        elif isinstance(action, ControlChange):
            synth.control_change(event.channel, action.control, action.control_value)
        elif isinstance(action, PitchBend):
            synth.pitchbend(event.channel, action.pitch_bend)
    if position < n_samples:
        audio[position:] = np.frombuffer(synth.generate_simple(n_samples - position), dtype=np.float32).reshape(-1, 2)
    return np.ascontiguousarray(audio.T)  # (C, T)


def render_events(
    events: Sequence, voices: Sequence[Voice], soundfont_bytes: bytes, duration_s: float,
    velocity_scales: Sequence[float] | None = None,
) -> np.ndarray:  # fmt: skip
    """(2, T) float32 at SAMPLE_RATE: the events played for `duration_s`, faded out, peak at PEAK_DBFS.

    `velocity_scales[i]` multiplies the note-on velocities of voice i (clipped to 1..127): in a SoundFont
    velocity chooses samples and filter settings, so it changes timbre, not only loudness.
    """
    audio = _synthesize(events, voices, soundfont_bytes, round(duration_s * SAMPLE_RATE), velocity_scales)
    # Raised-cosine fade: smooth at both ends, so the cut itself adds no click.
    n_fade = min(round(FADE_S * SAMPLE_RATE), audio.shape[1] // 4)
    if n_fade > 0:
        audio[:, -n_fade:] *= (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, n_fade))).astype(np.float32)
    peak = float(np.abs(audio).max())
    if peak == 0.0:
        raise RuntimeError("rendered silence (is the SoundFont General MIDI?)")
    return audio * np.float32(10 ** (PEAK_DBFS / 20) / peak)


def write_flac(path: Path, audio: np.ndarray, tags: dict[str, str]) -> None:
    """Write (2, T) float audio as tagged 16-bit FLAC at SAMPLE_RATE, atomically."""
    # Quantise here (round to nearest) rather than leave float→int16 to libsndfile, so the PCM is fixed
    # by this code alone. Peaks are at PEAK_DBFS, so nothing clips.
    pcm = np.round(audio.T * 32767.0).astype(np.int16)  # (T, C), as soundfile wants it
    with atomic_path(path) as tmp:
        # The temp name ends in ".tmp-…", so the format cannot be inferred from it.
        sf.write(tmp, pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        flac = FLAC(tmp)
        for key, value in tags.items():
            flac[key] = value
        flac.save()


def read_render_key(path: Path) -> str | None:
    """The LADLE_RENDER_KEY tag of a rendered FLAC, or None (missing, truncated, not FLAC, untagged)."""
    try:
        return (FLAC(path).get("LADLE_RENDER_KEY") or [None])[0]
    except Exception:  # any unreadable file is simply rendered again
        return None


def safe_name(text: str) -> str:
    """`text` as one path component on Linux, macOS and Windows, keeping spaces, dots, apostrophes and
    non-ASCII on purpose (the pipeline must cope with them)."""
    import unicodedata

    name = unicodedata.normalize("NFC", text)
    name = re.sub(r"\s*:\s*", " - ", name)
    name = re.sub(r'[/\\*?"<>|\x00-\x1f]', "-", name)
    name = name.strip(" .")  # no hidden files, no trailing dot (Windows drops it)
    return name[:150] or "untitled"
