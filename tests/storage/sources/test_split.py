"""Splitting disc images into tracks: bit-exact audio, tags, gaps, HTOA, data tracks, caching, finding sheets."""

import os
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from storage.ingest import Track, ingest_file, scan_sources
from storage.sources.cue import CueError
from storage.sources.discid import DiscToc, TocTrack, accuraterip_disc_id, freedb_disc_id, musicbrainz_disc_id
from storage.sources.image import DiscError
from storage.sources.split import find_cue_sheets, split_disc
from tests.conftest import tone_pcm, write_pcm
from tests.storage.sources.disc_images import (
    SECTOR,
    cd_tracks,
    eac_log,
    image_sheet,
    read_int16,
    slow_accuraterip,
    write_image,
)


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
    assert (ingested[0].artist, two.n_frames, two.bits_per_sample, two.sample_rate) == (
        "The Quintet",
        37 * SECTOR,
        16,
        44100,
    )
    assert sf.info(record.tracks[0].path).format == "FLAC"
    import mutagen.flac

    tags = mutagen.flac.FLAC(record.tracks[0].path)
    assert (tags["DATE"], tags["GENRE"], tags["MUSICBRAINZ_DISCID"]) == (
        ["1959"],
        ["Jazz"],
        [record.musicbrainz_disc_id],
    )


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
    assert (numbered[0].accuraterip_v1, numbered[0].accuraterip_v2) == slow_accuraterip(
        tracks[0].tobytes(), True, False
    )


def test_partial_last_frame_is_read_and_counted_up(tmp_path):
    tracks = cd_tracks()
    tracks[2] = tracks[2][: 50 * SECTOR - 100]  # 100 samples short of whole frames
    write_pcm(tmp_path / "image.wav", np.concatenate(tracks))
    (tmp_path / "disc.cue").write_text(image_sheet("image.wav"))
    record = split_disc(tmp_path / "disc.cue", tmp_path / "out")
    assert np.array_equal(read_int16(record.tracks[2].path), tracks[2])
    assert record.tracks[2].n_sectors == 50
    assert record.musicbrainz_disc_id == musicbrainz_disc_id(
        DiscToc.from_lba([150, 190, 227], 277)
    )  # lead-out rounded up
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
    assert (record.musicbrainz_disc_id, record.accuraterip_disc_id) == (
        musicbrainz_disc_id(toc),
        accuraterip_disc_id(toc),
    )
    assert record.accuraterip_disc_id.startswith("002-")
    # The first *audio* track gets AccurateRip's first-track skip.
    assert (record.tracks[0].accuraterip_v1, record.tracks[0].accuraterip_v2) == slow_accuraterip(
        tracks[0].tobytes(), True, False
    )


