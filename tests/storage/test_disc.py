import os
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from storage.cue import CueError
from storage.disc import (
    DiscError,
    DiscToc,
    RipError,
    TocTrack,
    TrackChecksums,
    accuraterip_checksums,
    accuraterip_disc_id,
    find_cue_sheets,
    freedb_disc_id,
    musicbrainz_disc_id,
    paranoia_toc,
    parse_cdparanoia_toc,
    read_rip_log,
    rip_disc,
    split_disc,
)
from storage.ingest import Track, ingest_file, scan_sources
from tests.conftest import tone_pcm, write_pcm

SECTOR = 588  # stereo samples per CD frame


# ---------------------------------------------------------------- published disc IDs

def test_musicbrainz_disc_ids_match_published_examples():
    # MusicBrainz "Disc ID Calculation": TOC "1 6 95462 150 15363 32314 46592 63414 80489".
    doc = DiscToc.from_lba([150, 15363, 32314, 46592, 63414, 80489], 95462)
    assert musicbrainz_disc_id(doc) == "49HHV7Eb8UKF3aQiNmu1GR8vKTY-"
    # Two TOCs of one release as MusicBrainz serves them (ARver's tests/data/discs/X_fUy2PVsk5KK7JciFqBc0CetiI-.json);
    # the second ID exercises the "." of the alphabet.
    faust = DiscToc.from_lba([150, 12437, 28357, 46302, 67095, 72790, 114245, 150420, 158545], 179805)
    assert musicbrainz_disc_id(faust) == "X_fUy2PVsk5KK7JciFqBc0CetiI-"
    faust2 = DiscToc.from_lba([182, 12460, 28385, 46327, 67112, 72825, 114275, 150447, 158572], 179785)
    assert musicbrainz_disc_id(faust2) == "exjpU.1VYanRcyGf0YodBBpECxM-"


def test_freedb_id_worked_by_hand_for_the_musicbrainz_example():
    doc = DiscToc.from_lba([150, 15363, 32314, 46592, 63414, 80489], 95462)
    # Start seconds (LBA // 75): 2, 204, 430, 621, 845, 1073; digit sums 2+6+7+9+17+11 = 52 = 0x34.
    # Length: 95462 // 75 - 2 = 1270 = 0x04f6 seconds; 6 tracks.
    assert freedb_disc_id(doc) == "3404f606"


# "Liquid" by Recoil, an enhanced CD (10 audio tracks, data track in session 2) and "Mortal Kombat
# Trilogy", a mixed-mode CD (data track 1 + 28 audio tracks): IDs as EAC and dBpoweramp compute them,
# published in ARver's doc/data_track.md.
LIQUID_AUDIO_LBA = [150, 12767, 40487, 63225, 93410, 118115, 151865, 184340, 215260, 247455]
MORTAL_KOMBAT_LBA = [150, 66728, 76502, 85963, 93760, 104048, 116066, 124743, 134206, 142916, 151852, 160720,
                     169425, 178731, 188459, 196711, 206354, 214845, 223686, 225746, 226384, 232668, 239447,
                     239931, 244989, 254264, 260066, 261222, 261674]  # fmt: skip


def test_enhanced_cd_ids_match_published_values():
    audio_only = DiscToc.from_lba(LIQUID_AUDIO_LBA, 270335)
    assert musicbrainz_disc_id(audio_only) == "9AQWqQ0eCCwktwPPrIUIYkUw2Uo-"
    assert freedb_disc_id(audio_only) == "890e120a"  # what MusicBrainz shows: no data track
    tracks = tuple(TocTrack(n, lba - 150) for n, lba in enumerate(LIQUID_AUDIO_LBA, 1))
    full = DiscToc(tracks + (TocTrack(11, 281735 - 150, audio=False, session=2),), 333801 - 150)
    assert musicbrainz_disc_id(full) == "9AQWqQ0eCCwktwPPrIUIYkUw2Uo-"  # session 1 only, ending 11400 before the data
    assert freedb_disc_id(full) == "9e11600b"
    assert accuraterip_disc_id(full) == "010-00164419-00b9f6e2-9e11600b"


