"""How well one language's alphabet explains the accented letters of a text: a tie-breaker between code pages.

    language_fit("Più città, perché")      # 1.0: Italian has ù, à, é
    language_fit("Piů cittŕ, perché")      # 0.67: no one alphabet has ů, ŕ and é

Short Western texts decode cleanly in several single-byte code pages (cp1252 "Dvořák" bytes read as
"Dvoøák", cp1252 "città" read in cp1250 as "cittŕ"), and a statistical detector often ties them. The
right reading is the one whose non-ASCII letters one language writes. Letters are those of each
language's standard alphabet (Unicode CLDR exemplar characters, main set), for the languages whose
text the Windows single-byte Latin code pages carry; Vietnamese is left out (cp1258 writes its tones as
combining marks, and its many precomposed vowels would explain almost any mojibake).
"""

from __future__ import annotations

import re
import unicodedata

_ALPHABETS = {
    # cp1252 / ISO-8859-1 (and -15)
    "ca": "àçéèíïòóúü·",
    "da": "åæéø",
    "de": "äöüß",
    "es": "áéíñóúü",
    "et": "äõöüšž",
    "fi": "äåöšž",
    "fo": "áðíóúýæø",
    "fr": "àâæçéèêëîïôœùûüÿ",
    "is": "áðéíóúýþæö",
    "it": "àèéìíîòóùú",
    "nl": "áéèëíïóöúü",
    "no": "åæéøóòô",
    "pt": "áàâãçéêíóôõú",
    "sv": "åäéö",
    # cp1250 / ISO-8859-2
    "cs": "áčďéěíňóřšťúůýž",
    "hr": "čćđšž",
    "hu": "áéíóöőúüű",
    "pl": "ąćęłńóśźż",
    "ro": "ăâîșțşţ",
    "sk": "áäčďéíĺľňóôŕšťúýž",
    "sl": "čšž",
    "sq": "çë",
    # cp1257 / ISO-8859-13
    "lt": "ąčęėįšųūž",
    "lv": "āčēģīķļņšūž",
    # cp1254 / ISO-8859-9
    "tr": "âçğıîöşûü",
}
_GLUED = re.compile(r"(?<=[^\W\d_])[^\w\s]|[^\w\s](?=[^\W\d_])")  # a non-word character touching a letter
_INSIDE = re.compile(r"(?<=[^\W\d_])[^\w\s](?=[^\W\d_])")  # … between two letters
_JOINERS = "’'·\u00ad"  # apostrophe, Catalan middle dot, soft hyphen: at home inside words


def _is_latin_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L") and "LATIN" in unicodedata.name(ch, "")


def is_latin_text(text: str) -> bool:
    """Whether the text has non-ASCII characters and no letter of a script other than Latin among them."""
    letters = [c for c in text if ord(c) > 0x7F and unicodedata.category(c).startswith("L")]
    return not text.isascii() and all(_is_latin_letter(c) for c in letters)


def language_fit(text: str) -> float:
    """Share of the text's accented letters that the best-fitting language writes (1.0 with none).

    A non-ASCII symbol glued to a letter ("Zespó³", "£¹ka": cp1250 Polish read as cp1252), or punctuation
    inside a word ("Mot—rhead": cp1252 read as HP Roman-8), counts as a letter no language writes;
    other punctuation (’ « ») does not count.
    """
    letters = [c.lower() for c in text if ord(c) > 0x7F and unicodedata.category(c).startswith("L")]
    glued = [m.group() for m in _GLUED.finditer(text) if ord(m.group()) > 0x7F]
    glued = [c for c in glued if unicodedata.category(c)[0] in "SN"]
    glued += [m.group() for m in _INSIDE.finditer(text) if ord(m.group()) > 0x7F and m.group() not in _JOINERS
              and unicodedata.category(m.group())[0] == "P"]  # fmt: skip
    total = len(letters) + len(glued)
    if total == 0:
        return 1.0
    return max(sum(c in alphabet for c in letters) for alphabet in _ALPHABETS.values()) / total
