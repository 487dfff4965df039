"""Demo corpus: format, tags, real stereo, determinism, skipping what is already there, looping, safe names.

Renders only the first two pieces, cut to a few seconds (about a second of work each).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mutagen.flac import FLAC

from storage.sources.demo_corpus import (
    DEMO_PIECES,
    PEAK_DBFS,
    demo_track_path,
    resolve_soundfont,
    write_demo_corpus,
)

MAX_S, MIN_S = 4.0, 3.0


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("library")
    write_demo_corpus(out, n_tracks=2, max_seconds=MAX_S, min_seconds=MIN_S)
    return out


def _paths(out: Path) -> list[Path]:
    return [demo_track_path(out, piece) for piece in DEMO_PIECES[:2]]


def test_files_are_flac_44k1_16bit_stereo_within_duration_bounds(corpus_dir: Path) -> None:
    flacs = sorted(corpus_dir.rglob("*.flac"))
    assert flacs == sorted(_paths(corpus_dir))
    for path in flacs:
        info = sf.info(path)
        assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", "PCM_16", 44100, 2)
        assert MIN_S <= info.frames / info.samplerate <= MAX_S  # audio length, not wall-clock
    assert not list(corpus_dir.rglob(".*"))  # no temporaries left behind


def test_tags_name_composer_album_title_and_track(corpus_dir: Path) -> None:
    for piece, path in zip(DEMO_PIECES, _paths(corpus_dir)):
        tags = FLAC(path)
        assert tags["ARTIST"] == [piece.composer]
        assert tags["ALBUM"] == [piece.album]
        assert tags["ALBUM"][0].startswith("LadLe demo: ")
        assert tags["TITLE"] == [piece.title]
        assert tags["TRACKNUMBER"] == [str(piece.track_number)]
        assert len(tags["LADLE_RENDER_KEY"][0]) == 64
        assert tags["LADLE_SPLIT"] == [piece.split]  # every demo track is pinned (storage/ingest.py)
    assert [p.split for p in DEMO_PIECES[:3]] == ["train", "test", "val"]  # any first three hold each split once


def test_audio_is_loud_real_stereo_peaking_at_minus_1_dbfs(corpus_dir: Path) -> None:
    for path in _paths(corpus_dir):
        audio, _ = sf.read(path, dtype="float64")  # (T, C)
        rms = np.sqrt(np.mean(audio**2, axis=0))
        assert np.all(rms > 0.01)  # both channels carry music
        side_rms = np.sqrt(np.mean((audio[:, 0] - audio[:, 1]) ** 2))
        # Panned parts, not mono copied to two channels. With TimGM6mb the first two pieces give 0.24 and
        # 0.13; the same pieces with every part centred give 0.04 and 0.008.
        assert side_rms > 0.08 * rms.mean()
        assert np.abs(audio).max() == pytest.approx(10 ** (PEAK_DBFS / 20), abs=1e-3)
        assert np.abs(audio[-10:]).max() < 1e-3  # faded out, no click at the cut


def test_same_call_gives_identical_pcm(corpus_dir: Path, tmp_path: Path) -> None:
    write_demo_corpus(tmp_path, n_tracks=2, max_seconds=MAX_S, min_seconds=MIN_S)
    for first, second in zip(_paths(corpus_dir), _paths(tmp_path)):
        pcm_first, _ = sf.read(first, dtype="int16")
        pcm_second, _ = sf.read(second, dtype="int16")
        np.testing.assert_array_equal(pcm_first, pcm_second)


def test_rerun_skips_finished_tracks_and_redoes_wrong_ones(tmp_path: Path) -> None:
    (path,) = write_demo_corpus(tmp_path, n_tracks=1, max_seconds=MAX_S, min_seconds=MIN_S)
    past_ns = 1_000_000_000  # stamp a recognisable old mtime: a rewrite would replace it
    os.utime(path, ns=(past_ns, past_ns))

    assert write_demo_corpus(tmp_path, n_tracks=1, max_seconds=MAX_S, min_seconds=MIN_S) == [path]
    assert path.stat().st_mtime_ns == past_ns

    tags = FLAC(path)
    tags["TITLE"] = "tampered"
    tags.save()
    write_demo_corpus(tmp_path, n_tracks=1, max_seconds=MAX_S, min_seconds=MIN_S)
    assert FLAC(path)["TITLE"] == [DEMO_PIECES[0].title]

    # Other durations are another render: the file is replaced, not skipped.
    write_demo_corpus(tmp_path, n_tracks=1, max_seconds=MAX_S + 1, min_seconds=MIN_S)
    assert sf.info(path).duration == pytest.approx(MAX_S + 1, abs=1 / 44100)


def test_piece_shorter_than_min_seconds_is_looped(tmp_path: Path) -> None:
    # The first piece (a chorale, its repeat included) lasts about 61 s: 70 s needs a second pass.
    (path,) = write_demo_corpus(tmp_path, n_tracks=1, max_seconds=70.0, min_seconds=70.0)
    audio, rate = sf.read(path, dtype="float64")  # (T, C)
    assert len(audio) == 70 * rate
    second_pass = audio[63 * rate : 69 * rate]  # after the first pass's last note and release tail
    assert np.sqrt(np.mean(second_pass**2)) > 0.3 * np.sqrt(np.mean(audio**2))


def test_track_paths_are_one_safe_component_each(tmp_path: Path) -> None:
    paths = [demo_track_path(tmp_path, piece) for piece in DEMO_PIECES]
    assert len(set(paths)) == len(paths)
    for path in paths:
        assert path.parent.parent == tmp_path and path.suffix == ".flac"
        for name in (path.parent.name, path.name):
            assert not set(name) & set('/\\:*?"<>|') and not name.startswith(".")
    names = {path.name for path in paths}
    # Hard characters the pipeline must cope with survive: non-ASCII, apostrophes, dots; "/" does not.
    assert "02 - Dichterliebe, Op. 48 - No. 2, Aus meinen Tränen sprießen.flac" in names
    assert "01 - Keyboard Sonata in A major, Wq. 55-4, H. 186 - II. Poco adagio.flac" in names
    assert any("'" in name for name in names)


def test_soundfont_resolution_and_argument_checks(tmp_path: Path) -> None:
    default = resolve_soundfont()
    assert default.suffix.lower() == ".sf2" and default.stat().st_size > 1_000_000
    assert resolve_soundfont(default) == default
    with pytest.raises(FileNotFoundError):
        resolve_soundfont(tmp_path / "missing.sf2")
    for bad in ({"n_tracks": 0}, {"n_tracks": len(DEMO_PIECES) + 1}, {"min_seconds": 5.0, "max_seconds": 4.0}):
        with pytest.raises(ValueError):
            write_demo_corpus(tmp_path, **bad)
    assert not list(tmp_path.iterdir())
