"""Rip logs (EAC, XLD): their CRCs, AccurateRip results and TOCs read and compared with a split."""

import os
import zlib

import numpy as np
import pytest

from storage.sources.discid import DiscToc, TocTrack, accuraterip_disc_id, freedb_disc_id, musicbrainz_disc_id
from storage.sources.riplog import read_rip_logs, rip_log_candidates
from storage.sources.split import split_disc
from tests.storage.sources.disc_images import (
    cd_tracks,
    eac_log,
    eac_log_text,
    image_sheet,
    slow_accuraterip,
    write_image,
)


def test_eac_log_in_utf16_flags_matching_and_mismatching_crcs(tmp_path):
    tracks = cd_tracks()
    name = write_image(tmp_path / "src", "flac", np.concatenate(tracks))
    cue = tmp_path / "src" / "disc.cue"
    cue.write_text(image_sheet(name))
    crc1 = f"{zlib.crc32(tracks[0].tobytes()):08X}"
    _, v2_1 = slow_accuraterip(tracks[0].tobytes(), True, False)
    blocks = (
        f"Track  1\r\n\r\n     Filename C:\\Rips\\01.wav\r\n\r\n     Peak level 46.2 %\r\n     Test CRC {crc1}\r\n"
        f"     Copy CRC {crc1}\r\n     Accurately ripped (confidence 5)  [{v2_1}]  (AR v2)\r\n     Copy OK\r\n\r\n"
        "Track  2\r\n\r\n     Filename C:\\Rips\\02.wav\r\n\r\n     Test CRC DEADBEEF\r\n     Copy CRC DEADBEEF\r\n"
        "     Cannot be verified as accurate (confidence 3)  [0BADF00D], AccurateRip returned [12345678]  (AR v2)\r\n"
        "     Copy finished\r\n\r\n"
    )
    (tmp_path / "src" / "disc.log").write_bytes(eac_log(blocks))

    (log,) = read_rip_logs(tmp_path / "src" / "disc.log")
    assert (log.tool, log.crc32, log.accuraterip) == ("EAC", {1: crc1, 2: "DEADBEEF"}, {1: (v2_1,), 2: ("0BADF00D",)})

    record = split_disc(cue, tmp_path / "out")
    one, two, three = record.tracks
    assert (one.log_crc32, one.crc_matches_log) == (crc1, True)
    assert (two.log_crc32, two.crc_matches_log) == ("DEADBEEF", False)
    assert (three.log_crc32, three.crc_matches_log) == (None, None)
    assert f"track 2: CRC32 {two.crc32} differs from the log's DEADBEEF (disc.log)" in record.notes
    assert any(n.startswith("track 2: AccurateRip") and "0BADF00D" in n for n in record.notes)
    assert not any(n.startswith("track 1:") for n in record.notes)


def test_xld_log_per_track_and_image_crcs(tmp_path):
    tracks = cd_tracks()
    image = np.concatenate(tracks)
    name = write_image(tmp_path / "src", "flac", image)
    (tmp_path / "src" / "disc.cue").write_text(image_sheet(name))
    crcs = [f"{zlib.crc32(t.tobytes()):08X}" for t in tracks]
    ar = [slow_accuraterip(t.tobytes(), k == 0, k == 2) for k, t in enumerate(tracks)]
    lines = [
        "X Lossless Decoder version 20230627 (155.2)\n",
        "All Tracks\n    Filename : /Users/me/disc.flac\n",
        f"    CRC32 hash (test run)    : {zlib.crc32(image.tobytes()):08X}\n",
        f"    CRC32 hash               : {zlib.crc32(image.tobytes()):08X}\n",
        "    CRC32 hash (skip zero)   : 11111111\n\n",
        "AccurateRip Summary (DiscID: 003-000000f4-00000000-00000000)\n    Track 01 : OK (v1+v2, confidence 2/2)\n\n",
    ]
    for k in range(3):
        lines += [
            f"Track {k + 1:02d}\n    Filename : /Users/me/disc.flac\n    Pre-gap length : 00:02:00\n\n",
            f"    CRC32 hash (test run)    : {crcs[k]}\n    CRC32 hash               : {crcs[k]}\n",
            "    CRC32 hash (skip zero)   : 22222222\n",
            f"    AccurateRip v1 signature : {ar[k][0]}\n        ->Accurately ripped (v1+v2, confidence 2/2)\n",
            f"    AccurateRip v2 signature : {ar[k][1]}\n\n",
        ]
    (tmp_path / "src" / "rip.log").write_text("".join(lines))
    (log,) = read_rip_logs(tmp_path / "src" / "rip.log")
    assert log.tool == "XLD" and log.crc32 == dict(enumerate(crcs, 1))
    assert log.accuraterip == {k + 1: ar[k] for k in range(3)}
    assert log.range_crc32 == f"{zlib.crc32(image.tobytes()):08X}"
    record = split_disc(tmp_path / "src" / "disc.cue", tmp_path / "out")
    assert [t.crc_matches_log for t in record.tracks] == [True, True, True]
    assert f"image CRC32 {log.range_crc32} matches the log's {log.range_crc32} (rip.log)" in record.notes


