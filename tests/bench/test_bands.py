"""bench/bands.py: presets grouped by bitrate band and codec, means per group, and the targets per band."""

from __future__ import annotations

import math

import pytest

from bench.bands import group_of, group_table, group_verdicts, report_rows

BASE = {"lsd": 2.0, "lsd_hf": 3.0, "snr_db": 20.0, "si_sdr_db": 20.0, "visqol": 3.0}


def _rows(preset: str, track: str, restored: dict, set_name: str = "held-out", base: dict = BASE) -> list[dict]:
    return [
        {"set": set_name, "preset": preset, "track": track, "system": "input", **base},
        {"set": set_name, "preset": preset, "track": track, "system": "restored", **base, **restored},
    ]


@pytest.mark.parametrize(
    "preset,group",
    [
        ("mp3-24", ("≤48", "mp3")),
        ("opus-48", ("≤48", "opus")),
        ("aac-96", ("64–96", "aac")),
        ("paper-32k", ("64–96", "vorbis")),
        ("vorbis-160", ("128–160", "vorbis")),
        ("opus-160", ("128–160", "opus")),
        ("mp3-320", ("≥192", "mp3")),
    ],
)
def test_group_of_a_preset(preset, group):
    assert group_of(preset) == group


def test_rows_are_grouped_by_set_band_and_codec_with_an_all_row_per_band():
    rows = (
        _rows("mp3-24", "a", {"lsd": 1.0, "visqol": 3.5})
        + _rows("mp3-48", "a", {"lsd": 1.4, "visqol": 3.3})
        + _rows("opus-24", "a", {"lsd": 1.8})
        + _rows("mp3-64", "a", {"visqol": 3.2})
        + _rows("mp3-320", "a", {})
        + _rows("mp3-24", "r", {"lsd": 0.5}, set_name="real")
    )
    table = group_table(rows)
    keys = [(r["set"], r["band"], r["codec"]) for r in table]
    assert keys == [
        ("held-out", "≤48", "mp3"),
        ("held-out", "≤48", "opus"),
        ("held-out", "≤48", "all"),
        ("held-out", "64–96", "mp3"),  # one codec: no "all" row repeating it
        ("held-out", "≥192", "mp3"),
        ("real", "≤48", "mp3"),
    ]
    mp3_low, opus_low, all_low = table[:3]
    assert mp3_low["presets"] == "mp3-24, mp3-48" and mp3_low["tracks"] == 2
    assert mp3_low["lsd out"] == pytest.approx(1.2) and mp3_low["LSD ratio"] == pytest.approx(0.6)
    assert mp3_low["dViSQOL"] == pytest.approx(0.4)
    assert opus_low["LSD ratio"] == pytest.approx(0.9) and opus_low["dViSQOL"] == pytest.approx(0.0)
    assert all_low["tracks"] == 3 and all_low["lsd out"] == pytest.approx(1.4)
    assert table[-1]["LSD ratio"] == pytest.approx(0.25)  # the real set is kept apart


def test_verdicts_per_band_ask_what_the_issue_asks():
    rows = (
        _rows("mp3-24", "a", {"lsd": 1.2, "visqol": 3.25})  # +0.25 at <= 48 kbps: short of +0.3
        + _rows("mp3-64", "a", {"lsd": 1.2, "visqol": 3.2, "snr_db": 19.95})  # +0.2 >= +0.15, -0.05 dB
        + _rows("aac-128", "a", {"lsd": 1.5})  # LSD 0.75x: missed
        + _rows("mp3-320", "a", {"snr_db": 19.995, "visqol": 2.9})  # SNR within noise, ViSQOL worse
    )
    low, mp3_64, aac_128, high = group_verdicts(group_table(rows))
    assert low.startswith("held-out ≤48 mp3: ") and "ViSQOL >= input + 0.3 MISSED" in low
    assert "LSD <= 0.7x input met" in low
    assert "MISSED" not in mp3_64 and "ViSQOL >= input + 0.15 met" in mp3_64
    assert "LSD <= 0.7x input MISSED" in aac_128 and "ViSQOL >= input + 0 met" in aac_128
    assert "SNR not worse met (-0.005 dB: within the metric's noise" in high
    assert "ViSQOL not worse MISSED (-0.100)" in high


def test_missing_visqol_is_nan_not_a_crash_and_the_report_shows_arrows():
    no_visqol = {**BASE, "visqol": math.nan}
    table = group_table(_rows("vorbis-96", "a", {"lsd": 1.0}, base=no_visqol))
    assert math.isnan(table[0]["dViSQOL"])
    assert "ViSQOL >= input + 0 MISSED" in group_verdicts(table)[0]
    (row,) = report_rows(table)
    assert row["kbps"] == "64–96" and row["codec"] == "vorbis" and row["LSD"] == "2.000 → 1.000"
