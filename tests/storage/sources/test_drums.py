"""Drum kits in Hydrogen's format: parsed by role, grooves drawn per work and played on the score's beat."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mutagen.flac import FLAC

from storage.sources.drums import (
    Groove,
    draw_groove,
    hits,
    installed_kits,
    load_kit,
    mix_drums,
    render_groove,
)

RATE = 44100
# Each role's sample starts with a different first value, so a hit's role can be read off the output.
FIRST_VALUE = {"kick": 0.5, "snare": 0.25, "hat": 0.125, "cymbal": 0.0625}


def _instrument(name: str, layers: list[tuple[float, float, str]]) -> str:
    body = "".join(f"<layer><filename>{f}</filename><min>{lo}</min><max>{hi}</max></layer>" for lo, hi, f in layers)
    return f"<instrument><name>{name}</name>{body}</instrument>"


def make_kit(folder: Path, names: dict[str, str], namespace: str = "") -> Path:
    """A kit of 20-ms samples, one instrument per role (name -> role), written as drumkit.xml + WAVs."""
    folder.mkdir(parents=True)
    instruments = []
    for name, role in names.items():
        sample = np.zeros((round(0.02 * RATE), 2), dtype=np.float32)
        sample[0] = FIRST_VALUE[role]
        sample[1:] = 0.01
        for velocity in ("soft", "hard"):
            sf.write(folder / f"{role}-{velocity}.wav", sample * (1 if velocity == "hard" else 0.5), RATE)
        instruments.append(_instrument(name, [(0.5, 1.0, f"{role}-hard.wav"), (0.0, 0.5, f"{role}-soft.wav")]))
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    xml = f"<drumkit_info{xmlns}><name>{folder.name}</name><instrumentList>{''.join(instruments)}</instrumentList>"
    (folder / "drumkit.xml").write_text(xml + "</drumkit_info>")
    return folder


ROLE_NAMES = {"Kick": "kick", "Snare Rock": "snare", "Closed HH": "hat", "Crash": "cymbal"}


@pytest.fixture
def kit_folder(tmp_path: Path) -> Path:
    return make_kit(tmp_path / "kits" / "TestKit", {"Open HH": "hat", **ROLE_NAMES})


def test_a_kit_is_read_by_role_with_its_velocity_layers(kit_folder: Path, tmp_path: Path) -> None:
    kit = load_kit(kit_folder)
    assert kit is not None and kit.name == "TestKit" and set(kit.layers) == {"kick", "snare", "hat", "cymbal"}
    assert [Path(la.path).name for la in kit.layers["kick"]] == ["kick-soft.wav", "kick-hard.wav"]
    # "Open HH" is not the closed hi-hat: the one named "Closed HH" is (its own hard sample says so).
    assert Path(kit.layers["hat"][1].path).name == "hat-hard.wav"
    namespaced = make_kit(tmp_path / "ns" / "New", ROLE_NAMES, "http://www.hydrogen-music.org/drumkit")
    assert set(load_kit(namespaced).layers) == {"kick", "snare", "hat", "cymbal"}
    no_snare = make_kit(tmp_path / "hand" / "Hands", {"Kick": "kick", "Closed HH": "hat"})
    assert load_kit(no_snare) is None and load_kit(tmp_path / "nowhere") is None
    assert installed_kits([kit_folder.parent, no_snare.parent, tmp_path / "missing"]) == [kit_folder]


def test_grooves_are_drawn_per_work_for_a_share_of_works() -> None:
    kits = ["A", "B"]
    assert draw_groove(0, "w", kits, 1.0) == draw_groove(0, "w", kits, 1.0)
    assert draw_groove(0, "w", kits, 0.0) is None and draw_groove(0, "w", [], 1.0) is None
    drawn = [draw_groove(0, f"w{i}", kits, 0.5) for i in range(400)]
    assert 0.4 < sum(g is not None for g in drawn) / 400 < 0.6
    assert {g.kit for g in drawn if g} == set(kits) and {g.pattern for g in drawn if g} == {
        "backbeat",
        "half",
        "sparse",
    }


def _groove(**kw) -> Groove:
    return Groove(**{"kit": "TestKit", "pattern": "backbeat", "level_db": -6.0, "hat_eighths": False,
                     "crash_every_bars": 4, "seed": 0, **kw})  # fmt: skip


def test_patterns_put_kick_snare_and_hats_on_the_beats() -> None:
    one_bar = sorted(hits(_groove(), beats_per_bar=4, bars=1))
    assert one_bar == sorted([("kick", 0), ("snare", 1), ("kick", 2), ("snare", 3), ("cymbal", 0)]
                             + [("hat", b) for b in range(4)])  # fmt: skip
    half = hits(_groove(pattern="half", hat_eighths=True), beats_per_bar=3, bars=2)
    assert [(r, b) for r, b in half if r in ("kick", "snare")] == [("kick", 0), ("snare", 1), ("kick", 3), ("snare", 4)]
    assert sorted(b for r, b in half if r == "hat") == [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5]
    assert [b for r, b in half if r == "cymbal"] == [0]  # every 4th bar


def test_hits_land_on_the_beat_after_the_pickup_and_restart_with_each_pass(kit_folder: Path) -> None:
    kit = load_kit(kit_folder)
    # 120 qpm: a beat is 0.5 s; a one-beat pickup puts the first downbeat at 0.5 s; the piece loops every 2.75 s.
    drums = render_groove(_groove(), kit, qpm=120.0, beats_per_bar=4, pickup_quarters=1.0, period_s=2.75,
                          duration_s=5.0)  # fmt: skip
    assert drums.shape == (2, 5 * RATE)
    assert not drums[:, : RATE // 2].any()  # nothing in the pickup
    onsets = np.flatnonzero(np.diff(drums[0], prepend=0) > 0.02)  # rises: each hit's first sample
    first_pass = [round((0.5 + 0.5 * b) * RATE) for b in range(5)]  # beats at 0.5, 1.0, ... 2.5 s
    second_pass = [round((2.75 + 0.5 + 0.5 * b) * RATE) for b in range(4)]  # 3.25 ... 4.75 s
    assert list(onsets) == first_pass + second_pass
    # The downbeat holds kick + hat + crash: the three samples' first values scaled by their velocities.
    assert drums[0, first_pass[0]] > FIRST_VALUE["kick"] * 0.3
    np.testing.assert_array_equal(drums, render_groove(_groove(), kit, 120.0, 4, 1.0, 2.75, 5.0))


def test_drums_are_mixed_at_their_level_against_the_music() -> None:
    rng = np.random.default_rng(0)
    music = rng.standard_normal((2, RATE)).astype(np.float32) * 0.1
    drums = rng.standard_normal((2, RATE)).astype(np.float32)
    mixed = mix_drums(music, drums, -6.0)
    added = mixed - music
    assert 20 * np.log10(np.sqrt(np.mean(added**2)) / np.sqrt(np.mean(music**2))) == pytest.approx(-6.0, abs=1e-3)
    assert mix_drums(music, np.zeros_like(drums), -6.0) is music


def test_a_library_with_drums_records_them_and_is_reproducible(kit_folder: Path, tmp_path: Path) -> None:
    from storage.sources.library import LIBRARY_JSON, write_library

    seconds = dict(max_seconds=2.0, min_seconds=1.5)
    first = write_library(tmp_path / "a", 1, seed=1, workers=1, drumkits=[kit_folder], drum_share=1.0, **seconds)
    again = write_library(tmp_path / "b", 1, seed=1, workers=1, drumkits=[kit_folder], drum_share=1.0, **seconds)
    plain = write_library(tmp_path / "c", 1, seed=1, workers=1, **seconds)
    manifest = json.loads((tmp_path / "a" / LIBRARY_JSON).read_text())
    groove = draw_groove(1, first.works[0], ["TestKit"], 1.0)
    assert manifest["pieces"][0]["drums"]["kit"] == "TestKit" == groove.kit
    assert manifest["drumkits"][0]["name"] == "TestKit" and len(manifest["drumkits"][0]["sha256"]) == 64
    assert json.loads(FLAC(first.paths[0])["LADLE_DRUMS"][0])["pattern"] == groove.pattern
    assert first.paths[0].read_bytes() == again.paths[0].read_bytes()
    assert first.paths[0].read_bytes() != plain.paths[0].read_bytes()


@pytest.mark.skipif(not installed_kits(), reason="no sampled drum kit installed (apt install hydrogen-drumkits)")
def test_every_installed_kit_plays_a_bar() -> None:
    for folder in installed_kits():
        kit = load_kit(folder)
        drums = render_groove(_groove(kit=kit.name), kit, 120.0, 4, 0.0, 2.0, 2.0)
        assert np.sqrt(np.mean(drums**2)) > 1e-3, folder.name
