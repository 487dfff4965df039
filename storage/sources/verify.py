"""Checking a split disc against the rip logs beside its sheet: CRCs, AccurateRip checksums, and the TOC.

    check = check_against_logs(cue_path, sidecar)        # sidecar: the split's disc.json, as a dict
    check.crc32[1], check.notes, check.toc               # "1A2B3C4D", ["rip log Album.log (EAC)", …], DiscToc | None

Every rip of every log beside the sheet is a candidate (a log file can hold several rips of one or more
discs; they are never merged). The rip whose CRCs match the split best is used; ties keep the earlier
one (the sheet's namesake log first). A log's track numbers are read as the sheet's where the two
number the same audio differently (`_in_sheet_numbers`). When that rip's TOC lists tracks the sheet leaves out (a data
track), `toc` is the disc's TOC from the log (`storage.sources.discid.toc_with_log`) and the disc IDs
must come from it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from storage.sources.discid import DiscToc, TocTrack, toc_with_log
from storage.sources.riplog import RipLog, read_rip_logs, rip_log_candidates


@dataclass(frozen=True)
class LogCheck:
    crc32: dict[int, str] = field(default_factory=dict)  # track → the CRC32 the chosen rip wrote
    notes: list[str] = field(default_factory=list)
    toc: DiscToc | None = None  # the disc's TOC from the rip log, when it places tracks the sheet cannot


def sidecar_toc(sidecar: dict) -> DiscToc:
    """The TOC a split computed from its sheet, as stored in its disc.json."""
    toc = sidecar["toc"]
    return DiscToc(tuple(TocTrack(**t) for t in toc["tracks"]), toc["leadout_sector"])


def _in_sheet_numbers(rip: RipLog, sheet_toc: DiscToc) -> RipLog:
    """The rip with its CRCs keyed by the sheet's track numbers: a sheet that leaves out a data track often
    numbers the audio from 1 where the log numbers it from 2 (CUETools' "Anatomy" and "Les Mystérieuses
    Cités d'Or" 2.cue); the log's TOC, matched to the sheet's (`toc_with_log`), says which is which."""
    toc = toc_with_log(sheet_toc, rip.toc) if rip.toc else None
    if toc is None:
        return rip
    numbers = dict(zip((t.number for t in toc.audio_tracks), (t.number for t in sheet_toc.audio_tracks)))
    if all(k == v for k, v in numbers.items()):
        return rip
    crc32 = {numbers[n]: c for n, c in rip.crc32.items() if n in numbers}
    accuraterip = {numbers[n]: a for n, a in rip.accuraterip.items() if n in numbers}
    return dataclasses.replace(rip, crc32=crc32, accuraterip=accuraterip)


def _where(rip: RipLog) -> str:
    name = Path(rip.path).name
    return f"{name}, rip {rip.rip} of {rip.n_rips}" if rip.n_rips > 1 else name


def check_against_logs(cue_path: Path, sidecar: dict) -> LogCheck:
    """The CRC per track from the rip that fits this disc best, notes on what disagrees, and the log's TOC."""
    computed = {t["number"]: t for t in sidecar["tracks"] if t["number"] > 0}
    candidates = rip_log_candidates(cue_path)
    best: tuple[int, RipLog] | None = None
    for path in candidates:
        try:
            rips = read_rip_logs(path)
        except OSError:
            continue
        for rip in rips:
            rip = _in_sheet_numbers(rip, sidecar_toc(sidecar))
            if not rip.crc32 and not rip.range_crc32 and not rip.accuraterip:
                continue
            matches = sum(computed.get(n, {}).get("crc32") == crc for n, crc in rip.crc32.items())
            matches += sidecar["image_crc32"] == rip.range_crc32
            if best is None or matches > best[0]:  # ties keep the earlier rip: the sheet's namesake log first
                best = (matches, rip)
    if best is None:
        return LogCheck()
    matches, rip = best
    if matches == 0 and Path(rip.path).stem != cue_path.stem and len(candidates) > 1:
        return LogCheck(notes=[f"{len(candidates)} logs beside the sheet and none matches this disc: not used"])
    label = _where(rip)
    notes = [f"rip log {label} ({rip.tool})"]
    for number, crc in sorted(rip.crc32.items()):
        if number in computed and computed[number]["crc32"] != crc:
            notes.append(f"track {number}: CRC32 {computed[number]['crc32']} differs from the log's {crc} ({label})")
    for number, values in sorted(rip.accuraterip.items()):
        ours = {computed[number]["accuraterip_v1"], computed[number]["accuraterip_v2"]} if number in computed else set()
        if ours and not ours & set(values):
            notes.append(f"track {number}: AccurateRip {'/'.join(sorted(ours))} differs from the log's "
                         f"{'/'.join(values)} ({label})")  # fmt: skip
    if rip.range_crc32:
        verdict = "matches" if rip.range_crc32 == sidecar["image_crc32"] else "differs from"
        notes.append(f"image CRC32 {sidecar['image_crc32']} {verdict} the log's {rip.range_crc32} ({label})")
    toc = toc_with_log(sidecar_toc(sidecar), rip.toc) if rip.toc else None
    if toc is not None:
        data = [t.number for t in toc.tracks if not t.audio]
        notes.append(f"disc IDs from the TOC in {label}: it places data track(s) {', '.join(map(str, data))}, "
                     "which the sheet does not")  # fmt: skip
    return LogCheck(dict(rip.crc32), notes, toc)