def test_mixed_mode_cd_ids_match_published_values():
    toc = DiscToc.from_lba(MORTAL_KOMBAT_LBA, 261976, audio=[False] + [True] * 28)
    assert freedb_disc_id(toc) == "af0da31d"
    assert accuraterip_disc_id(toc) == "028-00517a54-05a845d2-af0da31d"


# ---------------------------------------------------------------- checksums

def slow_accuraterip(pcm_bytes: bytes, first: bool, last: bool) -> tuple[str, str]:
    """AccurateRip v1/v2 with plain loops, straight from the definition."""
    words = struct.unpack(f"<{len(pcm_bytes) // 4}I", pcm_bytes)  # (right << 16) | left
    check_from = 5 * 588 if first else 1
    check_to = len(words) - 5 * 588 if last else len(words)
    v1 = v2 = 0
    for position, word in enumerate(words, start=1):
        if check_from <= position <= check_to:
            product = word * position
            v1 = (v1 + (product & 0xFFFFFFFF)) & 0xFFFFFFFF
            v2 = (v2 + (product & 0xFFFFFFFF) + (product >> 32)) & 0xFFFFFFFF
    return f"{v1:08X}", f"{v2:08X}"


@pytest.mark.parametrize("first, last", [(False, False), (True, False), (False, True), (True, True)])
def test_accuraterip_checksums_match_a_slow_reference(first, last):
    pcm = np.random.default_rng(7).integers(-32768, 32768, size=(3 * 5 * 588 + 17, 2)).astype(np.int16)
    expected = slow_accuraterip(pcm.astype("<i2").tobytes(), first, last)
    assert accuraterip_checksums(pcm, first, last) == expected
    streamed = TrackChecksums(len(pcm), first, last)
    for start in range(0, len(pcm), 1000):  # blocks that straddle both skip boundaries
        streamed.update(pcm[start : start + 1000])
    assert (streamed.v1, streamed.v2) == expected
    assert streamed.crc32 == f"{zlib.crc32(pcm.astype('<i2').tobytes()):08X}"
    assert expected[0] != expected[1]  # the high halves do contribute on this input


def test_accuraterip_word_is_right_channel_high():
    # One sample (left=1, right=2) at position 1: word 0x00020001.
    assert accuraterip_checksums(np.array([[1, 2]], np.int16), False, False) == ("00020001", "00020001")
    silence = np.zeros((20 * 588, 2), np.int16)
    assert accuraterip_checksums(silence, True, True) == ("00000000", "00000000")


# ---------------------------------------------------------------- building discs

LENGTHS = (40, 37, 50)  # frames; 37 is odd


def cd_tracks(lengths=LENGTHS, seed=0) -> list[np.ndarray]:
    """int16 (T, 2) tracks of whole CD frames, as they should come out of a split."""
    return [tone_pcm(n * SECTOR / 44100, seed=seed + k)[: n * SECTOR].astype(np.int16) for k, n in enumerate(lengths)]


def read_int16(path) -> np.ndarray:
    return sf.read(str(path), dtype="int16", always_2d=True)[0]


def image_sheet(image_name: str, file_type: str = "WAVE", extra: str = "") -> str:
    """Three tracks in one image; track 2 has a 10-frame pregap (INDEX 00) inside track 1's audio."""
    return (
        'REM GENRE Jazz\nREM DATE 1959\nPERFORMER "The Quintet"\nTITLE "Kind of Test"\n'
        f'FILE "{image_name}" {file_type}\n'
        '  TRACK 01 AUDIO\n    TITLE "So What"\n    INDEX 01 00:00:00\n'
        '  TRACK 02 AUDIO\n    TITLE "Freddie"\n    PERFORMER "Guest"\n    INDEX 00 00:00:30\n    INDEX 01 00:00:40\n'
        f'  TRACK 03 AUDIO\n    TITLE "Blue"\n    INDEX 01 00:01:02\n{extra}'
    )


def write_image(folder: Path, kind: str, pcm: np.ndarray) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "bin":
        (folder / "image.bin").write_bytes(pcm.astype("<i2").tobytes())
        return "image.bin"
    if kind == "wv":  # a format soundfile cannot read: decoded through FFmpeg
        write_pcm(folder / "src.wav", pcm)
        from storage.ffmpeg import ffmpeg_exe
        import subprocess

        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(folder / "src.wav"), str(folder / "image.wv")], check=True)
        (folder / "src.wav").unlink()
        return "image.wv"
    write_pcm(folder / f"image.{kind}", pcm)
    return f"image.{kind}"


