"""Disc IDs from a CD's table of contents: MusicBrainz, freedb/CDDB1 and AccurateRip.

    toc = DiscToc.from_lba([150, 15363, 32314, 46592, 63414, 80489], 95462)
    musicbrainz_disc_id(toc), freedb_disc_id(toc), accuraterip_disc_id(toc)

Positions are CD sectors (frames of 588 stereo samples, 75 a second) from the start of the disc's
program area, i.e. LSN, what cdparanoia prints and AccurateRip sums; MusicBrainz and freedb add the
150-sector lead-in (2 s, Red Book). Later sessions of an enhanced CD start 11400 sectors after the
previous session's lead-out (Blue Book), which MusicBrainz leaves out and freedb/AccurateRip keep
(github.com/arcctgx/ARver, doc/data_track.md, checked against EAC and dBpoweramp).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from storage.sources.cue import FRAMES_PER_SECOND

LEAD_IN_SECTORS = 150  # Red Book: the program area starts at MSF 00:02:00
SESSION_GAP_SECTORS = 11400  # Blue Book: lead-out 6750 + lead-in 4500 + first pregap 150 between sessions


@dataclass(frozen=True)
class TocTrack:
    number: int
    start_sector: int  # LSN: sectors from the start of the program area, without the 150 lead-in
    audio: bool = True
    session: int = 1


@dataclass(frozen=True)
class DiscToc:
    tracks: tuple[TocTrack, ...]
    leadout_sector: int  # LSN one past the disc's last sector (the true lead-out, after any data session)

    @property
    def audio_tracks(self) -> tuple[TocTrack, ...]:
        return tuple(t for t in self.tracks if t.audio)

    @classmethod
    def from_lba(cls, offsets: list[int], leadout: int, audio: list[bool] | None = None, first: int = 1) -> DiscToc:
        """From MusicBrainz/libdiscid-style offsets, which include the 150-sector lead-in."""
        audio = audio or [True] * len(offsets)
        tracks = tuple(TocTrack(first + i, o - LEAD_IN_SECTORS, a) for i, (o, a) in enumerate(zip(offsets, audio)))
        return cls(tracks, leadout - LEAD_IN_SECTORS)


def _first_session(toc: DiscToc) -> tuple[list[TocTrack], int]:
    """Tracks and lead-out (LSN) of the first session; later sessions start 11400 sectors after it ends."""
    tracks = [t for t in toc.tracks if t.session == 1]
    later = [t for t in toc.tracks if t.session > 1]
    leadout = later[0].start_sector - SESSION_GAP_SECTORS if later else toc.leadout_sector
    return tracks, leadout


def musicbrainz_disc_id(toc: DiscToc) -> str:
    """MusicBrainz disc ID: SHA-1 over the first session's TOC as upper-case hex, base64 with `._-`.

    MusicBrainz "Disc ID Calculation": SHA-1 of "%02X" first track, "%02X" last track, then "%08X" of
    the lead-out and of tracks 1..99 (0 where absent), all as LBA (+150); base64 with + / = replaced
    by . _ - (libdiscid does the same).
    """
    tracks, leadout = _first_session(toc)
    digest = hashlib.sha1()
    digest.update(f"{tracks[0].number:02X}{tracks[-1].number:02X}".encode())
    offsets = {t.number: t.start_sector + LEAD_IN_SECTORS for t in tracks}
    digest.update(f"{leadout + LEAD_IN_SECTORS:08X}".encode())
    for number in range(1, 100):
        digest.update(f"{offsets.get(number, 0):08X}".encode())
    return base64.b64encode(digest.digest()).decode().translate(str.maketrans("+/=", "._-"))


def _digit_sum(n: int) -> int:
    return sum(int(d) for d in str(n))


def freedb_disc_id(toc: DiscToc) -> str:
    """freedb/CDDB1 disc ID over every track (data too) and the true lead-out, as 8 lower-case hex digits.

    CDDB1: checksum = sum of the decimal digit sums of each track's start in whole seconds (LBA / 75);
    id = (checksum mod 255) << 24 | (lead-out seconds - first track seconds) << 8 | number of tracks.
    """
    seconds = [(t.start_sector + LEAD_IN_SECTORS) // FRAMES_PER_SECOND for t in toc.tracks]
    checksum = sum(_digit_sum(s) for s in seconds)
    length = (toc.leadout_sector + LEAD_IN_SECTORS) // FRAMES_PER_SECOND - seconds[0]
    return f"{(checksum % 255) << 24 | length << 8 | len(toc.tracks):08x}"


def accuraterip_disc_id(toc: DiscToc) -> str:
    """AccurateRip's disc ID, `nnn-id1-id2-freedb` as in its dBAR file names (lower-case hex).

    Over the audio tracks only, numbered 1.. in order (a mixed-mode disc's data track 1 is left out),
    LSN offsets: id1 = sum of offsets + lead-out, id2 = sum of max(offset, 1) * n + lead-out * (count + 1),
    both mod 2^32; the lead-out is the true one (CUETools' AccurateRipVerify, ARver's fingerprint.py).
    """
    audio = toc.audio_tracks
    id1 = sum(t.start_sector for t in audio) + toc.leadout_sector
    id2 = sum(max(t.start_sector, 1) * n for n, t in enumerate(audio, start=1))
    id2 += max(toc.leadout_sector, 1) * (len(audio) + 1)
    return f"{len(audio):03d}-{id1 & 0xFFFFFFFF:08x}-{id2 & 0xFFFFFFFF:08x}-{freedb_disc_id(toc)}"


def toc_with_log(sheet_toc: DiscToc, log_toc: tuple[tuple[int, int, int], ...]) -> DiscToc | None:
    """The disc's TOC as a rip log lists it, when the log places tracks the sheet cannot; else None.

    CUE sheets often leave out a data track (EAC drops it, or writes a MODEx/2xxx placeholder), and then
    the freedb and AccurateRip IDs, which count it and end at the true lead-out, cannot be computed from
    the sheet. The rip log's TOC lists every track with its first and last sector, as CUETools uses it
    (CUETools.Processor's CUESheet, tested on CUETools' "Circuitry", "Headcandy", "Anatomy" and "No Man's
    Land" images). The log is taken only when the sheet's audio tracks are a run of consecutive log
    tracks with the same distances between their starts (the same disc); the log's other tracks are
    data, in session 2 when they follow the audio (an enhanced CD) and in session 1 before it (mixed mode).
    """
    audio = [t.start_sector for t in sheet_toc.audio_tracks]
    rows = sorted(log_toc)
    if not audio or len(rows) <= len(audio):
        return None  # the log lists nothing the sheet lacks
    relative = [s - audio[0] for s in audio]
    for first in range(len(rows) - len(audio) + 1):
        run = rows[first : first + len(audio)]
        if [r[1] - run[0][1] for r in run] != relative:
            continue
        last = first + len(audio) - 1
        tracks = tuple(
            TocTrack(number, start, audio=first <= k <= last, session=2 if k > last else 1)
            for k, (number, start, _end) in enumerate(rows)
        )
        return DiscToc(tracks, rows[-1][2] + 1)
    return None
