"""bench/quality.py's pure parts: holding out whole works, the per-preset summary and the verdicts."""

from __future__ import annotations

import json
import math

import pytest

from bench.quality import METRICS, split_library, summarise, verdicts


def test_split_library_holds_out_whole_works_and_links_every_file(tmp_path):
    library = tmp_path / "library"
    pieces = []
    for i in range(6):
        files = [f"TimGM6mb/bach/work{i}.flac", f"FluidR3_GM/bach/work{i}.flac"]  # two renders of one work
        for rel in files:
            (library / rel).parent.mkdir(parents=True, exist_ok=True)
            (library / rel).write_bytes(bytes([i]))
        pieces.append({"work": f"bach/work{i}", "files": files})
    (library / "library.json").write_text(json.dumps({"pieces": pieces}))

    held = split_library(library, 3, tmp_path / "train", tmp_path / "held")
    assert held == ["bach/work1", "bach/work4"]  # i % 3 == 1
    held_files = sorted(p.relative_to(tmp_path / "held").as_posix() for p in (tmp_path / "held").rglob("*.flac"))
    train_files = sorted(p.relative_to(tmp_path / "train").as_posix() for p in (tmp_path / "train").rglob("*.flac"))
    assert held_files == sorted(f"{sf}/bach/work{i}.flac" for i in (1, 4) for sf in ("TimGM6mb", "FluidR3_GM"))
    assert len(train_files) == 8 and not set(train_files) & set(held_files)
    assert (tmp_path / "held" / "TimGM6mb/bach/work4.flac").read_bytes() == bytes([4])
    assert split_library(library, 3, tmp_path / "train", tmp_path / "held") == held  # idempotent


def _rows(preset: str, input_values: dict, restored_values: dict) -> list[dict]:
    return [
        {"preset": preset, "track": "t", "system": system, **values}
        for system, values in (("input", input_values), ("restored", restored_values))
    ]


def test_summary_and_verdicts_say_met_and_missed():
    base = {"lsd": 2.0, "lsd_hf": 3.0, "snr_db": 20.0, "si_sdr_db": 20.0, "visqol": 4.0}
    good = {"lsd": 1.2, "lsd_hf": 1.5, "snr_db": 19.95, "si_sdr_db": 20.1, "visqol": 4.15}
    bad_snr = {**good, "snr_db": 19.5}
    rows = (
        _rows("mp3-64", base, good)
        + _rows("vorbis-96", base, bad_snr)
        + _rows("vorbis-320", base, {**base, "lsd": 2.1})
    )
    table = summarise(rows, ("mp3-64", "vorbis-96", "vorbis-320"))
    assert [r["preset"] for r in table] == ["mp3-64", "vorbis-96", "vorbis-320"]
    assert table[0]["LSD ratio"] == pytest.approx(0.6) and table[0]["dSNR dB"] == pytest.approx(-0.05)
    assert set(f"{m} in" for m in METRICS) <= set(table[0])
    lines = verdicts(table, ("mp3-64", "vorbis-96"))
    assert "MISSED" not in lines[0]
    assert "SNR >= input - 0.1 dB MISSED" in lines[1] and "LSD <= 0.7x input met" in lines[1]
    assert "LSD not worse MISSED (1.050x)" in lines[2] and "SNR not worse met," in lines[2]


def test_a_near_transparent_preset_within_the_metrics_noise_is_a_tie_said_as_such():
    base = {"lsd": 1.0, "lsd_hf": 2.0, "snr_db": 30.0, "si_sdr_db": 30.0, "visqol": 4.7}
    tie = {**base, "lsd": 1.004, "snr_db": 29.995, "visqol": 4.695}
    worse = {**base, "snr_db": 29.7, "visqol": 4.68}
    table = summarise(_rows("vorbis-160", base, tie) + _rows("vorbis-320", base, worse), ("vorbis-160", "vorbis-320"))
    tied, lost = verdicts(table, ("mp3-64",))
    assert "MISSED" not in tied and "ViSQOL not worse met (-0.005: within the metric's noise, 0.01)" in tied
    assert (
        "SNR not worse met (-0.005 dB: within the metric's noise, 0.01)" in tied and "LSD not worse met (1.004x" in tied
    )
    assert "SNR not worse MISSED (-0.300 dB)" in lost and "ViSQOL not worse MISSED (-0.020)" in lost


def test_missing_visqol_is_a_miss_on_a_trained_preset():
    base = {"lsd": 2.0, "lsd_hf": 3.0, "snr_db": 20.0, "si_sdr_db": 20.0, "visqol": math.nan}
    table = summarise(_rows("paper-32k", base, base), ("paper-32k",))
    assert "ViSQOL >= input + 0 MISSED" in verdicts(table, ("paper-32k",))[0]