@pytest.mark.parametrize("kind", ["bin", "wav", "flac", "wv"])
def test_image_splits_back_bit_exactly(tmp_path, kind):
    tracks = cd_tracks()
    name = write_image(tmp_path / "src", kind, np.concatenate(tracks))
    (tmp_path / "src" / "disc.cue").write_text(image_sheet(name, "BINARY" if kind == "bin" else "WAVE"))
    before = {p.name: p.read_bytes() for p in (tmp_path / "src").iterdir()}

    record = split_disc(tmp_path / "src" / "disc.cue", tmp_path / "out")

    assert [t.number for t in record.tracks] == [1, 2, 3]
    for info, expected in zip(record.tracks, tracks):
        assert np.array_equal(read_int16(info.path), expected)  # the pregap ends track 1
        assert info.crc32 == f"{zlib.crc32(expected.astype('<i2').tobytes()):08X}"
    first, middle, last = record.tracks
    assert (first.accuraterip_v1, first.accuraterip_v2) == slow_accuraterip(tracks[0].tobytes(), True, False)
    assert (middle.accuraterip_v1, middle.accuraterip_v2) == slow_accuraterip(tracks[1].tobytes(), False, False)
    assert (last.accuraterip_v1, last.accuraterip_v2) == slow_accuraterip(tracks[2].tobytes(), False, True)
    assert [(t.start_sector, t.n_sectors) for t in record.tracks] == [(0, 40), (40, 37), (77, 50)]
    toc = DiscToc.from_lba([150, 190, 227], 277)
    assert record.musicbrainz_disc_id == musicbrainz_disc_id(toc)
    assert record.freedb_disc_id == freedb_disc_id(toc)
    assert record.accuraterip_disc_id == accuraterip_disc_id(toc)
    assert record.accuraterip_disc_id.startswith("003-000000f4-")  # 0 + 40 + 77 + 127 = 244
    assert (record.album, record.albumartist) == ("Kind of Test", "The Quintet")
    assert record.image_paths == [str(tmp_path / "src" / name)]
    assert Path(first.path).parent == tmp_path / "out" / record.disc_key
    assert {p.name: p.read_bytes() for p in (tmp_path / "src").iterdir()} == before  # sources untouched
    assert not [p for p in (tmp_path / "out").rglob(".*")]  # no temporaries left behind


def test_split_tracks_carry_tags_and_ingest_as_plain_flac(tmp_path):
    tracks = cd_tracks()
    name = write_image(tmp_path / "src", "flac", np.concatenate(tracks))
    (tmp_path / "src" / "disc.cue").write_text(image_sheet(name))
    record = split_disc(tmp_path / "src" / "disc.cue", tmp_path / "out")
    ingested = [ingest_file(t.path) for t in record.tracks]
    assert all(isinstance(t, Track) for t in ingested)
    two = ingested[1]
    assert (two.title, two.artist, two.albumartist, two.album, two.tracknumber) == (
        "Freddie", "Guest", "The Quintet", "Kind of Test", "2",
    )  # fmt: skip
    assert (ingested[0].artist, two.n_frames, two.bits_per_sample, two.sample_rate) == ("The Quintet", 37 * SECTOR, 16, 44100)
    assert sf.info(record.tracks[0].path).format == "FLAC"
    import mutagen.flac

    tags = mutagen.flac.FLAC(record.tracks[0].path)
    assert (tags["DATE"], tags["GENRE"], tags["MUSICBRAINZ_DISCID"]) == (["1959"], ["Jazz"], [record.musicbrainz_disc_id])


