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
    # hold a sheet's ASCII keywords, then a tie of code pages ("Café", "Cafť", "Cafķ"): cp1252 wins the tie.
    decoded = detect_text("Café".encode("cp1252"))
    assert (decoded.text, decoded.encoding) == ("Café", "cp1252") and decoded.trusted


T = 'PERFORMER "{}"\nTITLE "{}"\nFILE "a.wav" WAVE\n  TRACK 01 AUDIO\n    TITLE "{}"\n    INDEX 01 00:00:00\n'
# Every legacy-encoding case the project holds (test_cue's sheets too), with the code page expected.
WESTERN_AND_OTHERS = [
    # Issue 32: short ISO-8859-1 Italian was read as a Baltic/Central European code page.
    (("Lucio Battisti", "Più città", "Perché è così, ò à ç, 33°"), "latin-1", "cp1252"),
    (("Lucio Dalla", "L'anno che verrà", "Caruso"), "latin-1", "cp1252"),
    # Issue 32: a Windows-1252 sheet was reported as Windows-1250 (the same text).
    (("Françoise Hardy", "Tous les garçons et les filles", "Le temps de l’amour"), "cp1252", "cp1252"),
    (("Édith Piaf", "La vie en rose", "Café"), "cp1252", "cp1252"),
    (("Motörhead", "Überkill", "Señor"), "cp1252", "cp1252"),  # HP Roman-8 read "Mot—rhead": dash in a word
    (("Sigur Rós", "Ágætis byrjun", "Svefn-g-englar"), "cp1252", "cp1252"),  # the detector offers only CJK
    (("Dvořák", "Slovanské tance", "Furiant"), "cp1250", "cp1250"),  # cp1252 "Dvoøák": no one alphabet
    (("Smetana", "Z českých luhů a hájů", "Vltava"), "cp1250", "cp1250"),
    (("Zespół", "Piosenki źródlane", "Łąka"), "cp1250", "cp1250"),  # cp1252 "Zespó³", "£¹ka": symbols in words
    (("Erkel", "Gödöllő Szőlő", "Műegyetem"), "cp1250", "cp1250"),
    (("Jūratė", "Žalgiris", "Ąžuolas"), "cp1257", "cp1257"),
    (("Кино", "Группа крови", "Закрой за мной дверь"), "cp1251", "cp1251"),
    (("Кино", "Группа крови", "Звезда по имени Солнце"), "koi8-r", "koi8_r"),
    (("スピッツ", "ハチミツ", "ヒバリ"), "cp932", "cp932"),
    (("王菲", "只爱陌生人", "红豆"), "gb18030", "gb18030"),
]


@pytest.mark.parametrize(
    "names, written, expected", WESTERN_AND_OTHERS, ids=[c[1] + "-" + c[0][0] for c in WESTERN_AND_OTHERS]
)
def test_every_legacy_encoding_case_decodes_right_and_trusted(names, written, expected):
    data = T.format(*names).encode(written)
    decoded = detect_text(data)
    assert (decoded.text, decoded.encoding) == (data.decode(written), expected)
    assert decoded.trusted


def test_every_fixture_text_decodes_with_certainty():
    # The peers' sheets and logs the project holds (stored as UTF-8; their own encodings are in the README).
    from pathlib import Path

    fixtures = Path(__file__).parent / "fixtures"
    paths = sorted(p for p in fixtures.rglob("*") if p.suffix in (".cue", ".log"))
    assert len(paths) > 30
    for path in paths:
        decoded = detect_text(path.read_bytes())
        assert decoded.text == path.read_text(encoding="utf-8") and decoded.confidence == 1.0, path.name


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