def test_enhanced_cd_data_session_moves_the_lead_out(tmp_path):
    tracks = cd_tracks()
    (tmp_path / "disc.bin").write_bytes(np.concatenate(tracks).astype("<i2").tobytes() + bytes(2352 * 20))
    (tmp_path / "disc.cue").write_text(
        image_sheet("disc.bin", "BINARY", "  TRACK 04 MODE2/2352\n    INDEX 01 00:01:52\n")
    )
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
    with pytest.raises(
        CueError, match=r"long.cue, line \d+: INDEX 01 \(00:02:00\) of TRACK 03 is past the end of image.wav"
    ):
        split_disc(tmp_path / "long.cue", tmp_path / "out")
    (tmp_path / "gone.cue").write_text(image_sheet("gone.wav"))
    with pytest.raises(CueError, match="FILE 'gone.wav' does not exist"):
        split_disc(tmp_path / "gone.cue", tmp_path / "out")
    sf.write(str(tmp_path / "float.wav"), tone_pcm(0.1) / 2**15, 44100, subtype="FLOAT")
    (tmp_path / "float.cue").write_text('FILE "float.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n')
    with pytest.raises(DiscError, match="FLOAT 44100 Hz with 2 channel.*only 8-, 16- or 24-bit integer PCM"):
        split_disc(tmp_path / "float.cue", tmp_path / "out")
    (tmp_path / "empty.cue").write_text(image_sheet("image.wav").replace("00:01:02", "00:00:40"))
    with pytest.raises(CueError, match="TRACK 03 starts before TRACK 02 ends"):
        split_disc(tmp_path / "empty.cue", tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.flac"))


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


def test_a_sheet_that_fails_to_split_leaves_no_folder_behind(tmp_path):
    # Issue 13: a quarantined CUE sheet left an empty discs/<key>/ folder.
    tracks = cd_tracks()
    write_pcm(tmp_path / "src" / "image.wav", np.concatenate(tracks))
    (tmp_path / "src" / "long.cue").write_text(image_sheet("image.wav").replace("00:01:02", "00:02:00"))
    with pytest.raises(CueError, match="past the end of image.wav"):
        split_disc(tmp_path / "src" / "long.cue", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_legacy_encodings_are_tagged_right_or_not_at_all(tmp_path, monkeypatch):
    import mutagen.flac

    tracks = cd_tracks()
    name = write_image(tmp_path / "src", "flac", np.concatenate(tracks))
    # Issue 13, defect 9: KOI8-R was written into the tags as garbage. Now it is detected and tagged right.
    sheet = image_sheet(name).replace("The Quintet", "Кино").replace("Kind of Test", "Группа крови")
    (tmp_path / "src" / "koi8.cue").write_bytes(sheet.encode("koi8-r"))
    record = split_disc(tmp_path / "src" / "koi8.cue", tmp_path / "out")
    assert (record.album, record.albumartist, record.cue_encoding) == ("Группа крови", "Кино", "koi8_r")
    assert mutagen.flac.FLAC(record.tracks[0].path)["ALBUM"] == ["Группа крови"]

    # A sheet whose encoding cannot be told with confidence (the detector's reading is replaced here by an
    # uncertain one, as for the cp1252 sheet in test_cue): the audio is split, the ASCII names stay (every
    # candidate encoding reads ASCII alike), the others are left out, and why is noted.
    import storage.sources.cue_sheet as cue_module
    from storage.sources.text import DecodedText

    sheet = image_sheet(name).replace("The Quintet", "Sigur Rós").replace("Kind of Test", "Ágætis byrjun")
    (tmp_path / "src" / "unsure.cue").write_bytes(sheet.encode("cp1252"))
    monkeypatch.setattr(cue_module, "detect_text", lambda data: DecodedText(data.decode("cp1252"), "johab", 0.0))
    record = split_disc(tmp_path / "src" / "unsure.cue", tmp_path / "out")
    assert [t.number for t in record.tracks] == [1, 2, 3] and record.cue_encoding_confidence == 0.0
    assert (record.album, record.albumartist) == (None, None)
    assert all((t.title, t.performer) == (None, None) for t in record.tracks)
    # No tag at all from a decode below the threshold, not even its ASCII text ("Freddie", "1959"):
    # only what the split computes itself.
    for track in record.tracks:
        tags = mutagen.flac.FLAC(track.path)
        assert set(tags.keys()) == {"tracknumber", "tracktotal", "musicbrainz_discid"}
    assert any("no text from it is written as tags" in n for n in record.notes)


# ---------------------------------------------------------------- images that are not CD audio


def atrim_reference(image: Path, start: str, end: str | None, out: Path) -> np.ndarray:
    """A track cut by FFmpeg's atrim at the sheet's times in seconds (its own rounding to samples)."""
    import subprocess

    from storage.ffmpeg import ffmpeg_exe

    trim = f"atrim=start={start}" + (f":end={end}" if end else "")
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(image), "-af", trim, "-c:a", "pcm_s24le", str(out)],
                   check=True)  # fmt: skip
    return sf.read(str(out), dtype="int32", always_2d=True)[0]


def seconds(msf: str) -> str:
    """'mm:ss:ff' as exact decimal seconds (frames are 1/75 s: 1/75 = 0.01333…, nine places suffice)."""
    m, s_, f = (int(x) for x in msf.split(":"))
    return f"{(m * 60 + s_) + f / 75:.9f}"


