import codecs

import pytest

from storage.sources.cue import CueError, frames_to_msf, msf_to_frames, parse_cue
from storage.sources.cue_sheet import read_cue, referenced_files

FULL_SHEET = """\
REM GENRE "Progressive Rock"
REM DATE 1973
REM DISCID 2B0A1E03
REM COMMENT "ExactAudioCopy v1.6"
CATALOG 0724382975526
PERFORMER "The Band"
TITLE "An Album"
SONGWRITER "Writer"
FILE "Range image.wav" WAVE
  TRACK 01 AUDIO
    TITLE "First"
    PERFORMER "Soloist"
    ISRC GBAYE7300001
    FLAGS DCP PRE
    INDEX 01 00:00:00
  TRACK 02 AUDIO
    TITLE "Second"
    REM COMPOSER "Someone"
    INDEX 00 03:10:70
    INDEX 01 03:12:00
    INDEX 02 04:00:00
  TRACK 03 AUDIO
    TITLE "Third"
    PREGAP 00:02:00
    INDEX 01 07:45:12
    POSTGAP 00:01:00
"""


def test_full_sheet_parses_into_typed_records(tmp_path):
    disc = parse_cue(FULL_SHEET, tmp_path, "album.cue")
    assert (disc.title, disc.performer, disc.songwriter, disc.catalog) == (
        "An Album",
        "The Band",
        "Writer",
        "0724382975526",
    )
    assert disc.rem == {
        "GENRE": "Progressive Rock",
        "DATE": "1973",
        "DISCID": "2B0A1E03",
        "COMMENT": "ExactAudioCopy v1.6",
    }
    assert [(f.name, f.file_type, f.path) for f in disc.files] == [
        ("Range image.wav", "WAVE", tmp_path / "Range image.wav")
    ]
    one, two, three = disc.tracks
    assert (one.number, one.title, one.performer, one.isrc, one.flags) == (
        1,
        "First",
        "Soloist",
        "GBAYE7300001",
        ("DCP", "PRE"),
    )
    assert [(i.number, i.frames) for i in two.indexes] == [
        (0, (3 * 60 + 10) * 75 + 70),
        (1, (3 * 60 + 12) * 75),
        (2, 4 * 60 * 75),
    ]
    assert two.rem == {"COMPOSER": "Someone"} and two.performer is None
    assert (three.pregap_frames, three.postgap_frames, three.index(1).frames) == (150, 75, (7 * 60 + 45) * 75 + 12)
    assert all(t.is_audio and t.session == 1 for t in disc.tracks)
    assert disc.notes == ()  # REM, CATALOG, FLAGS, ISRC, SONGWRITER… are all known commands


def test_times_convert_both_ways():
    assert msf_to_frames("00:00:00") == 0
    assert msf_to_frames("01:02:03") == (62 * 75) + 3
    assert msf_to_frames("120:00:00") == 120 * 60 * 75  # long images exceed 99 minutes
    assert frames_to_msf(62 * 75 + 3) == "01:02:03"
    for bad in ("00:60:00", "00:00:75", "1:2", "aa:bb:cc"):
        with pytest.raises(ValueError):
            msf_to_frames(bad)


def test_unquoted_names_lowercase_commands_and_unknown_commands(tmp_path):
    sheet = "file My Image.flac WAVE\nFROBNICATE yes\n  track 1 audio\n    title Plain words\n    index 1 0:00:00\n"
    disc = parse_cue(sheet, tmp_path, "x.cue")
    assert disc.files[0].name == "My Image.flac"
    assert (disc.tracks[0].title, disc.tracks[0].index(1).frames) == ("Plain words", 0)
    assert disc.notes == ("line 2: unknown command 'FROBNICATE' ignored",)


def test_data_tracks_and_sessions(tmp_path):
    sheet = (
        'FILE "mixed.bin" BINARY\n  TRACK 01 MODE1/2352\n    INDEX 01 00:00:00\n'
        "  TRACK 02 AUDIO\n    INDEX 00 01:00:00\n    INDEX 01 01:02:00\n"
        "REM SESSION 02\n  TRACK 03 MODE2/2352\n    INDEX 01 05:00:00\n"
    )
    disc = parse_cue(sheet, tmp_path, "x.cue")
    assert [(t.number, t.mode, t.is_audio, t.session) for t in disc.tracks] == [
        (1, "MODE1/2352", False, 1),
        (2, "AUDIO", True, 1),
        (3, "MODE2/2352", False, 2),
    ]


