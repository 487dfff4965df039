"""The disc code against other CD projects' public test fixtures (origins and licences: fixtures/README.md).

CUETools' test images give sheets, rip logs and the TOCs and AccurateRip IDs CUETools computes from them;
Logchecker's logs are EAC logs in several languages and vintages; whipper's, xiph/flac's and libcue's
sheets are what their parsers accept or refuse.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.sources.cue import SAMPLES_PER_FRAME, CueError, Disc, msf_to_frames, parse_cue
from storage.sources.cue_sheet import read_cue
from storage.sources.discid import (
    DiscToc,
    TocTrack,
    accuraterip_disc_id,
    freedb_disc_id,
    musicbrainz_disc_id,
    toc_with_log,
)
from storage.sources.layout import lay_out_disc
from storage.sources.riplog import read_rip_logs

FIXTURES = Path(__file__).parent / "fixtures"


def dummy_lengths(disc: Disc) -> list[int]:
    """Samples in each FILE: a CUETools .dummy holds "m:ss:ff" or a sample count; a missing file has none."""
    lengths = []
    for f in disc.files:
        text = "" if f.missing else f.path.read_text().strip()
        lengths.append(0 if f.missing else int(text) if text.isdigit() else msf_to_frames(text) * SAMPLES_PER_FRAME)
    return lengths


def cuetools_toc(toc: DiscToc) -> str:
    """A TOC written as CUETools' CDImageLayout.ToString(): starts ("-" for data), then the lead-out."""
    return ":".join(("" if t.audio else "-") + str(t.start_sector) for t in toc.tracks) + f":{toc.leadout_sector}"


# Expected values: CUETools.TestProcessor/ProcessorTest.cs (OpenCDExtra, OpenEnhancedCD, OpenOneTrackCD).
LMCO = "Les Mysterieuses Cites d'Or"
LMCO_TOC = ("-0:-31952:127883:137816:149173:160223:171479:180777:186738:196134:205613:214526:221674:227031:232824"
            ":239376:249495:259604:266115:267080:275100:281599:284452:291422:295511:297642:302114:309263:312269"
            ":320051:326235:333841")  # fmt: skip
CUETOOLS = [
    ("Circuitry/1.cue", "Circuitry/1.log", "-0:37001:70001:99814:126819:160976", None),  # data track 1, MODEx/2xxx
    ("Headcandy/Headcandy.cue", "Headcandy/Headcandy.log", "-0:141942:168581:223645:248699:279575:312824", None),
    ("Anatomy/Anatomy.cue", "Anatomy/Anatomy.log",  # the sheet leaves the data track out and numbers audio 1..16
     "-0:19687:33144:50680:69872:89822:108084:132098:150625:166271:194882:200172:215884:236046:242815:269518"
     ":282018:293416", None),
    ("No Man's Land/1.cue", "No Man's Land/1.log", None, "0015c42c-00d1e13f-ba0fe50d"),  # Russian log, enhanced CD
    ("Amarok/Amarok.cue", None, None, "00041f6d-00083ece-020e1201"),
    # Two data tracks before the audio (MODEx/2xxx placeholders, the first with INDEX 01, the second only INDEX 00).
    (f"{LMCO}/{LMCO}.cue", f"{LMCO}/2.log", LMCO_TOC, None),
    # The same disc's audio-only sheet (numbered 1..29): not in ProcessorTest, the same log gives the same TOC.
    (f"{LMCO}/2.cue", f"{LMCO}/2.log", LMCO_TOC, None),
]  # fmt: skip


@pytest.mark.parametrize("cue, log, expected_toc, expected_ar", CUETOOLS, ids=[c[0].split("/")[0] for c in CUETOOLS])
def test_cuetools_images_give_cuetools_tocs_and_accuraterip_ids(cue, log, expected_toc, expected_ar):
    disc = read_cue(FIXTURES / "cuetools" / cue)
    toc = lay_out_disc(disc, dummy_lengths(disc)).toc
    if log is not None:
        (rip,) = read_rip_logs(FIXTURES / "cuetools" / log)
        toc = toc_with_log(toc, rip.toc)  # the data track's place comes from the log's TOC
    if expected_toc is not None:
        assert cuetools_toc(toc) == expected_toc
    if expected_ar is not None:
        assert accuraterip_disc_id(toc).split("-", 1)[1] == expected_ar  # CUETools omits our "nnn-" count


