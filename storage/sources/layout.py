"""Where every track, index and silence of a CUE sheet lies on the disc, and the TOC that follows.

    layout = lay_out_disc(disc, [image.n_samples for image in images])   # CueError on an impossible sheet
    layout.toc, [(s.track, s.start, s.stop) for s in layout.spans], layout.notes

Conventions, followed everywhere below:
- Sample positions are at the image's rate: a CUE frame (1/75 s) is `frames_to_samples` (588 samples
  at 44.1 kHz, exact; rounded to the nearest sample at rates that are not multiples of 75).
- Positions are CD sectors (frames of 588 stereo samples, 75 a second) from the start of the disc's
  program area, i.e. LSN, what cdparanoia prints and AccurateRip sums; MusicBrainz and freedb add the
  150-sector lead-in (2 s, Red Book). The first FILE's first sample is LSN 0.
- Pregaps: audio between INDEX 00 and INDEX 01 of track N ends track N-1 ("gaps appended to previous
  track", EAC's default; AccurateRip's and EAC's per-track CRCs cut tracks at INDEX 01 the same way).
  PREGAP/POSTGAP, which no file stores, become digital silence at their place on the disc.
- Hidden track one audio (HTOA): audio before INDEX 01 of the first track. If any sample is non-zero
  it becomes track 0 (`00.flac`, TRACKNUMBER 0): it is not in the TOC, so AccurateRip has no checksum
  for it and its two AccurateRip fields are empty strings. If it is digital silence it is dropped with a note.
- Partial frames: CD images hold whole frames. A WAV/FLAC image that does not is read to its last
  sample; `n_sectors` rounds a partial frame up (the lead-out is the next whole sector) and a note says so.
- Data tracks (MODE1/2352, MODE2/2336, …) are skipped with a note but kept in the TOC. A data track
  after the last audio track is an enhanced CD's second session, which images store straight after
  the audio; on the disc it starts 11400 sectors later (lead-out 6750 + lead-in 4500 + pregap 150,
  Blue Book), so MusicBrainz ends the disc 11400 sectors before it while freedb and AccurateRip use
  the true lead-out (github.com/arcctgx/ARver, doc/data_track.md, checked against EAC and dBpoweramp).
  A data track no file holds (EAC's MODEx/2xxx placeholder, or a file that is missing) is left out of
  the TOC with a note; a rip log's TOC can place it (`storage.sources.verify`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from storage.sources.cue import FRAMES_PER_SECOND, CueError, CueIndex, CueTrack, Disc, frames_to_msf
from storage.sources.discid import SESSION_GAP_SECTORS, DiscToc, TocTrack
from storage.sources.image import ImageFile

BLOCK_SAMPLES = 1 << 16


def frames_to_samples(frames: int, rate: int) -> int:
    """The sample a CUE position (frames of 1/75 s) falls on: round(frames * rate / 75).

    Exact where the rate is a multiple of 75 (44100: 588 a frame; 48000, 88200, 96000, 192000), within
    half a sample elsewhere (32000, 22050·k…); never a tie to break (frames * rate / 75 never ends in .5
    for integers), and each position is rounded from the sheet's own count, so errors never add up.
    """
    return (2 * frames * rate + FRAMES_PER_SECOND) // (2 * FRAMES_PER_SECOND)


def samples_to_frames(samples: int, rate: int, up: bool = False) -> int:
    """The CUE frame a sample lies in: the last frame whose first sample (`frames_to_samples`) is at or
    before it (up=True: the first frame starting at or after it). floor/ceil of samples / 588 on a CD."""
    frames = samples * FRAMES_PER_SECOND // rate
    while frames_to_samples(frames + 1, rate) <= samples:
        frames += 1
    while frames_to_samples(frames, rate) > samples:
        frames -= 1
    return frames + (up and frames_to_samples(frames, rate) < samples)


@dataclass(frozen=True)
class Piece:
    start: int  # timeline sample
    n: int
    file_index: int  # -1: digital silence (PREGAP/POSTGAP)
    file_offset: int


@dataclass(frozen=True)
class Span:
    track: CueTrack | None  # None: hidden track one audio
    start: int  # timeline samples
    stop: int
    start_sector: int  # LSN on the disc


@dataclass(frozen=True)
class DiscLayout:
    pieces: list[Piece]
    spans: list[Span]  # audio only, in order (HTOA first when present)
    toc: DiscToc
    notes: list[str]


def lay_out_disc(disc: Disc, lengths: list[int], rate: int = 44100) -> DiscLayout:
    """Where every index, track and silence lies on the disc, from the sheet and each file's length in samples
    (at `rate`; the TOC's sectors are CUE frames, which are CD sectors when the image is CD audio)."""

    def S(frames: int) -> int:  # noqa: N802 - frames → samples, the one conversion used below
        return frames_to_samples(frames, rate)

    def F(samples: int) -> int:  # noqa: N802 - samples → whole frames
        return samples_to_frames(samples, rate)

    exact = rate % FRAMES_PER_SECOND == 0  # frames are whole samples: partial-frame notes make sense
    notes: list[str] = []
    n_files = len(disc.files)
    tracks = disc.tracks
    # Silence no file stores, as (file, sample in file) → frames; inserted before the audio at that sample.
    inserts: list[list[tuple[int, int]]] = [[] for _ in range(n_files)]
    for k, track in enumerate(tracks):
        if track.postgap_frames:
            following = next((t.indexes[0] for t in tracks[k + 1 :] if t.indexes), None)
            if following is not None:
                inserts[following.file_index].append((S(following.frames), track.postgap_frames))
            else:
                inserts[-1].append((lengths[-1], track.postgap_frames))
        if track.pregap_frames and track.indexes:
            one = track.index(1) or track.indexes[0]
            inserts[one.file_index].append((S(one.frames), track.pregap_frames))
    pieces: list[Piece] = []
    bases: list[int] = []
    position = 0
    for f in range(n_files):
        bases.append(position)
        cursor = 0
        for at, frames in sorted(inserts[f]):
            if at > cursor:
                pieces.append(Piece(position, at - cursor, f, cursor))
                position += at - cursor
                cursor = at
            pieces.append(Piece(position, S(frames), -1, 0))
            position += S(frames)
        if lengths[f] > cursor:
            pieces.append(Piece(position, lengths[f] - cursor, f, cursor))
            position += lengths[f] - cursor
    total = position

    def at(track: CueTrack, index: CueIndex) -> int | None:
        """Timeline sample of an index; None when it lies in a missing (data-only) file."""
        if disc.files[index.file_index].missing:
            return None
        sample = S(index.frames)
        if sample > lengths[index.file_index]:
            raise CueError(
                f"{disc.cue_path.name}, line {index.line}: INDEX {index.number:02d} ({frames_to_msf(index.frames)}) of "
                f"TRACK {track.number:02d} is past the end of {disc.files[index.file_index].path.name} "
                f"({frames_to_msf(F(lengths[index.file_index]))} long)"
            )
        silence = sum(S(frames) for where, frames in inserts[index.file_index] if where <= sample)
        return bases[index.file_index] + sample + silence

    # Track starts (INDEX 01) and first indexes; None where no file holds them: a data track in a missing
    # file, or EAC's MODEx/2xxx placeholder, which has no INDEX 01 (its INDEX 00, when present, marks
    # where the audio before it ends).
    starts = [at(t, t.index(1)) if t.index(1) else None for t in tracks]
    firsts = [min((p for i in t.indexes if (p := at(t, i)) is not None), default=None) for t in tracks]
    known = [k for k in range(len(tracks)) if starts[k] is not None]
    for j, k in zip(known, known[1:]):
        if starts[k] <= starts[j]:
            raise CueError(f"{disc.cue_path.name}, line {tracks[k].line}: TRACK {tracks[k].number:02d} starts before "
                           f"TRACK {tracks[j].number:02d} ends (empty or out of order)")  # fmt: skip

    # Sessions: REM SESSION when given, else an enhanced CD's trailing data tracks form session 2.
    sessions = [t.session for t in tracks]
    last_audio = max((k for k, t in enumerate(tracks) if t.is_audio), default=-1)
    if last_audio < 0:
        raise CueError(f"{disc.cue_path.name}: no audio tracks")
    if max(sessions) == 1 and last_audio < len(tracks) - 1:
        sessions = [1 if k <= last_audio else 2 for k in range(len(tracks))]
        notes.append(f"data track {tracks[last_audio + 1].number} follows the audio: read as an enhanced CD's "
                     f"second session, {SESSION_GAP_SECTORS} sectors after the audio on the disc")  # fmt: skip
    shift = [0] * len(tracks)  # sectors a session lies further on the disc than in the image
    for k in range(1, len(tracks)):
        shift[k] = shift[k - 1]
        if sessions[k] > sessions[k - 1] and starts[k] is not None:
            t = tracks[k]
            session_start = F(min(firsts[k], starts[k] - S(t.pregap_frames)))
            shift[k] = shift[k - 1] + session_start + SESSION_GAP_SECTORS - F(starts[k])

    toc_tracks, leadout_shift = [], 0
    for k, t in enumerate(tracks):
        if starts[k] is None:
            what = ("EAC's placeholder for a data track it did not read (MODEx/2xxx)" if t.is_placeholder
                    else "a data track in a missing file")  # fmt: skip
            notes.append(f"track {t.number} is {what}: left out of the TOC, so the freedb and AccurateRip IDs "
                         "may not match unless a rip log's TOC places it")  # fmt: skip
            continue
        leadout_shift = shift[k]
        if exact and starts[k] % S(1):
            notes.append(f"track {t.number} starts {starts[k] % S(1)} samples into a sector "
                         "(a file before it is not whole sectors); its sector is rounded down")  # fmt: skip
        toc_tracks.append(TocTrack(t.number, F(starts[k]) + shift[k], t.is_audio, sessions[k]))
    if exact and total % S(1):
        notes.append(f"the image is not whole CD frames ({total % S(1)} samples over); "
                     "the last frame counts as a whole sector")  # fmt: skip
    leadout = samples_to_frames(total, rate, up=True) + leadout_shift
    toc = DiscToc(tuple(toc_tracks), leadout)

    spans = []
    first = tracks[0]
    if first.is_audio and starts[0] > 0:
        spans.append(Span(None, 0, starts[0], 0))
    for k, t in enumerate(tracks):
        if not t.is_audio:
            notes.append(f"track {t.number} is a data track ({t.mode}): skipped")
            continue
        # An audio track ends where the next audio track starts, or where the next data track's first
        # index lies (EAC puts a placeholder's INDEX 00 at the end of the audio); else with the image.
        stop = total
        for following, start, first_index in zip(tracks[k + 1 :], starts[k + 1 :], firsts[k + 1 :]):
            edge = start if following.is_audio else first_index
            if edge is not None:
                stop = edge
                break
        if stop <= starts[k]:
            raise CueError(f"{disc.cue_path.name}, line {t.line}: TRACK {t.number:02d} holds no audio "
                           "(it starts where the image or the next track ends)")  # fmt: skip
        spans.append(Span(t, starts[k], stop, F(starts[k]) + shift[k]))
    return DiscLayout(pieces, spans, toc, notes)


def read_timeline(pieces: list[Piece], images: list[ImageFile], start: int, stop: int) -> Iterator[np.ndarray]:
    """(n, channels) blocks of the timeline between two samples, in the images' sample type."""
    pcm = next((im.format for im in images if im.kind != "missing"), None)
    channels, dtype = (pcm.channels, pcm.dtype) if pcm else (2, "int16")
    for piece in pieces:
        a, b = max(start, piece.start), min(stop, piece.start + piece.n)
        while a < b:
            n = min(BLOCK_SAMPLES, b - a)
            if piece.file_index < 0:
                yield np.zeros((n, channels), dtype)
            else:
                yield images[piece.file_index].read(piece.file_offset + a - piece.start, n)
            a += n