def test_index_can_lie_in_a_later_file(tmp_path):
    # EAC's "noncompliant" multi-file sheet: track 2's pregap is in track 1's file.
    sheet = (
        'FILE "01.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n'
        "  TRACK 02 AUDIO\n    INDEX 00 00:03:00\n"
        'FILE "02.wav" WAVE\n    INDEX 01 00:00:00\n'
    )
    two = parse_cue(sheet, tmp_path, "x.cue").tracks[1]
    assert two.file_index == 0
    assert [(i.number, i.file_index, i.frames) for i in two.indexes] == [(0, 0, 225), (1, 1, 0)]


@pytest.mark.parametrize(
    "sheet, message",
    [
        ("TITLE x\nTRACK 01 AUDIO\n  INDEX 01 00:00:00\n", "line 2: TRACK before any FILE"),
        ('TITLE "no file"\nPERFORMER "nobody"\n', "no FILE command"),
        ('FILE "a.wav" WAVE\n', "no TRACK"),
        ('FILE "a.wav" WAVE\n  TRACK 01 AUDIO\n  TRACK 02 AUDIO\n', "line 2: TRACK 01 has no INDEX 01 (nor any"),
        ('FILE "a.wav" WAVE\nINDEX 01 00:00:00\n', "line 2: INDEX before any TRACK"),
        ('FILE "a.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:75\n', "line 3: time '00:00:75'"),
        ('FILE "a.wav" WAVE\n  TRACK 02 AUDIO\n    INDEX 01 00:00:00\n  TRACK 01 AUDIO\n', "TRACK 01 follows TRACK 02"),
        (
            'FILE "a.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n  TRACK 02 VIDEO\n',
            "unknown track type 'VIDEO'",
        ),
        ('FILE "a.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 00 00:05:00\n    INDEX 01 00:04:00\n', "is before INDEX 00"),
        ('FILE "../../etc/passwd" BINARY\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n', "outside the cue sheet's folder"),
        ('FILE "/etc/passwd" BINARY\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n', "outside the cue sheet's folder"),
        ('FILE "sub/../../x.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n', "outside the cue sheet's folder"),
        ('FILE "C:\\Rips\\x.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n', "absolute Windows path"),
        # Issue 13: FILE names that escape the folder in other spellings, and names with control characters.
        (
            'FILE "\\\\server\\share\\x.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n',
            "outside the cue sheet's folder",
        ),
        ('FILE "..\\x.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n', "outside the cue sheet's folder"),
        ('FILE "a\x01.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n', "control character"),
        # Issue 13: an index earlier than the previous track's last index (xiph/flac's bad.071).
        (
            'FILE "a.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n    INDEX 02 00:03:00\n  TRACK 02 AUDIO\n'
            "    INDEX 00 00:02:00\n    INDEX 01 00:04:00\n",
            "line 6: INDEX 00 (00:02:00) of TRACK 02 is before INDEX 02 of TRACK 01 (00:03:00)",
        ),
    ],
)
def test_malformed_sheets_give_clear_errors(tmp_path, sheet, message):
    with pytest.raises(CueError) as info:
        parse_cue(sheet, tmp_path / "album", "album.cue")
    assert message in str(info.value)
    assert str(info.value).startswith("album.cue")


def test_paths_inside_the_folder_are_fine(tmp_path):
    sheet = 'FILE "sub\\..\\disc 1\\image.flac" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n'
    disc = parse_cue(sheet, tmp_path, "x.cue")
    assert disc.files[0].path == tmp_path / "disc 1" / "image.flac"
    absolute = f'FILE "{tmp_path / "image.flac"}" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n'
    assert parse_cue(absolute, tmp_path, "x.cue").files[0].path == tmp_path / "image.flac"


def test_read_cue_finds_files_under_another_name_and_reports_missing_ones(tmp_path):
    (tmp_path / "Album.flac").write_bytes(b"stand-in")
    (tmp_path / "a.cue").write_text('FILE "Album.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n')
    disc = read_cue(tmp_path / "a.cue")
    assert disc.files[0].path == tmp_path / "Album.flac"
    assert disc.notes == ("FILE 'Album.wav' not found; using 'Album.flac'",)

    (tmp_path / "b.cue").write_text('FILE "Other.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n')
    with pytest.raises(CueError, match=r"b.cue, line 1: FILE 'Other.wav' does not exist next to the cue sheet"):
        read_cue(tmp_path / "b.cue")
    # A broken sheet still names its files, so its image is not mistaken for a plain track.
    (tmp_path / "c.cue").write_text('FILE "Album.flac" WAVE\n  TRACK 01 AUDIO\n')
    assert referenced_files(tmp_path / "c.cue") == [tmp_path / "Album.flac"]