def test_split_is_cached_by_content_and_rebuilt_when_a_file_goes(tmp_path):
    tracks = cd_tracks()
    name = write_image(tmp_path / "src", "wav", np.concatenate(tracks))
    cue = tmp_path / "src" / "disc.cue"
    cue.write_text(image_sheet(name))
    first = split_disc(cue, tmp_path / "out")
    stamps = [os.stat(t.path).st_mtime_ns for t in first.tracks]
    again = split_disc(cue, tmp_path / "out")
    assert again == first
    assert [os.stat(t.path).st_mtime_ns for t in again.tracks] == stamps  # nothing rewritten

    os.unlink(first.tracks[1].path)
    rebuilt = split_disc(cue, tmp_path / "out")
    assert rebuilt == first and np.array_equal(read_int16(rebuilt.tracks[1].path), tracks[1])

    # Same audio under another name with the same sheet text: same key. Changed audio: another key.
    copy = tmp_path / "copy"
    write_image(copy, "wav", np.concatenate(tracks))
    (copy / "disc.cue").write_text(image_sheet(name))
    assert split_disc(copy / "disc.cue", tmp_path / "out").disc_key == first.disc_key
    write_image(copy, "wav", np.concatenate(cd_tracks(seed=5)))
    assert split_disc(copy / "disc.cue", tmp_path / "out").disc_key != first.disc_key


def test_one_file_per_track_sheets_both_gap_styles(tmp_path):
    tracks = cd_tracks()
    # EAC "noncompliant" (gaps appended): track 2's INDEX 00 lies at the end of 01.wav.
    appended = tmp_path / "appended"
    for k, pcm in enumerate(tracks, 1):
        write_pcm(appended / f"0{k}.wav", pcm)
    (appended / "disc.cue").write_text(
        'FILE "01.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n'
        '  TRACK 02 AUDIO\n    INDEX 00 00:00:30\nFILE "02.wav" WAVE\n    INDEX 01 00:00:00\n'
        'FILE "03.wav" WAVE\n  TRACK 03 AUDIO\n    INDEX 01 00:00:00\n'
    )
    record = split_disc(appended / "disc.cue", tmp_path / "out")
    assert all(np.array_equal(read_int16(t.path), pcm) for t, pcm in zip(record.tracks, tracks))
    assert [t.start_sector for t in record.tracks] == [0, 40, 77]
    assert len(record.image_paths) == 3

    # Gaps prepended: each file starts with the next track's pregap, which still ends the previous track.
    prepended = tmp_path / "prepended"
    write_pcm(prepended / "01.wav", tracks[0][: 30 * SECTOR])
    write_pcm(prepended / "02.wav", np.concatenate([tracks[0][30 * SECTOR :], tracks[1]]))
    write_pcm(prepended / "03.wav", tracks[2])
    (prepended / "disc.cue").write_text(
        'FILE "01.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n'
        'FILE "02.wav" WAVE\n  TRACK 02 AUDIO\n    INDEX 00 00:00:00\n    INDEX 01 00:00:10\n'
        'FILE "03.wav" WAVE\n  TRACK 03 AUDIO\n    INDEX 01 00:00:00\n'
    )
    other = split_disc(prepended / "disc.cue", tmp_path / "out")
    assert all(np.array_equal(read_int16(t.path), pcm) for t, pcm in zip(other.tracks, tracks))
    assert other.musicbrainz_disc_id == record.musicbrainz_disc_id
    assert [t.crc32 for t in other.tracks] == [t.crc32 for t in record.tracks]


def test_pregap_and_postgap_commands_insert_digital_silence(tmp_path):
    tracks = cd_tracks()
    write_pcm(tmp_path / "image.wav", np.concatenate(tracks))
    (tmp_path / "disc.cue").write_text(
        'FILE "image.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n'
        "  TRACK 02 AUDIO\n    PREGAP 00:00:05\n    INDEX 01 00:00:40\n"
        "  TRACK 03 AUDIO\n    INDEX 01 00:01:02\n    POSTGAP 00:00:02\n"
    )
    record = split_disc(tmp_path / "disc.cue", tmp_path / "out")
    silence = lambda frames: np.zeros((frames * SECTOR, 2), np.int16)  # noqa: E731
    assert np.array_equal(read_int16(record.tracks[0].path), np.concatenate([tracks[0], silence(5)]))
    assert np.array_equal(read_int16(record.tracks[2].path), np.concatenate([tracks[2], silence(2)]))
    assert [(t.start_sector, t.n_sectors) for t in record.tracks] == [(0, 45), (45, 37), (82, 52)]
    assert record.musicbrainz_disc_id == musicbrainz_disc_id(DiscToc.from_lba([150, 195, 232], 284))


