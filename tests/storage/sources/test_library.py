"""Training library: deterministic per seed whatever the worker count, failures replaced by the next work,
reruns reuse finished files, and the `ladle demo-corpus --pieces` command around it.

Renders two or three pieces cut to two seconds (a few seconds of work each, most of it music21's import).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import pytest
import soundfile as sf
from mutagen.flac import FLAC

from storage.sources import library
from storage.sources.library import LIBRARY_JSON, Work, draw_variation, list_works, order_works, write_library

SECONDS = dict(max_seconds=2.0, min_seconds=1.5)


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.flac"))
    }


@pytest.fixture(scope="module")
def seed1_library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, library.LibraryResult]:
    out = tmp_path_factory.mktemp("seed1")
    return out, write_library(out, 3, seed=1, workers=1, **SECONDS)


def test_library_files_tags_and_manifest(seed1_library) -> None:
    out, result = seed1_library
    assert len(result.works) == 3 and len(result.paths) == 3 and result.n_rendered == 3
    assert sorted(result.paths) == sorted(out.rglob("*.flac"))
    for work_id, path in zip(result.works, result.paths):
        info = sf.info(path)
        assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", "PCM_16", 44100, 2)
        assert path.relative_to(out).parts[0] == "TimGM6mb"  # the default SoundFont
        assert FLAC(path)["ALBUM"] == [
            f"LadLe library: {work_id}"
        ]  # one album per work: --group-by-album holds it out whole
    assert result.audio_seconds == pytest.approx(sum(sf.info(p).duration for p in result.paths))
    manifest = json.loads((out / LIBRARY_JSON).read_text())
    assert [p["work"] for p in manifest["pieces"]] == result.works
    assert manifest["seed"] == 1 and manifest["soundfonts"][0]["name"] == "TimGM6mb.sf2"
    assert not list(out.rglob(".*"))  # no temporaries left behind


def test_same_seed_same_bytes_whatever_the_workers_and_another_seed_differs(seed1_library, tmp_path: Path) -> None:
    out, _ = seed1_library
    write_library(tmp_path / "again", 3, seed=1, workers=2, **SECONDS)
    assert _digests(tmp_path / "again") == _digests(out)
    write_library(tmp_path / "other", 3, seed=2, workers=2, **SECONDS)
    assert set(_digests(tmp_path / "other").values()).isdisjoint(_digests(out).values())


def test_rerun_reuses_finished_files_and_a_smaller_library_is_a_prefix(seed1_library, tmp_path: Path) -> None:
    out, first = seed1_library
    copy = tmp_path / "copy"
    for path in first.paths:
        target = copy / path.relative_to(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    again = write_library(copy, 2, seed=1, workers=1, **SECONDS)
    assert again.works == first.works[:2] and again.n_rendered == 0


def _fake_works(tmp_path: Path) -> list[Work]:
    real = {w.work_id: w for w in list_works()}
    broken = tmp_path / "broken.abc"
    broken.write_text("this is not ABC notation\n")
    empty = tmp_path / "empty.xml"
    empty.write_text("<?xml version='1.0'?><score-partwise/>\n")
    return [
        real["bach/bwv269.mxl"],
        Work("zz_broken/broken.abc", str(broken)),
        Work("aa_empty/empty.xml", str(empty)),
        real["ryansMammoth/FishersHornpipe.abc"],
    ]


def test_works_that_fail_are_skipped_with_a_reason_and_replaced(tmp_path: Path, monkeypatch) -> None:
    works = _fake_works(tmp_path)
    good = {"bach/bwv269.mxl", "ryansMammoth/FishersHornpipe.abc"}
    monkeypatch.setattr(library, "list_works", lambda: works)
    order = [w.work_id for w in order_works(works, 0)]

    # Two pieces: the works tried are the shortest prefix of the order holding two that render.
    result = write_library(tmp_path / "two", 2, seed=0, workers=2, **SECONDS)
    tried = order[: max(order.index(w) for w in good) + 1]
    assert result.works == [w for w in order if w in good]
    assert [w for w, _ in result.skipped] == [w for w in tried if w not in good]
    assert all(reason for _, reason in result.skipped)

    # Three pieces: the corpus runs out after trying every work; both failures are recorded with reasons.
    result = write_library(tmp_path / "three", 3, seed=0, workers=2, **SECONDS)
    assert result.works == [w for w in order if w in good]
    assert sorted(w for w, _ in result.skipped) == ["aa_empty/empty.xml", "zz_broken/broken.abc"]
    manifest = json.loads((tmp_path / "three" / LIBRARY_JSON).read_text())
    assert [s["work"] for s in manifest["skipped"]] == [w for w, _ in result.skipped]
    assert all(s["reason"] for s in manifest["skipped"])
    # A one-part tune is doubled an octave lower on a second instrument: real stereo.
    audio, _ = sf.read(next(p for p in result.paths if "Fisher" in p.name), dtype="float64")  # (T, C)
    assert abs(audio[:, 0] - audio[:, 1]).max() > 0.01


def test_order_spans_composers_and_variations_are_seeded_per_work() -> None:
    works = list_works()
    assert len(works) > 2500  # music21's corpus; up to 600 pieces must be possible
    order = order_works(works, 0)
    assert sorted(w.work_id for w in order) == sorted(w.work_id for w in works)  # a permutation
    assert len({w.work_id.split("/")[0] for w in order[:30]}) >= 25  # not 30 Palestrina masses
    assert order == order_works(works, 0) and order != order_works(works, 1)
    assert draw_variation(0, "bach/bwv269.mxl") == draw_variation(0, "bach/bwv269.mxl")
    assert draw_variation(0, "bach/bwv269.mxl") != draw_variation(1, "bach/bwv269.mxl")
    v = draw_variation(0, "bach/bwv269.mxl")
    assert all(0 <= p < 80 or 104 <= p < 112 for p in v.programs) and 0.8 <= v.tempo_factor <= 1.25


def test_cli_renders_a_library_and_refuses_mixed_options(tmp_path: Path, capsys) -> None:
    from flows.cli import main

    out = tmp_path / "lib"
    status = main(["demo-corpus", str(out), "--pieces", "1", "--seed", "1", "--max-seconds", "2", "--workers", "1"])
    assert status == 0
    assert "1 pieces x 1 SoundFont(s): 1 files" in capsys.readouterr().out
    assert len(list(out.rglob("*.flac"))) == 1
    for argv in (
        ["--seed", "3"],
        ["--pieces", "2", "--max-tracks", "3"],
        ["--pieces", "1", "--soundfont", str(tmp_path / "no.sf2")],
        ["--dry"],
        ["--installed-soundfonts"],
        ["--installed-drumkits"],
    ):
        with pytest.raises(SystemExit) as info:
            main(["demo-corpus", str(tmp_path / "x"), *argv])
        assert info.value.code == 2
        assert capsys.readouterr().err.startswith("ladle: error: ")


def test_a_score_plan_plays_back_bit_for_bit_from_its_midi_alone(seed1_library) -> None:
    # bench/gpu_kit.py carries each work's plan (MIDI bytes, voices, velocities) to a machine without music21
    # and plays it again there: the PCM must be the library file's, sample for sample.
    import numpy as np

    from storage.sources.library import render_plan, score_plan
    from storage.sources.midi_render import bundled_soundfont
    from storage.sources.production import Production, apply_production

    out, result = seed1_library
    works = {w.work_id: w for w in list_works()}
    work_id, path = result.works[0], result.paths[0]
    plan = score_plan(works[work_id], draw_variation(1, work_id), SECONDS["max_seconds"])
    assert plan.midi[:4] == b"MThd" and len(plan.voices) == len(plan.velocity_scales) >= 2
    audio, duration_s = render_plan(plan, bundled_soundfont().read_bytes(), **SECONDS)
    production = json.loads((out / LIBRARY_JSON).read_text())["pieces"][0]["production"]
    audio = apply_production(audio, 44100, Production(**production))
    expected, rate = sf.read(path, dtype="int16", always_2d=True)
    assert duration_s == pytest.approx(len(expected) / rate)
    assert np.array_equal(np.round(audio.T * 32767.0).astype(np.int16), expected)


def test_each_work_carries_its_production_chain(seed1_library) -> None:
    import numpy as np

    from storage.sources.production import draw_production

    out, result = seed1_library
    manifest = json.loads((out / LIBRARY_JSON).read_text())
    assert manifest["production"] is True
    for piece, path in zip(manifest["pieces"], result.paths):
        chain = draw_production(1, piece["work"])
        assert piece["production"] == asdict(chain)
        assert json.loads(FLAC(path)["LADLE_PRODUCTION"][0]) == asdict(chain)
        audio, _ = sf.read(path, dtype="float64")
        assert 20 * np.log10(np.abs(audio).max()) == pytest.approx(chain.peak_dbfs, abs=0.01)


def test_a_dry_library_is_the_plain_render_and_another_file(seed1_library, tmp_path: Path) -> None:
    import numpy as np

    from storage.sources.midi_render import PEAK_DBFS

    out, first = seed1_library
    dry = write_library(tmp_path / "dry", 1, seed=1, workers=1, production=False, **SECONDS)
    assert dry.works == first.works[:1]
    manifest = json.loads((tmp_path / "dry" / LIBRARY_JSON).read_text())
    assert manifest["production"] is False and manifest["pieces"][0]["production"] is None
    assert "LADLE_PRODUCTION" not in FLAC(dry.paths[0])
    audio, _ = sf.read(dry.paths[0], dtype="float64")
    assert 20 * np.log10(np.abs(audio).max()) == pytest.approx(PEAK_DBFS, abs=0.01)
    assert dry.paths[0].read_bytes() != first.paths[0].read_bytes()


def test_installed_soundfonts_are_the_known_general_midi_ones_once_each(tmp_path: Path) -> None:
    from storage.sources.midi_render import installed_soundfonts

    sf2, sf3, other = tmp_path / "sf2", tmp_path / "sf3", tmp_path / "other"
    for folder, names in ((sf2, ["TimGM6mb.sf2", "FluidR3_GM.sf2", "OPL3.sf2"]), (sf3, ["MuseScore_General_Lite.sf3"]),
                          (other, ["FluidR3_GM.sf2"])):  # fmt: skip
        folder.mkdir()
        for name in names:
            (folder / name).write_bytes(b"RIFF")
    found = installed_soundfonts([sf2, sf3, other])
    assert found == [sf2 / "FluidR3_GM.sf2", sf3 / "MuseScore_General_Lite.sf3", sf2 / "TimGM6mb.sf2"]
    assert installed_soundfonts([tmp_path / "none"]) == []


def _installed() -> list:
    from storage.sources.midi_render import installed_soundfonts

    return installed_soundfonts()


@pytest.mark.skipif(not _installed(), reason="no General MIDI SoundFont installed (apt install fluid-soundfont-gm)")
def test_every_installed_soundfont_renders_a_work_to_music(tmp_path: Path) -> None:
    import numpy as np

    soundfonts = _installed()
    result = write_library(tmp_path, 1, soundfonts=soundfonts, seed=1, workers=1, **SECONDS)
    assert [p.relative_to(tmp_path).parts[0] for p in result.paths] == [s.stem for s in soundfonts]
    for path in result.paths:
        audio, _ = sf.read(path, dtype="float64")
        assert np.sqrt(np.mean(audio**2)) > 0.01  # music, not near-silence from a SoundFont TinySoundFont misreads
