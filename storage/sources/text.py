"""Text of CUE sheets and rip logs: which encoding it is in, and how sure that is.

    decoded = detect_text(Path("Album.cue").read_bytes())
    decoded.text, decoded.encoding, decoded.confidence        # ("PERFORMER ...", "koi8_r", 1.0)
    decoded.trusted                                           # False: keep the audio, leave the tags empty

Unicode is recognised for certain: a byte-order mark, UTF-16/UTF-32 without one (CUE keywords are
ASCII, so every other byte, or three in four, is zero), or strict UTF-8. Anything else is a legacy code
page (EAC writes sheets in the system's ANSI code page: cp1252, cp1250, cp1251, cp932, GB18030, KOI8-R
…), which charset-normalizer detects from the bytes' statistics. Short sheets can fool a statistical
detector, so its choice is also checked for mojibake (`mojibake_score`: script mixtures no real title
has). A choice that shows mojibake gets confidence 0, and the caller must not use the text as tags.
Latin code pages the detector cannot tell apart are told by which reading one language's alphabet
explains best (`storage.sources.alphabets`), and a tie goes to cp1252, what a Western ripper wrote.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

from storage.sources.alphabets import is_latin_text, language_fit

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts with UTF-16 LE's
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
UNICODE_ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be")
# Below this, a decoding's text is not trusted as tags (titles, names): see DecodedText.trusted.
MIN_CONFIDENCE = 0.8


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str  # Python codec name; "unknown" when nothing decoded it
    confidence: float  # 1.0 for Unicode; for a legacy code page, 1 - charset-normalizer's "chaos", or 0

    @property
    def trusted(self) -> bool:
        return self.confidence >= MIN_CONFIDENCE

    @property
    def guessed(self) -> bool:
        return self.encoding not in UNICODE_ENCODINGS


def _script(ch: str) -> str:
    """A script class for mojibake scoring: ascii, bad, symbol, latin, or a script's Unicode name."""
    o = ord(ch)
    if o < 0x80:
        return "ascii"
    if 0x80 <= o <= 0x9F or 0xE000 <= o <= 0xF8FF or 0xFF61 <= o <= 0xFF9F or o == 0xFFFD:
        return "bad"  # C1 controls, private use, half-width katakana: what a wrong code page produces
    if 0x3000 <= o <= 0x30FF or 0x3400 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0xFF00 <= o <= 0xFF60:
        return "cjk"  # CJK punctuation, kana, ideographs, full-width forms
    if 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
        return "hangul"
    if not unicodedata.category(ch).startswith("L"):
        return "symbol"
    if o <= 0x024F or 0x1E00 <= o <= 0x1EFF:
        return "latin"
    return unicodedata.name(ch, "OTHER").split()[0].lower()  # cyrillic, greek, hebrew, thai, arabic, …