@pytest.mark.parametrize("audible", [True, False])
def test_hidden_track_one_audio(tmp_path, audible):
    tracks = cd_tracks()
    htoa = tone_pcm(20 * SECTOR / 44100, seed=9)[: 20 * SECTOR].astype(np.int16)
    htoa = htoa if audible else np.zeros_like(htoa)
    write_pcm(tmp_path / "image.flac", np.concatenate([htoa] + tracks))
    (tmp_path / "disc.cue").write_text(
        'TITLE "Hidden"\nFILE "image.flac" WAVE\n  TRACK 01 AUDIO\n    INDEX 00 00:00:00\n    INDEX 01 00:00:20\n'
        "  TRACK 02 AUDIO\n    INDEX 01 00:00:60\n  TRACK 03 AUDIO\n    INDEX 01 00:01:22\n"
    )
    record = split_disc(tmp_path / "disc.cue", tmp_path / "out")
    numbered = [t for t in record.tracks if t.number > 0]
    assert all(np.array_equal(read_int16(t.path), pcm) for t, pcm in zip(numbered, tracks))
    assert [t.start_sector for t in numbered] == [20, 60, 97]  # the TOC keeps track 1 at its true place
    assert record.musicbrainz_disc_id == musicbrainz_disc_id(DiscToc.from_lba([170, 210, 247], 297))
    if audible:
        zero = record.tracks[0]
        assert (zero.number, zero.start_sector, zero.n_sectors) == (0, 0, 20)
        assert (zero.accuraterip_v1, zero.accuraterip_v2) == ("", "")
        assert np.array_equal(read_int16(zero.path), htoa)
        assert Path(zero.path).name == "00.flac"
        assert "hidden track one audio (00:00:20) kept as track 0" in record.notes
    else:
        assert record.tracks[0].number == 1
        assert "20 sectors before track 1's INDEX 01 are digital silence: not kept" in record.notes
    # AccurateRip's first-track skip applies to track 1, not to the hidden audio.
    assert (numbered[0].accuraterip_v1, numbered[0].accuraterip_v2) == slow_accuraterip(tracks[0].tobytes(), True, False)


def test_partial_last_frame_is_read_and_counted_up(tmp_path):
    tracks = cd_tracks()
    tracks[2] = tracks[2][: 50 * SECTOR - 100]  # 100 samples short of whole frames
    write_pcm(tmp_path / "image.wav", np.concatenate(tracks))
    (tmp_path / "disc.cue").write_text(image_sheet("image.wav"))
    record = split_disc(tmp_path / "disc.cue", tmp_path / "out")
    assert np.array_equal(read_int16(record.tracks[2].path), tracks[2])
    assert record.tracks[2].n_sectors == 50
    assert record.musicbrainz_disc_id == musicbrainz_disc_id(DiscToc.from_lba([150, 190, 227], 277))  # lead-out rounded up
    assert any("not whole CD frames (488 samples over)" in n for n in record.notes)
    assert (record.tracks[2].accuraterip_v1, record.tracks[2].accuraterip_v2) == slow_accuraterip(
        tracks[2].tobytes(), False, True
    )