def copy_blocks(crcs: list[str]) -> str:
    return "".join(f"Track {k:2d}\r\n\r\n     Copy CRC {crc}\r\n     Copy OK\r\n\r\n" for k, crc in enumerate(crcs, 1))


@pytest.mark.parametrize("good_first", [True, False])
def test_several_rips_in_one_log_are_kept_apart(tmp_path, good_first):
    # Issue 13: the CRCs of every rip in a log were merged, later rips overwriting earlier ones.
    tracks = cd_tracks()
    name = write_image(tmp_path / "src", "flac", np.concatenate(tracks))
    cue = tmp_path / "src" / "disc.cue"
    cue.write_text(image_sheet(name))
    crcs = [f"{zlib.crc32(t.tobytes()):08X}" for t in tracks]
    rips = [eac_log_text(copy_blocks(crcs)), eac_log_text(copy_blocks(["00000001", "00000002", "00000003"]))]
    rips = rips if good_first else rips[::-1]  # the other rip: another disc, or a bad pass
    (tmp_path / "src" / "disc.log").write_bytes(b"\xff\xfe" + "\r\n------\r\n\r\n".join(rips).encode("utf-16-le"))

    first, second = read_rip_logs(tmp_path / "src" / "disc.log")
    assert (first.rip, second.rip, second.n_rips) == (1, 2, 2)
    assert (first.crc32 if good_first else second.crc32) == dict(enumerate(crcs, 1))
    record = split_disc(cue, tmp_path / "out")
    assert [t.crc_matches_log for t in record.tracks] == [True, True, True]
    assert f"rip log disc.log, rip {1 if good_first else 2} of 2 (EAC)" in record.notes
    assert not any("differs" in n for n in record.notes)


def test_a_log_linked_from_outside_the_folder_is_not_read(tmp_path):
    tracks = cd_tracks()
    name = write_image(tmp_path / "src", "flac", np.concatenate(tracks))
    cue = tmp_path / "src" / "disc.cue"
    cue.write_text(image_sheet(name))
    (tmp_path / "elsewhere.log").write_bytes(eac_log(copy_blocks(["00000001", "00000002", "00000003"])))
    os.symlink(tmp_path / "elsewhere.log", tmp_path / "src" / "disc.log")
    assert rip_log_candidates(cue) == []
    record = split_disc(cue, tmp_path / "out")
    assert [t.log_crc32 for t in record.tracks] == [None, None, None]


def toc_rows(rows: list[tuple[int, int, int]]) -> str:
    lines = [
        "TOC of the extracted CD\r\n\r\n     Track |   Start  |  Length  | Start sector | End sector \r\n",
        "    ---------------------------------------------------------\r\n",
    ]
    for number, first, last in rows:
        lines.append(f"      {number:2d}  |  0:00.00 |  0:00.00 |  {first:8d}    |  {last:8d}   \r\n")
    return "".join(lines) + "\r\n\r\n"


def test_eac_placeholder_data_track_is_placed_by_the_logs_toc(tmp_path):
    # Issue 13: EAC's enhanced-CD sheet ("TRACK 04 MODEx/2xxx" with only INDEX 00, at the end of the audio)
    # stopped the parser; and the data track's place, which the freedb and AccurateRip IDs need, is in the log.
    tracks = cd_tracks()  # 40, 37 and 50 frames: the audio ends at 127 = 00:01:52
    name = write_image(tmp_path / "src", "flac", np.concatenate(tracks))
    cue = tmp_path / "src" / "disc.cue"
    cue.write_text(image_sheet(name, extra='  TRACK 04 MODEx/2xxx\n    TITLE "Data"\n    INDEX 00 00:01:52\n'))
    record = split_disc(cue, tmp_path / "out")
    assert [t.number for t in record.tracks] == [1, 2, 3]
    audio_only = DiscToc.from_lba([150, 190, 227], 277)
    assert (record.musicbrainz_disc_id, record.accuraterip_disc_id) == (
        musicbrainz_disc_id(audio_only), accuraterip_disc_id(audio_only))  # fmt: skip
    assert any("placeholder for a data track" in n for n in record.notes)

    # The rip log's TOC places the data track in session 2: 11400 sectors after the audio, 1000 long.
    crcs = [f"{zlib.crc32(t.tobytes()):08X}" for t in tracks]
    toc = toc_rows([(1, 0, 39), (2, 40, 76), (3, 77, 126), (4, 11527, 12526)])
    (tmp_path / "src" / "disc.log").write_bytes(eac_log(toc + copy_blocks(crcs)))
    record = split_disc(cue, tmp_path / "out")
    full = DiscToc(
        (TocTrack(1, 0), TocTrack(2, 40), TocTrack(3, 77), TocTrack(4, 11527, audio=False, session=2)), 12527
    )
    assert (record.freedb_disc_id, record.accuraterip_disc_id) == (freedb_disc_id(full), accuraterip_disc_id(full))
    assert record.accuraterip_disc_id != accuraterip_disc_id(audio_only)
    assert record.musicbrainz_disc_id == musicbrainz_disc_id(audio_only)  # MusicBrainz counts session 1 only
    assert [t.crc_matches_log for t in record.tracks] == [True, True, True]
    assert any(n.startswith("disc IDs from the TOC in disc.log") for n in record.notes)