def mojibake_score(text: str) -> int:
    """How implausible `text` is as real titles: 0 for clean text, higher for what a wrong code page gives.

    - characters no real title has (C1 controls, private use, half-width katakana): 10 each;
    - a word mixing Cyrillic with Latin ("Cafщ" is cp1252 "Café" read as cp1251): 5;
    - three or more accented Latin letters or symbols in a row ("Êèíî" is cp1251 "Кино" read as cp1252): 3;
    - a run of non-ASCII characters mixing scripts, or a script with symbols ("“Œ‹žŽ" is Shift-JIS read
      as cp1252): 3;
    - a letter of another script wedged into a Latin word ("Pok駑on", "Sigur R造", "Pokﻠmon"): 5;
    - punctuation inside a word of one non-Latin script ("л…ќѕ"): 3; a combining mark with no letter before
      it ("๋ษฮฯ"): 5 each;
    - "ƒ", or "‚" glued to a character: Shift-JIS kana lead bytes read as cp1252: 3 each.
    """
    score = 0
    for ch in text:
        if _script(ch) == "bad":
            score += 10
    for word in re.findall(r"[^\W\d_]+", text):
        scripts = {_script(c) for c in word}
        if "cyrillic" in scripts and ({"ascii", "latin"} & scripts):
            score += 5
    for run in re.findall(r"[^\x00-\x7f]+", text):
        scripts = {_script(c) for c in run}
        letters = scripts - {"symbol"}
        if len(letters) == 1 and letters != {"latin"}:
            # One non-Latin script with punctuation around it («Кино», 東京事変, 서태지, Ελένη), but not
            # inside a word ("л…ќѕ" is KOI8-R read as Mac Cyrillic); "·" joins transliterated names and
            # CJK punctuation (「」、) sits between ideographs.
            if re.search(r"[^\W\d_][^\w\s·\u3000-\u303f\uff00-\uffef]+[^\W\d_]", run):
                score += 3
            continue
        if len(run) >= 3 and scripts <= {"latin", "symbol"}:
            score += 3
        elif len(letters) > 1:
            score += 3
    for match in re.finditer(r"(?<=[A-Za-z])[^\x00-\x7f]+(?=[A-Za-z]|\b)", text):
        if {_script(c) for c in match.group()} - {"latin", "symbol"}:
            score += 5
    # A combining mark with no letter before it ("๋ษฮฯ" is KOI8-R read as Thai, "ًةخد" as Arabic).
    score += 5 * len(
        re.findall(r"(?:^|[^\w])[\u0300-\u036f\u0591-\u05c7\u064b-\u065f\u0e31\u0e34-\u0e3a\u0e47-\u0e4e]", text)
    )
    # Shift-JIS lead bytes 0x82 (hiragana) and 0x83 (katakana) read as cp1252: "‚" glued to the next
    # character, and "ƒ", which no real title contains ("スピッツ" becomes "ƒXƒsƒbƒc").
    score += 3 * (text.count("ƒ") + len(re.findall(r"‚\S", text)))
    return score


def _unicode_without_bom(data: bytes) -> str | None:
    """UTF-32/UTF-16 (LE or BE) told from where the zero bytes of mostly-ASCII text fall."""
    for encoding, width in (("utf-32-le", 4), ("utf-32-be", 4), ("utf-16-le", 2), ("utf-16-be", 2)):
        if len(data) < 2 * width or len(data) % width:
            continue
        units = [data[i : i + width] for i in range(0, len(data), width)]
        # An ASCII character: its one non-zero byte first (little-endian) or last (big-endian).
        low, high = (slice(0, 1), slice(1, None)) if encoding.endswith("le") else (slice(-1, None), slice(0, -1))
        ascii_units = sum(1 for u in units if any(u[low]) and not any(u[high]))
        if ascii_units >= 0.5 * len(units):
            try:
                return encoding if data.decode(encoding) else None
            except UnicodeDecodeError:
                continue
    return None


_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def _ascii_compatible(encoding: str) -> bool:
    try:
        return _PRINTABLE_ASCII.decode(encoding).encode("ascii") == _PRINTABLE_ASCII
    except (UnicodeError, LookupError):
        return False