@pytest.mark.parametrize("data_mode, sector_bytes", [("MODE1/2352", 2352), ("MODE1/2048", 2048)])
def test_mixed_mode_data_track_is_skipped(tmp_path, data_mode, sector_bytes):
    tracks = cd_tracks((30, 33))
    gap = tone_pcm(3 * SECTOR / 44100, seed=4)[: 3 * SECTOR].astype(np.int16)  # track 2's INDEX 00 audio
    data = np.random.default_rng(1).integers(0, 256, 20 * sector_bytes, dtype=np.uint8).tobytes()
    (tmp_path / "game.bin").write_bytes(data + np.concatenate([gap] + tracks).astype("<i2").tobytes())
    (tmp_path / "game.cue").write_text(
        f'FILE "game.bin" BINARY\n  TRACK 01 {data_mode}\n    INDEX 01 00:00:00\n'
        "  TRACK 02 AUDIO\n    INDEX 00 00:00:20\n    INDEX 01 00:00:23\n"
        "  TRACK 03 AUDIO\n    INDEX 01 00:00:53\n"
    )
    record = split_disc(tmp_path / "game.cue", tmp_path / "out")
    assert [t.number for t in record.tracks] == [2, 3]
    assert all(np.array_equal(read_int16(t.path), pcm) for t, pcm in zip(record.tracks, tracks))
    assert f"track 1 is a data track ({data_mode}): skipped" in record.notes
    toc = DiscToc.from_lba([150, 173, 203], 236, audio=[False, True, True])
    assert (record.musicbrainz_disc_id, record.accuraterip_disc_id) == (musicbrainz_disc_id(toc), accuraterip_disc_id(toc))
    assert record.accuraterip_disc_id.startswith("002-")
    # The first *audio* track gets AccurateRip's first-track skip.
    assert (record.tracks[0].accuraterip_v1, record.tracks[0].accuraterip_v2) == slow_accuraterip(
        tracks[0].tobytes(), True, False
    )


def test_enhanced_cd_data_session_moves_the_lead_out(tmp_path):
    tracks = cd_tracks()
    (tmp_path / "disc.bin").write_bytes(np.concatenate(tracks).astype("<i2").tobytes() + bytes(2352 * 20))
    (tmp_path / "disc.cue").write_text(image_sheet("disc.bin", "BINARY", "  TRACK 04 MODE2/2352\n    INDEX 01 00:01:52\n"))
    record = split_disc(tmp_path / "disc.cue", tmp_path / "out")
    assert [t.number for t in record.tracks] == [1, 2, 3]
    # On the disc the data track starts 11400 sectors after the audio's end (127) and lasts 20.
    full = DiscToc(
        (TocTrack(1, 0), TocTrack(2, 40), TocTrack(3, 77), TocTrack(4, 127 + 11400, audio=False, session=2)), 11547
    )
    assert record.musicbrainz_disc_id == musicbrainz_disc_id(DiscToc.from_lba([150, 190, 227], 277))
    assert (record.freedb_disc_id, record.accuraterip_disc_id) == (freedb_disc_id(full), accuraterip_disc_id(full))
    assert any("enhanced CD" in n for n in record.notes)

    # The data session's file is gone (rippers often keep only the audio): IDs as for an audio-only TOC.
    (tmp_path / "audio.bin").write_bytes(np.concatenate(tracks).astype("<i2").tobytes())
    (tmp_path / "audio.cue").write_text(
        image_sheet("audio.bin", "BINARY") + 'FILE "data.bin" BINARY\n  TRACK 04 MODE1/2352\n    INDEX 01 00:00:00\n'
    )
    record = split_disc(tmp_path / "audio.cue", tmp_path / "out")
    audio_only = DiscToc.from_lba([150, 190, 227], 277)
    assert (record.musicbrainz_disc_id, record.accuraterip_disc_id) == (
        musicbrainz_disc_id(audio_only), accuraterip_disc_id(audio_only),
    )  # fmt: skip
    assert any("track 4 is a data track in a missing file" in n for n in record.notes)