@pytest.mark.parametrize("cue, log, discid", [("Headcandy/Headcandy.cue", "Headcandy/Headcandy.log", "62104A06"),
                                              (f"{LMCO}/{LMCO}.cue", f"{LMCO}/2.log", "F211631F")])  # fmt: skip
def test_freedb_id_from_the_log_toc_matches_the_sheets_rem_discid(cue, log, discid):
    # EAC wrote REM DISCID from the disc's own TOC, data tracks included.
    disc = read_cue(FIXTURES / "cuetools" / cue)
    (rip,) = read_rip_logs(FIXTURES / "cuetools" / log)
    toc = toc_with_log(lay_out_disc(disc, dummy_lengths(disc)).toc, rip.toc)
    assert freedb_disc_id(toc).upper() == disc.rem["DISCID"] == discid


def test_cuetools_logs_read_crcs_accuraterip_and_range_crcs():
    (xld,) = read_rip_logs(FIXTURES / "cuetools/Circuitry/1.log")  # XLD: "AccurateRip signature" (no v1/v2)
    assert xld.tool == "XLD" and xld.crc32[2] == "C5385687" and xld.accuraterip[5] == ("96CAD6B0",)
    (headcandy,) = read_rip_logs(FIXTURES / "cuetools/Headcandy/Headcandy.log")
    assert headcandy.crc32 == {2: "F1AC5604", 3: "9462FF86", 4: "7120F46D", 5: "EAF2BDBD", 6: "9B7916AC"}
    assert headcandy.accuraterip[2] == ("EBD1B9B4",)  # the first bracket: EAC's, not the database's
    (anatomy,) = read_rip_logs(FIXTURES / "cuetools/Anatomy/Anatomy.log")  # range rip, "Copy_CRC"
    assert anatomy.range_crc32 == "900B46C9" and anatomy.crc32 == {}
    assert anatomy.accuraterip[3] == ("ABFDCBE5",) and len(anatomy.accuraterip) == 14
    (russian,) = read_rip_logs(FIXTURES / "cuetools/No Man's Land/1.log")  # "CRC копии", "TOC извлечённого CD"
    assert russian.tool == "EAC" and russian.range_crc32 == "BFBC4E1C" and russian.toc[-1] == (13, 242550, 305248)


# Logchecker's EAC logs: copy CRCs by track, whatever the language (all values from the logs themselves;
# Logchecker's tests/logs/eac/details/*.json "checksum" field is the log's EAC signature, not a CRC).
LOGCHECKER = [
    ("jp_1.log", 13, {1: "60E2124E", 13: "F5C76AE7"}, None),  # コピーCRC
    ("cs_1.log", 11, {1: "194F7881", 11: "1A1C92A3"}, None),  # CRC kopie
    ("ko_1.log", 7, {1: "D511886D", 7: "D1BBD9F7"}, None),  # 복사 CRC; EAC before 0.99 ("EAC 추출 로그 파일")
    ("eac_95_1.log", 14, {1: "18C66FA4", 14: "17EE74AD"}, None),  # "EAC extraction logfile", EAC 0.95
    # Polish range rip: "Suma kontrolna" is EAC's string 1219 (English "CRC", the range's CRC) in Logchecker's
    # pl.json; its details say "checksum_missing" because a log before 0.99 has no signature.
    ("pl_1.log", 0, {}, "E6972C48"),
    # Spaces stripped from every line: Logchecker reads a range rip (its signature then fails: checksum_invalid).
    ("range_rip_no_space_before_filename.log", 0, {}, "8CB5CC70"),
    # "Track" replaced by "user" everywhere. Deliberate difference: Logchecker grades logs and rejects this one
    # ("Invalid log, no tracks!"); LadLe reads logs by layout only to compare CRCs with audio it split
    # itself, where a matching CRC verifies the audio whatever the labels say.
    ("invalid_track_separator.log", 3, {1: "814CB963", 2: "6C24A712", 3: "DDE10390"}, None),
    (
        "Les Mysterieuses Cites d'Or/2.log",
        6,
        {3: "5B513BDC", 31: "DB2EFF8C"},
        None,
    ),  # CUETools' log, cut by "<<<snip>>>"
]