@pytest.mark.parametrize("rate, channels, bits", [(96000, 2, 24), (44100, 1, 16), (32000, 2, 16), (22050, 1, 24)])
def test_any_pcm_image_splits_at_sample_accurate_positions(tmp_path, rate, channels, bits):
    # A 24/96 vinyl image, a mono FLAC, and rates where a CUE frame (1/75 s) is not a whole number of
    # samples (32000: 426.67; 22050: 294, exact) with their track lengths checked against the sheet's
    # arithmetic and against FFmpeg's atrim cutting the same image at the same times.
    times = ["00:00:00", "00:00:31", "00:01:07"]  # INDEX 01 of tracks 1-3: frames 0, 31 and 82
    total_s = 1.5
    pcm = tone_pcm(total_s, sample_rate=rate, channels=channels, bits=bits, seed=2)
    write_pcm(tmp_path / "src" / "image.flac", pcm, sample_rate=rate, bits=bits)
    sheet = 'TITLE "Vinyl"\nFILE "image.flac" WAVE\n' + "".join(
        f'  TRACK {k:02d} AUDIO\n    TITLE "Side A{k}"\n    INDEX 01 {t}\n' for k, t in enumerate(times, 1)
    )
    (tmp_path / "src" / "image.cue").write_text(sheet)

    record = split_disc(tmp_path / "src" / "image.cue", tmp_path / "out")

    frames = [0, 31, 75 + 7]
    starts = [round(f * rate / 75) for f in frames]  # the sheet's arithmetic, rounded to the nearest sample
    expected_counts = [b - a for a, b in zip(starts, starts[1:] + [len(pcm)])]
    counts = [sf.info(t.path).frames for t in record.tracks]
    assert counts == expected_counts
    for k, track in enumerate(record.tracks):
        info = sf.info(track.path)
        assert (info.samplerate, info.channels, info.subtype) == (rate, channels, f"PCM_{bits}")
        ours = sf.read(track.path, dtype="int32", always_2d=True)[0]
        assert np.array_equal(ours >> (32 - bits), pcm[starts[k] : starts[k] + counts[k]])  # bit-exact
        end = seconds(times[k + 1]) if k + 1 < len(times) else None
        reference = atrim_reference(tmp_path / "src" / "image.flac", seconds(times[k]), end, tmp_path / f"ref{k}.wav")
        assert len(reference) == counts[k]  # FFmpeg cuts at the same samples
        assert np.array_equal(reference >> 8, ours >> 8)
    assert [(t.start_sector, t.n_sectors) for t in record.tracks][:2] == [(0, 31), (31, 51)]
    cd = (rate, channels, bits) == (44100, 2, 16)
    assert not cd and record.checks == [] and record.audio_format == f"{bits}-bit, {rate} Hz, {channels} channel(s)"
    assert (record.musicbrainz_disc_id, record.freedb_disc_id, record.accuraterip_disc_id) == ("", "", "")
    assert all((t.crc32, t.accuraterip_v1, t.crc_matches_log) == ("", "", None) for t in record.tracks)
    assert record.tracks[0].title == "Side A1" and record.album == "Vinyl"
    assert any("not CD audio" in n for n in record.notes)


def test_cd_audio_records_its_checks_and_a_hires_wavpack_is_decoded_exactly(tmp_path):
    name = write_image(tmp_path / "cd", "flac", np.concatenate(cd_tracks()))
    (tmp_path / "cd" / "disc.cue").write_text(image_sheet(name))
    (tmp_path / "cd" / "disc.log").write_bytes(eac_log("Track  1\r\n     Copy CRC 00000000\r\n"))
    record = split_disc(tmp_path / "cd" / "disc.cue", tmp_path / "out")
    assert record.checks == ["crc32", "accuraterip", "disc_ids", "rip_log"]
    assert record.audio_format == "16-bit, 44100 Hz, 2 channel(s)"

    # A 24-bit/96-kHz WavPack (read through FFmpeg, kept at 24 bits).
    import subprocess

    from storage.ffmpeg import ffmpeg_exe

    pcm = tone_pcm(0.5, sample_rate=96000, bits=24, seed=4)
    write_pcm(tmp_path / "wv" / "src.wav", pcm, sample_rate=96000, bits=24)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(tmp_path / "wv" / "src.wav"), str(tmp_path / "wv" / "image.wv")],
                   check=True)  # fmt: skip
    (tmp_path / "wv" / "src.wav").unlink()
    (tmp_path / "wv" / "image.cue").write_text(
        'FILE "image.wv" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n  TRACK 02 AUDIO\n    INDEX 01 00:00:20\n'
    )
    record = split_disc(tmp_path / "wv" / "image.cue", tmp_path / "out")
    one, two = (sf.read(t.path, dtype="int32", always_2d=True)[0] >> 8 for t in record.tracks)
    assert len(one) == 20 * 1280 and np.array_equal(np.concatenate([one, two]), pcm)
    assert record.audio_format == "24-bit, 96000 Hz, 2 channel(s)" and record.checks == []