def test_missing_data_only_file_is_a_note(tmp_path):
    (tmp_path / "audio.bin").write_bytes(bytes(2352 * 10))
    sheet = (
        'FILE "audio.bin" BINARY\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n'
        'FILE "data.bin" BINARY\n  TRACK 02 MODE1/2352\n    INDEX 01 00:00:00\n'
    )
    (tmp_path / "x.cue").write_text(sheet)
    disc = read_cue(tmp_path / "x.cue")
    assert [f.missing for f in disc.files] == [False, True]
    assert "FILE 'data.bin' (data track 2) is missing" in disc.notes


SHEET_TEMPLATE = 'PERFORMER "{performer}"\nTITLE "{title}"\nFILE "a.wav" WAVE\n  TRACK 01 AUDIO\n    TITLE "{track}"\n    INDEX 01 00:00:00\n'


@pytest.mark.parametrize(
    "performer, title, track, data_encoding",
    [
        ("Édith Piaf", "La vie en rose", "Café", "cp1252"),  # detected as cp1250, which reads these bytes the same
        ("Björk", "Début", "Human Behaviour", "utf-8-sig"),
        ("Motörhead", "Überkill", "Señor", "utf-8"),
        ("Кино", "Группа крови", "Закрой за мной дверь", "cp1251"),
        ("スピッツ", "ハチミツ", "ヒバリ", "cp932"),  # every byte also valid cp1252: "ƒXƒsƒbƒc"
        ("東京事変", "教育", "林檎の唄", "shift_jis"),
        ("Sigur Rós", "Ágætis byrjun", "Svefn-g-englar", "utf-16"),
        # Issue 13, defect 9: these were quarantined ("no FILE command") or written into tags as garbage.
        ("Кино", "Группа крови", "Звезда по имени Солнце", "koi8-r"),
        ("王菲", "只爱陌生人", "红豆", "gb18030"),
        ("Dvořák", "Slovanské tance", "Furiant", "cp1250"),
        ("Zespół", "Piosenki źródlane", "Łąka", "cp1250"),
        ("Кино", "Группа крови", "Звезда", "utf-16-le"),  # no byte-order mark
        ("Кино", "Группа крови", "Звезда", "utf-16-be"),
        ("Björk", "Début", "Human Behaviour", "utf-32-le"),
    ],
)
def test_encodings_give_the_right_titles(tmp_path, performer, title, track, data_encoding):
    text = SHEET_TEMPLATE.format(performer=performer, title=title, track=track)
    (tmp_path / "a.wav").write_bytes(b"")
    (tmp_path / "a.cue").write_bytes(text.encode(data_encoding))
    disc = read_cue(tmp_path / "a.cue")
    assert (disc.performer, disc.title, disc.tracks[0].title) == (performer, title, track)
    assert disc.text_trusted and disc.encoding_confidence >= 0.8
    unicode = data_encoding.startswith("utf")
    assert codecs.lookup(disc.encoding).name.startswith("utf") == unicode
    detected = [n for n in disc.notes if "not Unicode; decoded as" in n]
    assert bool(detected) == (not unicode)


def test_western_sheet_the_detector_cannot_place_is_read_as_cp1252(tmp_path):
    # cp1252 "Sigur Rós / Ágætis byrjun": charset-normalizer offers only CJK readings of these few bytes
    # (johab "Sigur R造"), all mojibake; the Western reading a ripper would have written is clean and
    # Icelandic, so it is taken and trusted.
    text = SHEET_TEMPLATE.format(performer="Sigur Rós", title="Ágætis byrjun", track="Svefn-g-englar")
    (tmp_path / "a.wav").write_bytes(b"")
    (tmp_path / "a.cue").write_bytes(text.encode("cp1252"))
    disc = read_cue(tmp_path / "a.cue")
    assert (disc.performer, disc.title, disc.encoding) == ("Sigur Rós", "Ágætis byrjun", "cp1252")
    assert disc.text_trusted


