"""Presets: every codec spans the bands, groups expand, each preset's band and codec, and each one encodes."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from storage import ffmpeg as ff
from storage.config import (
    PRESET_GROUPS,
    PRESETS,
    ConfigError,
    CorpusConfig,
    expand_presets,
    get_preset,
    preset_band,
)
from storage.presets import band_of_kbps


def test_every_codec_spans_24_to_320_kbps_in_every_band():
    bands = [preset_band(p) for p in PRESETS.values()]
    for codec in ("mp3", "aac", "vorbis", "opus"):
        kbps = [b.kbps for b in bands if b.codec == codec]
        assert min(kbps) <= 48 and max(kbps) >= 160, codec
        assert {"≤48", "64–96", "128–160"} <= {b.band for b in bands if b.codec == codec}, codec
    assert min(b.kbps for b in bands) == 24 and max(b.kbps for b in bands) == 320


@pytest.mark.parametrize(
    "name,codec,kbps,band",
    [
        ("mp3-24", "mp3", 24, "≤48"),
        ("opus-48", "opus", 48, "≤48"),
        ("vorbis-48", "vorbis", 48, "≤48"),
        ("aac-64", "aac", 64, "64–96"),
        ("vorbis-96", "vorbis", 96, "64–96"),  # VBR: by its quality's nominal bitrate
        ("paper-32k", "vorbis", 96, "64–96"),
        ("mp3-128", "mp3", 128, "128–160"),
        ("vorbis-160", "vorbis", 160, "128–160"),
        ("mp3-192", "mp3", 192, "≥192"),
        ("aac-256", "aac", 256, "≥192"),
        ("vorbis-320", "vorbis", 320, "≥192"),
    ],
)
def test_preset_band_and_codec(name, codec, kbps, band):
    b = preset_band(get_preset(name))
    assert (b.codec, b.kbps, b.band) == (codec, kbps, band)


def test_a_bitrate_between_bands_goes_to_the_nearer():
    assert [band_of_kbps(k) for k in (8, 48, 56, 57, 112, 113, 176, 177, 500)] == [
        "≤48", "≤48", "≤48", "64–96", "64–96", "128–160", "128–160", "≥192", "≥192",
    ]  # fmt: skip


def test_groups_expand_in_order_without_repeats_and_unknown_names_are_one_error():
    assert expand_presets(["mp3-64"]) == ("mp3-64",)
    wide = expand_presets(["mp3-320", "wideband", "mp3-64", "aac-128"])
    assert wide[0] == "mp3-320" and wide[-1] == "aac-128" and len(wide) == len(set(wide))
    assert set(wide) == set(PRESET_GROUPS["wideband"]) | {"aac-128"}
    with pytest.raises(ConfigError, match="unknown preset 'mp3-65'.*wideband"):
        expand_presets(["mp3-65"])


def test_wideband_covers_every_codec_and_band():
    bands = [preset_band(get_preset(n)) for n in PRESET_GROUPS["wideband"]]
    assert {b.codec for b in bands} == {"mp3", "aac", "vorbis", "opus"}
    assert {b.band for b in bands} == {"≤48", "64–96", "128–160", "≥192"}
    CorpusConfig(presets=expand_presets(["wideband"]))  # every member passes the corpus checks


@pytest.fixture(scope="module")
def tone_noise(tmp_path_factory) -> str:
    """One second of stereo tones and noise at 44.1 kHz, as FLAC."""
    rate = 44100
    t = np.arange(rate) / rate
    rng = np.random.default_rng(0)
    audio = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(rate)
    path = tmp_path_factory.mktemp("presets") / "tone.flac"
    sf.write(path, np.stack([audio, np.roll(audio, 7)], axis=1).astype(np.float32), rate)
    return str(path)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_encodes_at_its_rate(name, tone_noise, tmp_path):
    preset = get_preset(name)
    out = tmp_path / f"x.{preset.extension}"
    ff.encode_file(tone_noise, out, preset)
    probe = ff.probe_audio(out)
    assert (probe.sample_rate, probe.channels) == (preset.sample_rate, 2)
