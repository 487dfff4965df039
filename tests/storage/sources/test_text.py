"""Decoding the text of CUE sheets and rip logs: which encoding, and how sure."""

import codecs

import pytest

from storage.sources.text import MIN_CONFIDENCE, decode_text, detect_text, mojibake_score


def test_boms_utf16_without_bom_and_strict_utf8_are_certain():
    assert decode_text(codecs.BOM_UTF8 + "Café".encode()) == ("Café", "utf-8-sig")
    assert decode_text(codecs.BOM_UTF16_LE + "Café".encode("utf-16-le")) == ("Café", "utf-16")
    assert decode_text("Motörhead".encode()) == ("Motörhead", "utf-8")
    sheet = 'TITLE "Кино"\nFILE "a.wav" WAVE\n'
    for encoding in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
        decoded = detect_text(sheet.encode(encoding))
        assert (decoded.text, decoded.encoding, decoded.confidence) == (sheet, encoding, 1.0)


def test_legacy_text_is_detected_with_a_confidence():
    sheet = 'PERFORMER "Pokémon"\nTITLE "Best of"\nFILE "a.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n'
    decoded = detect_text(sheet.encode("cp1252"))  # "Pokémon" is also valid Shift-JIS bytes: "Pok駑on"
    assert decoded.text == sheet and decoded.guessed and decoded.confidence >= MIN_CONFIDENCE
    # Four bytes alone: the detector's first choices are UTF-16 BE ("䍡曩") and EBCDIC ("ä/ÃZ"), which cannot
    # hold a sheet's ASCII keywords, then a tie of code pages: "Café", "Cafť", "Cafķ" are all plausible.
    decoded = detect_text("Café".encode("cp1252"))
    assert decoded.text == "Café" and not decoded.trusted and 0 < decoded.confidence < MIN_CONFIDENCE


@pytest.mark.parametrize(
    "mojibake, clean",
    [
        ("Êèíî", "Кино"),  # cp1251 read as cp1252
        ("Cafщ", "Café"),  # cp1252 read as cp1251
        ("ƒXƒsƒbƒc", "スピッツ"),  # Shift-JIS read as cp1252
        ("Pok駑on", "Pokémon"),  # cp1252 read as Shift-JIS
        ("Sigur R造", "Sigur Rós"),  # cp1252 read as johab
        ("Pokﻠmon", "Pokémon"),  # cp1252 read as an Arabic code page
    ],
)
def test_mojibake_scores_above_zero_and_real_titles_score_zero(mojibake, clean):
    assert mojibake_score(mojibake) > 0
    assert mojibake_score(clean) == 0


def test_real_titles_in_many_scripts_score_zero():
    for title in (
        "«Группа крови»",
        "東京事変「教育」",
        "서태지와 아이들",
        "Ελένη Καραΐνδρου",
        "Dvořák: Slovanské tance",
        "Ágætis byrjun",
        "שלום",
        "Mötley Crüe",
    ):
        assert mojibake_score(title) == 0, title