def test_bad_images_give_clear_errors(tmp_path):
    tracks = cd_tracks()
    write_pcm(tmp_path / "image.wav", np.concatenate(tracks))
    (tmp_path / "long.cue").write_text(image_sheet("image.wav").replace("00:01:02", "00:02:00"))
    with pytest.raises(CueError, match=r"long.cue, line \d+: INDEX 01 \(00:02:00\) of TRACK 03 is past the end of image.wav"):
        split_disc(tmp_path / "long.cue", tmp_path / "out")
    (tmp_path / "gone.cue").write_text(image_sheet("gone.wav"))
    with pytest.raises(CueError, match="FILE 'gone.wav' does not exist"):
        split_disc(tmp_path / "gone.cue", tmp_path / "out")
    write_pcm(tmp_path / "hires.flac", tone_pcm(0.1, sample_rate=48000, bits=24), sample_rate=48000, bits=24)
    (tmp_path / "hires.cue").write_text('FILE "hires.flac" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n')
    with pytest.raises(DiscError, match="PCM_24 48000 Hz with 2 channel.*only CD audio"):
        split_disc(tmp_path / "hires.cue", tmp_path / "out")
    (tmp_path / "empty.cue").write_text(image_sheet("image.wav").replace("00:01:02", "00:00:40"))
    with pytest.raises(CueError, match="TRACK 03 starts before TRACK 02 ends"):
        split_disc(tmp_path / "empty.cue", tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.flac"))


# ---------------------------------------------------------------- rip logs

def eac_log(track_blocks: str) -> bytes:
    text = (
        "Exact Audio Copy V1.6 from 23. October 2020\r\n\r\nEAC extraction logfile from 1. January 2024, 12:00\r\n\r\n"
        "The Quintet / Kind of Test\r\n\r\nUsed drive  : PLEXTOR DVDR   PX-716A   Adapter: 0  ID: 1\r\n\r\n"
        "Read mode               : Secure\r\n\r\n" + track_blocks + "\r\nEnd of status report\r\n"
    )
    return b"\xff\xfe" + text.encode("utf-16-le")


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

    log = read_rip_log(tmp_path / "src" / "disc.log")
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
    log = read_rip_log(tmp_path / "src" / "rip.log")
    assert log.tool == "XLD" and log.crc32 == dict(enumerate(crcs, 1))
    assert log.accuraterip == {k + 1: ar[k] for k in range(3)}
    assert log.range_crc32 == f"{zlib.crc32(image.tobytes()):08X}"
    record = split_disc(tmp_path / "src" / "disc.cue", tmp_path / "out")
    assert [t.crc_matches_log for t in record.tracks] == [True, True, True]
    assert f"image CRC32 {log.range_crc32} matches the log's {log.range_crc32} (rip.log)" in record.notes


# ---------------------------------------------------------------- finding sheets

def test_find_cue_sheets_holds_back_the_images_they_use(tmp_path):
    lib = tmp_path / "lib"
    write_image(lib / "Disc", "flac", np.concatenate(cd_tracks()))
    (lib / "Disc" / "disc.cue").write_text(image_sheet("image.flac"))
    (lib / "Broken" / "image.wav").parent.mkdir(parents=True)
    write_pcm(lib / "Broken" / "image.wav", tone_pcm(0.2))
    (lib / "Broken" / "broken.cue").write_text('FILE "image.wav" WAVE\n  TRACK 01 AUDIO\n')
    write_pcm(lib / "plain.flac", tone_pcm(0.2, seed=3))
    (lib / ".hidden.cue").write_text(image_sheet("plain.flac"))

    sheets, referenced = find_cue_sheets([lib])
    assert sheets == [lib / "Broken" / "broken.cue", lib / "Disc" / "disc.cue"]
    files, _ = scan_sources([lib])
    assert [f for f in files if f not in referenced] == [lib / "plain.flac"]
    assert (lib / "Disc" / "image.flac").resolve() in referenced
    with pytest.raises(CueError, match="TRACK 01 has no INDEX 01"):
        split_disc(lib / "Broken" / "broken.cue", tmp_path / "out")


def test_task_cache_key_is_offered_only_while_the_split_exists(tmp_path):
    from tasks.disc import split_cache_key

    name = write_image(tmp_path / "src", "wav", np.concatenate(cd_tracks()))
    cue = tmp_path / "src" / "disc.cue"
    cue.write_text(image_sheet(name))
    parameters = {"cue_path": str(cue), "out_dir": str(tmp_path / "out")}
    assert split_cache_key(None, parameters) is None
    record = split_disc(cue, tmp_path / "out")
    key = split_cache_key(None, parameters)
    assert isinstance(key, str) and key == split_cache_key(None, parameters)
    (tmp_path / "src" / "disc.log").write_bytes(eac_log("Track  1\r\n     Copy CRC 00000000\r\n"))
    assert split_cache_key(None, parameters) not in (None, key)  # a new log changes the record
    os.unlink(record.tracks[0].path)
    assert split_cache_key(None, parameters) is None


# ---------------------------------------------------------------- ripping

# `cdparanoia -Q` for the MusicBrainz documentation's TOC: LSN begins (LBA - 150) and lengths.
PARANOIA_Q = """\
cdparanoia III release 10.2 (September 11, 2008)

Table of contents (audio tracks only):
track        length               begin        copy pre ch
===========================================================
  1.    15213 [03:22.63]        0 [00:00.00]    no   no  2
  2.    16951 [03:46.01]    15213 [03:22.63]    no   no  2
  3.    14278 [03:10.28]    32164 [07:08.64]    no   no  2
  4.    16822 [03:44.22]    46442 [10:19.17]    OK   no  2
  5.    17075 [03:47.50]    63264 [14:03.39]    no  yes  2
  6.    14973 [03:19.48]    80339 [17:51.14]    no   no  2
TOTAL   95312 [21:10.62]    (audio only)
 
"""


def test_cdparanoia_toc_parses_to_the_published_disc_id():
    tracks = parse_cdparanoia_toc(PARANOIA_Q)
    assert [(t.number, t.start_sector, t.n_sectors) for t in tracks][:2] == [(1, 0, 15213), (2, 15213, 16951)]
    assert (tracks[3].copy_permitted, tracks[4].pre_emphasis, tracks[0].pre_emphasis) == (True, True, False)
    assert musicbrainz_disc_id(paranoia_toc(tracks)) == "49HHV7Eb8UKF3aQiNmu1GR8vKTY-"
    with pytest.raises(RipError, match="no table of contents: Unable to open disc"):
        parse_cdparanoia_toc("cdparanoia III release 10.2\n\nUnable to open disc.  Is there an audio CD in the drive?\n")


def test_rip_disc_without_cdparanoia_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: neither cdparanoia nor cd-paranoia
    with pytest.raises(RipError) as info:
        rip_disc("/dev/cdrom", tmp_path / "rips")
    assert str(info.value).startswith("cdparanoia is not installed")
    assert "\n" not in str(info.value)


FAKE_TOC = """\
Table of contents (audio tracks only):
track        length               begin        copy pre ch
===========================================================
  1.       12 [00:00.12]       32 [00:00.32]    no   no  2
  2.        9 [00:00.09]       44 [00:00.44]    no   no  2
  3.       15 [00:00.15]       53 [00:00.53]    no  yes  2
TOTAL      36 [00:00.36]    (audio only)
"""


def test_rip_disc_drives_cdparanoia_into_an_image_and_sheet(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "cd-paranoia"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys, wave\n"
        f"TOC = {FAKE_TOC!r}\n"
        "args = sys.argv[1:]\n"
        f"open({str(tmp_path / 'calls.txt')!r}, 'a').write(' '.join(args[:-1]) + '\\n')\n"
        "if '-Q' in args:\n    sys.stderr.write(TOC); sys.exit(0)\n"
        "with wave.open(args[-1], 'wb') as w:\n"
        "    w.setnchannels(2); w.setsampwidth(2); w.setframerate(44100)\n"
        "    w.writeframes(bytes((i * 7 + i // 4) % 256 for i in range(36 * 588 * 4)))\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(RipError, match=f"no CD device at {tmp_path / 'sr9'}"):
        rip_disc(str(tmp_path / "sr9"), tmp_path / "rips")
    device = tmp_path / "sr0"
    device.write_bytes(b"")

    cue = rip_disc(str(device), tmp_path / "rips", read_offset_samples=6)

    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert calls == [f"-d {device}", f"-d {device} -O 6 -w -- 1-3"]
    record = split_disc(cue, tmp_path / "out")
    image = read_int16(cue.with_suffix(".wav"))
    bounds = [0, 12 * SECTOR, 21 * SECTOR, 36 * SECTOR]
    assert all(np.array_equal(read_int16(t.path), image[a:b]) for t, a, b in zip(record.tracks, bounds, bounds[1:]))
    assert [t.start_sector for t in record.tracks] == [32, 44, 53]  # the pregap before track 1 is kept in the TOC
    assert record.musicbrainz_disc_id == musicbrainz_disc_id(paranoia_toc(parse_cdparanoia_toc(FAKE_TOC)))
    assert "FLAGS PRE" in cue.read_text()
    assert rip_disc(str(device), tmp_path / "rips") == cue  # already ripped: not read again
    assert len((tmp_path / "calls.txt").read_text().splitlines()) == 3
