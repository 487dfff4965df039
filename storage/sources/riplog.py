"""Rip logs (EAC in any language, XLD, whipper): per rip, the CRC32s, AccurateRip checksums and TOC written.

    rips = read_rip_logs("library/Album/Album.log")          # one RipLog per rip the file holds
    rips[0].tool, rips[0].crc32[1], rips[0].accuraterip.get(1), rips[0].toc[:1]
    # "EAC", "1A2B3C4D", ("5E6F7A8B",), ((1, 0, 17857),)

EAC translates every label of its log (Logchecker keeps translation tables for some 20 languages:
github.com/OPSnet/Logchecker, src/Parser/EAC/languages), so EAC logs are read by their layout, which no
translation changes:
- a rip starts at its header: "Exact Audio Copy V…", or, in logs before 0.99, the line naming the log
  with "EAC" in it ("EAC extraction logfile from …", "Отчёт EAC об извлечении …", "EAC 取り込み…");
  a file can hold several rips (EAC appends; people concatenate), each kept apart;
- the TOC rows are numbers between pipes: "  1  |  0:00.00 |  3:58.08 |  0  |  17857";
- a track block starts with a line of one word and a number: "Track  1", "Трек  1", "トラック  1";
- in a block, the last line ending in 8 upper-case hex digits is the file's CRC ("Copy CRC", "CRC копии",
  "コピーCRC", "Suma kontrolna"; EAC writes the test CRC before it); with no track block yet it is the
  range (image) CRC. EAC indents these lines, but logs re-saved with their spaces stripped (Logchecker's
  range_rip_no_space_before_filename.log) do not, so an unindented one counts too once the rip's
  settings have begun (its first "label: value" line): the artist/album line above them never counts;
- "[8 hex digits]" in a line is the AccurateRip checksum EAC computed (the first bracket; a second one
  is the database's); in a range rip's summary the line starts with the track's word and number.
XLD and whipper write English only and are read by their labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from storage.sources.text import decode_text


@dataclass(frozen=True)
class RipLog:
    """One rip in a log file."""

    path: str
    tool: str  # EAC | XLD | whipper | unknown
    crc32: dict[int, str]  # track number → the CRC32 the ripper wrote for that track's file
    accuraterip: dict[int, tuple[str, ...]]  # track number → AccurateRip checksums the ripper computed
    range_crc32: str | None = None  # an image (range) rip's CRC32 over all audio
    toc: tuple[tuple[int, int, int], ...] = ()  # (track, first sector, last sector) as the log lists the disc
    rip: int = 1  # position of this rip in its file, from 1
    n_rips: int = 1


_EAC_HEADER = re.compile(r"^\s*Exact Audio Copy V", re.I)
_EAC_OLD_HEADER = re.compile(r"\bEAC\b.*\b\d{4}\b")  # a translated "EAC extraction logfile from <date>"
_XLD_HEADER = re.compile(r"^\s*X Lossless Decoder version")
_WHIPPER_HEADER = re.compile(r"^\s*Log created by: whipper")
_TOC_ROW = re.compile(r"^\s*(\d{1,2})\s*\|\s*[\d:.]+\s*\|\s*[\d:.]+\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|?\s*$")
_TRACK_HEADER = re.compile(r"^\s{0,4}[^\W\d_]+\s+(\d{1,2})\s*$")
_CRC_LINE = re.compile(r"^\s+\S.*\s([0-9A-F]{8})\s*$")
_BARE_CRC_LINE = re.compile(r"^[^\W\d_][^:|\[\]]*\s([0-9A-F]{8})\s*$")  # unindented: a label, no colon
_SETTING = re.compile(r"^\s*\S[^:]*:")
_BRACKET = re.compile(r"\[([0-9A-Fa-f]{8})\]")
_AR_SUMMARY = re.compile(r"^\s*[^\W\d_]+\s+(\d{1,2})\s+\S.*?\[([0-9A-Fa-f]{8})\]")
_XLD_RANGE = re.compile(r"^\s*All Tracks\s*$")
_XLD_CRC = re.compile(r"^\s*CRC32 hash\s*:\s*([0-9A-Fa-f]{8})\s*$")
_XLD_AR = re.compile(r"^\s*AccurateRip (?:v[12] )?signature\s*:\s*([0-9A-Fa-f]{8})")
_WHIPPER_SECTION = re.compile(r"^(\w[\w ]*):\s*$")  # "TOC:", "Tracks:" (YAML, unindented)
_WHIPPER_TRACK = re.compile(r"^\s{2}(\d{1,2}):\s*$")
_WHIPPER_SECTOR = re.compile(r"^\s+(Start|End) sector:\s*(\d+)\s*$")
# YAML quotes a CRC made of digits only ('27825540').
_WHIPPER_CRC = re.compile(r"^\s*Copy CRC:\s*'?([0-9A-Fa-f]{8})'?\s*$")
_WHIPPER_AR = re.compile(r"^\s*Local CRC:\s*'?([0-9A-Fa-f]{8})'?\s*$")


def _rip_starts(lines: list[str]) -> list[tuple[int, str]]:
    """(line index, tool) where each rip begins."""
    starts: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        if _EAC_HEADER.match(line):
            starts.append((i, "EAC"))
        elif _XLD_HEADER.match(line):
            starts.append((i, "XLD"))
        elif _WHIPPER_HEADER.match(line):
            starts.append((i, "whipper"))
        elif (
            _EAC_OLD_HEADER.search(line)
            and ":" not in line.split("EAC")[0]
            and not (
                starts and starts[-1][1] == "EAC" and i - starts[-1][0] <= 4  # the line under "Exact Audio Copy V…"
            )
        ):
            starts.append((i, "EAC"))
    return starts or [(0, "unknown")]


def _read_rip(lines: list[str], tool: str) -> tuple[dict[int, str], dict[int, list[str]], str | None, list]:
    crcs: dict[int, str] = {}
    ar: dict[int, list[str]] = {}
    range_crc = None
    toc = []
    current: int | None = None
    section = ""
    settings = False  # whether the rip's "label: value" settings have begun (below the artist/album line)
    for line in lines:
        settings = settings or bool(_SETTING.match(line))
        if m := _TOC_ROW.match(line):
            toc.append((int(m.group(1)), int(m.group(2)), int(m.group(3))))
        elif tool == "whipper":
            if m := _WHIPPER_SECTION.match(line):
                section, current = m.group(1), None
            elif m := _WHIPPER_TRACK.match(line):
                current = int(m.group(1))
            elif section == "TOC" and current is not None and (m := _WHIPPER_SECTOR.match(line)):
                if m.group(1) == "Start":
                    toc.append((current, int(m.group(2)), int(m.group(2))))
                elif toc and toc[-1][0] == current:
                    toc[-1] = (current, toc[-1][1], int(m.group(2)))
            elif section != "Tracks":
                continue
            elif current is not None and (m := _WHIPPER_CRC.match(line)):
                crcs[current] = m.group(1).upper()
            elif current is not None and (m := _WHIPPER_AR.match(line)):
                ar.setdefault(current, []).append(m.group(1).upper())
        elif tool == "XLD":
            if m := _TRACK_HEADER.match(line):
                current = int(m.group(1))
            elif _XLD_RANGE.match(line):
                current = None
            elif m := _XLD_CRC.match(line):
                if current is None:
                    range_crc = m.group(1).upper()
                else:
                    crcs[current] = m.group(1).upper()
            elif current is not None and (m := _XLD_AR.match(line)):
                ar.setdefault(current, []).append(m.group(1).upper())
        else:  # EAC, read by layout (module docstring)
            if m := _TRACK_HEADER.match(line):
                current = int(m.group(1))
            elif m := _AR_SUMMARY.match(line):
                ar.setdefault(int(m.group(1)), []).append(m.group(2).upper())
            elif current is not None and (m := _BRACKET.search(line)):
                ar.setdefault(current, []).append(m.group(1).upper())
            elif "[" not in line and (m := _CRC_LINE.match(line) or (settings and _BARE_CRC_LINE.match(line))):
                if current is None:
                    range_crc = m.group(1)
                else:
                    crcs[current] = m.group(1)  # the last one wins: the copy CRC follows the test CRC
    return crcs, ar, range_crc, toc


def read_rip_logs(path: str | Path) -> list[RipLog]:
    """Every rip in a log file (any encoding, UTF-16 included), in order, each with its own CRCs and TOC."""
    path = Path(path)
    text, _ = decode_text(path.read_bytes())
    lines = text.splitlines()
    starts = _rip_starts(lines)
    rips = []
    for k, (first, tool) in enumerate(starts):
        stop = starts[k + 1][0] if k + 1 < len(starts) else len(lines)
        crcs, ar, range_crc, toc = _read_rip(lines[first:stop], tool)
        rips.append(RipLog(str(path), tool, crcs, {n: tuple(v) for n, v in ar.items()}, range_crc, tuple(toc),
                           k + 1, len(starts)))  # fmt: skip
    return rips


def rip_log_candidates(cue_path: str | Path) -> list[Path]:
    """Logs that may belong to this sheet: the one with its stem first, then every *.log beside it.

    A log that is a link leading outside the sheet's folder is not one of them: nothing outside the
    folder is read because of what lies in it.
    """
    cue_path = Path(cue_path)
    folder = cue_path.parent.resolve()
    logs = sorted(
        p for p in cue_path.parent.iterdir()
        if p.suffix.lower() == ".log" and p.is_file() and p.resolve().is_relative_to(folder)
    )  # fmt: skip
    same_stem = [p for p in logs if p.stem == cue_path.stem]
    return same_stem + [p for p in logs if p not in same_stem]