@pytest.mark.parametrize("name, n_tracks, some_crcs, range_crc", LOGCHECKER, ids=[c[0] for c in LOGCHECKER])
def test_logchecker_logs_in_other_languages_and_old_versions(name, n_tracks, some_crcs, range_crc):
    folder = "cuetools" if name.startswith("Les") else "logchecker"
    (rip,) = read_rip_logs(FIXTURES / folder / name)
    assert rip.tool == "EAC"
    assert len(rip.crc32) == n_tracks and some_crcs.items() <= rip.crc32.items()
    assert rip.range_crc32 == range_crc


def test_logchecker_range_rip_without_spaces_keeps_its_toc():
    (rip,) = read_rip_logs(FIXTURES / "logchecker/range_rip_no_space_before_filename.log")
    assert rip.toc == ((1, 37, 22386), (2, 22387, 43836), (3, 43837, 65961)) and rip.accuraterip == {}


def test_logchecker_combined_log_keeps_its_rips_apart():
    first, second = read_rip_logs(FIXTURES / "logchecker/combined_1_first_two_rips.log")
    assert (first.rip, second.rip, first.n_rips) == (1, 2, 2)
    # Rip 1 copied eight tracks (3 and 10 aborted); rip 2 retried track 3 and aborted again.
    assert sorted(first.crc32) == [1, 2, 4, 5, 6, 7, 8, 9] and second.crc32 == {}
    assert first.accuraterip[2] == ("86B01960",) and len(first.toc) == len(second.toc) == 10


def test_logchecker_whipper_log_toc_crcs_and_accuraterip():
    (rip,) = read_rip_logs(FIXTURES / "logchecker/whipper_0_9_0_first_two_tracks.log")
    assert rip.tool == "whipper" and rip.crc32 == {1: "ADDCC3B5", 2: "995ED6F3"}
    assert rip.accuraterip == {1: ("76E259B3", "2AE8E1FD"), 2: ("27825540",)}  # YAML quotes an all-digit CRC
    assert len(rip.toc) == 12 and rip.toc[0] == (1, 0, 19000) and rip.toc[-1] == (12, 200088, 220511)
    # The log's own MusicBrainz disc ID, from its TOC.
    toc = DiscToc(tuple(TocTrack(n, first) for n, first, _ in rip.toc), rip.toc[-1][2] + 1)
    assert musicbrainz_disc_id(toc) == "wIouaFuUciVX2jtd_fY_U2gNtns-"


def test_whipper_kanye_enhanced_cd_sheet_with_eac_placeholder_data_track(tmp_path):
    # TRACK 13 MODEx/2xxx with only INDEX 00: EAC's enhanced-CD sheet. It used to stop on "unknown track type".
    disc = parse_cue((FIXTURES / "whipper/kanye.cue").read_text(), tmp_path, "kanye.cue")
    assert len(disc.tracks) == 13 and [t.is_audio for t in disc.tracks] == [True] * 12 + [False]
    data = disc.tracks[-1]
    assert data.is_placeholder and data.index(1) is None and data.index(0).frames == msf_to_frames("06:01:45")
    assert disc.files[0].path == tmp_path / "Kanye West - 808s & Heartbreak" / "Kanye West - Say You Will.wav"
    # Laid out with made-up file lengths: 12 audio tracks end at the placeholder's INDEX 00; the data
    # track is left out of the TOC (no log places it), so MusicBrainz's lead-out is the audio's end.
    lengths = [7 * 60 * 75 * SAMPLES_PER_FRAME] * len(disc.files)
    layout = lay_out_disc(disc, lengths)
    assert [s.track.number for s in layout.spans] == list(range(1, 13))
    assert layout.spans[-1].stop == sum(lengths[:-1]) + msf_to_frames("06:01:45") * SAMPLES_PER_FRAME
    assert [t.number for t in layout.toc.tracks] == list(range(1, 13))
    assert any("placeholder" in n for n in layout.notes)