def test_a_swedish_log_is_read_by_its_layout(tmp_path):
    # Issue 13: logs in other languages were read as having no CRCs. The labels below are EAC's Swedish
    # ones, as Logchecker's translation table has them (github.com/OPSnet/Logchecker,
    # src/Parser/EAC/languages/se.json: 1226 "Spår", 1271 "Testar CRC", 1272 "Kopiera CRC", 1281 …).
    tracks = cd_tracks()
    name = write_image(tmp_path / "src", "flac", np.concatenate(tracks))
    cue = tmp_path / "src" / "disc.cue"
    cue.write_text(image_sheet(name))
    crcs = [f"{zlib.crc32(t.tobytes()):08X}" for t in tracks]
    v2 = [slow_accuraterip(t.tobytes(), k == 0, k == 2)[1] for k, t in enumerate(tracks)]
    blocks = "".join(
        f"Spår {k:2d}\r\n\r\n     Filnamn C:\\Rip\\{k:02d}.wav\r\n\r\n     Peak-nivå 98.0 %\r\n     Spårkvalité 100.0 %\r\n"
        f"     Testar CRC {crc}\r\n     Kopiera CRC {crc}\r\n     Korrekt kopierat (konfidens 5)  [{ar}]  (AR v2)\r\n"
        "     Kopia OK\r\n\r\n"
        for k, (crc, ar) in enumerate(zip(crcs, v2), 1)
    )
    text = ("Exact Audio Copy V0.99 prebeta 5 from 4. May 2009\r\n\r\nEAC extraheringsloggfil från 1. januari 2012, 12:00"
            "\r\n\r\nKvintetten / Ett prov\r\n\r\nAnvänd enhet  : PLEXTOR   Adapter: 0  ID: 1\r\n\r\n"
            f"{blocks}Inga fel uppstod\r\n\r\nSlut på status rapport\r\n")  # fmt: skip
    (tmp_path / "src" / "disc.log").write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    (rip,) = read_rip_logs(tmp_path / "src" / "disc.log")
    assert (rip.tool, rip.crc32, rip.accuraterip) == (
        "EAC",
        dict(enumerate(crcs, 1)),
        {k: (a,) for k, a in enumerate(v2, 1)},
    )
    record = split_disc(cue, tmp_path / "out")
    assert [t.crc_matches_log for t in record.tracks] == [True, True, True]
    assert not any("differs" in n for n in record.notes)


def test_a_log_numbering_the_audio_from_2_is_read_in_the_sheets_numbers(tmp_path):
    # The sheet leaves out data track 1 and numbers the audio 1-3 (CUETools' "Anatomy", "Les Mystérieuses
    # Cités d'Or" 2.cue); the log numbers it 2-4. Its CRCs belong to the sheet's tracks 1-3.
    tracks = cd_tracks()
    name = write_image(tmp_path / "src", "flac", np.concatenate(tracks))
    cue = tmp_path / "src" / "disc.cue"
    cue.write_text(image_sheet(name))
    crcs = [f"{zlib.crc32(t.tobytes()):08X}" for t in tracks]
    toc = toc_rows([(1, 0, 999), (2, 1000, 1039), (3, 1040, 1076), (4, 1077, 1126)])
    blocks = "".join(
        f"Track {k:2d}\r\n\r\n     Copy CRC {crc}\r\n     Copy OK\r\n\r\n" for k, crc in enumerate(crcs, 2)
    )
    (tmp_path / "src" / "disc.log").write_bytes(eac_log(toc + blocks))
    record = split_disc(cue, tmp_path / "out")
    assert [(t.number, t.log_crc32, t.crc_matches_log) for t in record.tracks] == [
        (1, crcs[0], True), (2, crcs[1], True), (3, crcs[2], True)]  # fmt: skip
    assert not any("differs" in n for n in record.notes)