def test_text_that_cannot_be_decoded_with_confidence_is_parsed_but_not_trusted(tmp_path):
    # Bytes that are not cp1252 (0x8D, 0x9D are undefined there) and that several code pages read as
    # equally good letters (cp1250 "Ťapa ťava", and others): the audio stays usable, the text untrusted.
    data = SHEET_TEMPLATE.format(performer="X", title="Y", track="Z").encode().replace(b'"X"', b'"\x8dapa \x9dava"')
    (tmp_path / "a.wav").write_bytes(b"")
    (tmp_path / "a.cue").write_bytes(data)
    disc = read_cue(tmp_path / "a.cue")
    assert not disc.text_trusted and disc.encoding_confidence < 0.8
    assert [t.number for t in disc.tracks] == [1] and disc.files[0].name == "a.wav"  # the audio stays usable
    assert any("no text from it is written as tags" in n for n in disc.notes)


def test_lenient_sheets_parse_with_warnings(tmp_path):
    # A track without INDEX 01 starts at its first index (libcue's rule); a bare number is frames.
    sheet = (
        'FILE "a.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 00 00:00:00\n'
        "  TRACK 02 AUDIO\n    INDEX 01 99\n  TRACK 03 AUDIO\n    PREGAP 150\n    INDEX 02 00:03:00\n"
    )
    disc = parse_cue(sheet, tmp_path, "x.cue")
    assert [t.index(1).frames for t in disc.tracks] == [0, 99, 225]
    assert disc.tracks[2].pregap_frames == 150
    assert disc.warnings == (
        "line 5: INDEX time '99' is a bare number: read as frames",
        "line 7: PREGAP time '150' is a bare number: read as frames",
        "line 2: TRACK 01 has no INDEX 01: it starts at its INDEX 00 (00:00:00)",
        "line 6: TRACK 03 has no INDEX 01: it starts at its INDEX 02 (00:03:00)",
    )


def test_a_sheet_without_file_describes_its_image(tmp_path):
    import mutagen.flac
    import numpy as np

    from tests.conftest import tone_pcm, write_pcm

    body = 'TITLE "Embedded"\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n  TRACK 02 AUDIO\n    INDEX 01 00:00:30\n'
    with pytest.raises(CueError, match="line 2: TRACK before any FILE"):
        parse_cue(body, tmp_path, "x.cue")
    # As FLAC embeds one (CUESHEET tag): the FLAC itself is the image.
    write_pcm(tmp_path / "Album.flac", tone_pcm(1.0).astype(np.int16))
    flac = mutagen.flac.FLAC(tmp_path / "Album.flac")
    flac["CUESHEET"] = body
    flac.save()
    disc = read_cue(tmp_path / "Album.flac")
    assert [f.path for f in disc.files] == [tmp_path / "Album.flac"] and disc.title == "Embedded"
    assert disc.warnings == ("the sheet names no FILE: its tracks are read from 'Album.flac'",)
    # A .cue without FILE beside the one audio file with its stem.
    (tmp_path / "Album.cue").write_text(body)
    assert [f.path for f in read_cue(tmp_path / "Album.cue").files] == [tmp_path / "Album.flac"]


def test_carriage_return_only_line_ends(tmp_path):
    # Issue 13: sheets saved with classic Mac OS line ends (CR alone). The FILE regex of the fallback in
    # referenced_files only knew LF, so a broken CR-only sheet let its image be ingested as one long track.
    (tmp_path / "image.wav").write_bytes(b"RIFF")
    sheet = 'PERFORMER "The Band"\rFILE "image.wav" WAVE\r  TRACK 01 AUDIO\r    TITLE "One"\r    INDEX 01 00:00:00\r'
    (tmp_path / "mac.cue").write_bytes(sheet.encode())
    disc = read_cue(tmp_path / "mac.cue")
    assert (disc.performer, disc.tracks[0].title, disc.tracks[0].line) == ("The Band", "One", 3)
    (tmp_path / "broken.cue").write_bytes(sheet.replace("    INDEX 01 00:00:00\r", "").encode())  # malformed: fallback
    assert referenced_files(tmp_path / "broken.cue") == [tmp_path / "image.wav"]


def test_referenced_files_never_names_a_file_outside_the_folder(tmp_path):
    (tmp_path / "secret.wav").write_bytes(b"RIFF")  # exists, one level up from the sheet
    (tmp_path / "album").mkdir()
    for name in ("../secret.wav", "..\\secret.wav", str(tmp_path / "secret.wav")):
        (tmp_path / "album" / "x.cue").write_text(f'FILE "{name}" WAVE\n  TRACK 01 AUDIO\n')  # malformed: fallback
        assert referenced_files(tmp_path / "album" / "x.cue") == []