FLAC_BAD = {  # xiph/flac test/cuesheets: each bad sheet and the reason we give
    "bad.060.INDEX_wrong_place.cue": "INDEX before any TRACK",
    "bad.064.INDEX_num_non_sequential.cue": "INDEX 00 follows INDEX 01",
    "bad.066.INDEX_missing_offset.cue": "is not mm:ss:ff",
    "bad.067.INDEX_illegal_offset.cue": "is not mm:ss:ff",
    "bad.070.INDEX_offset_not_ascending_1.cue": "INDEX 03 .* is before INDEX 02",
    "bad.071.INDEX_offset_not_ascending_2.cue": "INDEX 01 .* of TRACK 02 is before INDEX 02 of TRACK 01",
    "bad.130.TRACK_missing_INDEX_01_1.cue": "TRACK 01 has no INDEX 01",
    "bad.135.TRACK_invalid_number_1.cue": "line 2",
    "bad.138.TRACK_num_non_sequential.cue": "TRACK 01 follows TRACK 02",
    "bad.139.TRACK_missing_type.cue": "unknown track type",
    "bad.140.no_TRACKs.cue": "no TRACK command",
}
# Not applied (this parser is deliberately lenient where real rippers' sheets are): FLAC's CATALOG and
# ISRC format checks (bad.00x, bad.11x), FLAGS placement (bad.03x) and its REM FLAC__lead-in/out (bad.2xx).
# Deliberate differences, accepted with a warning: a track whose only index is not INDEX 01 (bad.063,
# bad.131), because libcue reads a track's first index as its start and real sheets have such tracks;
# FLAC refuses them, as it must store a CD-DA CUESHEET block to the Red Book's letter.
FLAC_LENIENT = {"bad.063.first_INDEX_not_0_or_1.cue": 2, "bad.131.TRACK_missing_INDEX_01_2.cue": 0}


@pytest.mark.parametrize("name", sorted(FLAC_BAD))
def test_xiph_flac_bad_sheets_are_refused_with_a_reason(name):
    with pytest.raises(CueError, match=FLAC_BAD[name]):
        parse_cue((FIXTURES / "flac" / name).read_text(), FIXTURES / "flac", name)


@pytest.mark.parametrize("name", sorted(FLAC_LENIENT))
def test_xiph_flac_sheets_without_index_01_start_at_their_only_index(name):
    disc = parse_cue((FIXTURES / "flac" / name).read_text(), FIXTURES / "flac", name)
    assert disc.tracks[0].index(1).frames == 0
    assert disc.warnings == (
        f"line 2: TRACK 01 has no INDEX 01: it starts at its INDEX {FLAC_LENIENT[name]:02d} (00:00:00)",
    )


def test_xiph_flac_good_sheet_and_libcue_sheets_parse():
    disc = parse_cue((FIXTURES / "flac/good.000.cue").read_text(), FIXTURES, "good.000.cue")
    assert [(t.number, t.index(1).frames) for t in disc.tracks] == [(1, 0)]
    # libcue t/single_idx_00.c: no indentation, no final newline, hidden track one audio before INDEX 01.
    disc = parse_cue((FIXTURES / "libcue/single_idx_00.cue").read_text(), FIXTURES, "single_idx_00.cue")
    assert (disc.performer, disc.title) == ("Bloc Party", "Silent Alarm")
    assert [(t.title, t.index(0).frames, t.index(1).frames) for t in disc.tracks] == [
        ("Like Eating Glass", 0, msf_to_frames("03:22:70")), ("Helicopter", msf_to_frames("07:42:69"), msf_to_frames("07:44:69"))]  # fmt: skip
    # libcue t/noncompliant.c: track 2's pregap lies in track 1's file, its INDEX 01 in the next file.
    disc = parse_cue((FIXTURES / "libcue/noncompliant.cue").read_text(), FIXTURES, "noncompliant.cue")
    two = disc.tracks[1]
    assert (two.title, two.index(0).file_index, two.index(1).file_index, len(disc.files)) == (
        "Rudi, A Message To You",
        0,
        1,
        2,
    )