def detect_text(data: bytes) -> DecodedText:
    """The text of a CUE sheet or rip log, its encoding and how sure that is (see the module docstring)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return DecodedText(data.decode(encoding), encoding, 1.0)
            except UnicodeDecodeError:
                break
    if b"\x00" in data and (encoding := _unicode_without_bom(data)):
        return DecodedText(data.decode(encoding), encoding, 1.0)
    try:
        return DecodedText(data.decode("utf-8"), "utf-8", 1.0)
    except UnicodeDecodeError:
        pass
    return _legacy(data)


# What a Western ripper writes: a sheet that is not Unicode is in the ripper's Windows ANSI code page
# (dBpoweramp's manual says so of its sheets; EAC and foobar2000 are reported to do the same), which on
# Western systems is cp1252 (a superset of Latin-1's printable characters).
WESTERN = "cp1252"
MAX_CHAOS = 0.2  # charset-normalizer's own default threshold for a plausible reading


@dataclass(frozen=True)
class _Reading:
    text: str
    encoding: str
    chaos: float  # charset-normalizer's "mess" ratio, 0 for clean text


def _legacy(data: bytes) -> DecodedText:
    """A legacy code page: the detector's readings, checked for mojibake, ties broken by language fit.

    - The detector's first reading, when clean and not Latin (Cyrillic, Greek, CJK …), is taken as is.
    - Otherwise every clean Latin reading the detector finds plausible (chaos at most MAX_CHAOS), and the
      cp1252 reading, compete: the one whose accented letters one language's alphabet explains best wins
      (`alphabets.language_fit`; the detector's small chaos differences do not tell "luhů" from "luhł").
      A tie goes to cp1252, what a Western ripper wrote (WESTERN), with confidence 1 - chaos; so does a
      clear winner. A tie without
      cp1252 shares the confidence among the tied readings, which leaves it below the threshold.
      Known limit: a Turkish (cp1254) name whose cp1252 reading is Icelandic letters ("Şımarık" read as
      "Þýmarýk") is read as cp1252: no alphabet tells them apart, and the Western reading is far likelier.
    - Readings that give the same text are one reading, named cp1252 when that is one of them.
    """
    from charset_normalizer import from_bytes  # imported here: only legacy text needs it

    # Sheets and logs are ASCII keywords around the names, so only ASCII-compatible code pages qualify:
    # on a few bytes the detector can prefer UTF-16 ("Café" in cp1252 as "䍡曩") or EBCDIC (as "ä/ÃZ").
    readings = [_Reading(str(m), m.encoding, m.chaos) for m in from_bytes(data) if _ascii_compatible(m.encoding)]
    western = _western_reading(data, readings)
    if not readings and western is None:
        return DecodedText(data.decode("cp1252", errors="replace"), "unknown", 0.0)
    best = readings[0] if readings else western
    if mojibake_score(best.text) == 0 and not is_latin_text(best.text):
        return DecodedText(best.text, best.encoding, round(1.0 - best.chaos, 3))
    clean = [r for r in readings + ([western] if western else []) if mojibake_score(r.text) == 0]
    latin = [r for r in clean if is_latin_text(r.text) and r.chaos <= MAX_CHAOS]
    if not latin:
        if not clean:
            return DecodedText(best.text, best.encoding, 0.0)
        # Only other scripts read cleanly: among the detector's equally good readings (its best's chaos) the
        # first clean one, its confidence shared among the different readings.
        equal = [r for r in clean if r.chaos <= best.chaos] or clean
        n_readings = len({r.text for r in equal})
        return DecodedText(equal[0].text, equal[0].encoding, round((1.0 - equal[0].chaos) / n_readings, 3))
    texts: dict[str, _Reading] = {}
    for r in latin:
        if r.text not in texts or r.encoding == WESTERN:
            texts[r.text] = r
    fits = {text: language_fit(text) for text in texts}
    top = max(fits.values())
    tied = [texts[t] for t in texts if fits[t] == top]
    chosen = next((r for r in tied if r.encoding == WESTERN), tied[0])
    confidence = 1.0 - chosen.chaos
    if len(tied) > 1 and chosen.encoding != WESTERN:
        confidence /= len(tied)
    return DecodedText(chosen.text, chosen.encoding, round(confidence, 3))


def _western_reading(data: bytes, readings: list[_Reading]) -> _Reading | None:
    """The cp1252 reading of the bytes (None where a byte is undefined in cp1252), with the detector's chaos."""
    try:
        text = data.decode(WESTERN)
    except UnicodeDecodeError:
        return None
    same = [r.chaos for r in readings if r.text == text]
    if same:
        return _Reading(text, WESTERN, min(same))
    from charset_normalizer import from_bytes

    match = from_bytes(data, cp_isolation=[WESTERN]).best()
    return _Reading(text, WESTERN, match.chaos if match is not None else 1.0)


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding) of a CUE sheet or rip log; see `detect_text` for how sure it is."""
    decoded = detect_text(data)
    return decoded.text, decoded.encoding
