"""Encode presets: every lossy rendition the pipeline makes, the named groups of them, and their bitrate bands.

    get_preset("mp3-64").ffmpeg_options()      # {"acodec": "libmp3lame", "ar": 44100, "audio_bitrate": "64k"}
    expand_presets(["wideband", "mp3-64"])     # the group's members, then mp3-64 if not among them
    preset_band(get_preset("vorbis-96"))       # PresetBand(codec="vorbis", kbps=96, band="64–96")

The presets span what users hold, from 24 to 320 kbps in MP3, AAC, Vorbis and Opus, so a codec's
low-pass cut falls anywhere from about 4 to 20 kHz; docs/presets.md lists each preset's cut as
measured with FFmpeg (`python -m bench.presets`). `storage.config` re-exports all of this.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.errors import ConfigError


@dataclass(frozen=True)
class EncodePreset:
    """One lossy rendition of a track, as FFmpeg makes it."""

    name: str
    encoder: str  # FFmpeg encoder name
    extension: str  # container, by file extension
    sample_rate: int  # the rate the codec runs at
    bitrate_kbps: int | None = None  # target bitrate (CBR/ABR)
    quality: float | None = None  # VBR quality, codec-specific scale

    def ffmpeg_options(self) -> dict:
        options: dict = {"acodec": self.encoder, "ar": self.sample_rate}
        if self.bitrate_kbps is not None:
            options["audio_bitrate"] = f"{self.bitrate_kbps}k"
        if self.quality is not None:
            options["q:a"] = self.quality
        return options


def _p(name: str, encoder: str, extension: str, sample_rate: int, kbps: int | None = None, q: float | None = None):
    return EncodePreset(name, encoder, extension, sample_rate, bitrate_kbps=kbps, quality=q)


# Vorbis qualities follow libvorbis' nominal bitrates for 44.1 kHz stereo (q0 ≈ 64, q2 ≈ 96,
# q5 ≈ 160, q9 ≈ 320 kbps; https://wiki.hydrogenaud.io/index.php?title=Recommended_Ogg_Vorbis): streaming
# services serve Vorbis as quality-based VBR. The LadLe paper's input is Vorbis at 32 kHz; ~96 kbps
# as measured (docs/design.md). MP3/AAC/Opus are CBR/ABR at their named bitrates. Opus always runs at
# 48 kHz. MPEG-1 Layer III has no 24 kbps at 44.1 kHz (ISO/IEC 11172-3 starts at 32), so mp3-24 is
# MPEG-2 at 22.05 kHz, as LAME itself resamples such low bitrates. vorbis-48 is ABR: FFmpeg ignores
# a negative `-q:a`, so libvorbis' q-1 cannot be asked for.
PRESETS: dict[str, EncodePreset] = {
    p.name: p
    for p in [
        _p("mp3-24", "libmp3lame", "mp3", 22050, kbps=24),
        _p("mp3-32", "libmp3lame", "mp3", 44100, kbps=32),
        _p("mp3-48", "libmp3lame", "mp3", 44100, kbps=48),
        _p("mp3-64", "libmp3lame", "mp3", 44100, kbps=64),
        _p("mp3-96", "libmp3lame", "mp3", 44100, kbps=96),
        _p("mp3-128", "libmp3lame", "mp3", 44100, kbps=128),
        _p("mp3-192", "libmp3lame", "mp3", 44100, kbps=192),
        _p("mp3-320", "libmp3lame", "mp3", 44100, kbps=320),
        _p("aac-48", "aac", "m4a", 44100, kbps=48),
        _p("aac-64", "aac", "m4a", 44100, kbps=64),
        _p("aac-96", "aac", "m4a", 44100, kbps=96),
        _p("aac-128", "aac", "m4a", 44100, kbps=128),
        _p("aac-256", "aac", "m4a", 44100, kbps=256),
        _p("vorbis-48", "libvorbis", "ogg", 44100, kbps=48),
        _p("vorbis-64", "libvorbis", "ogg", 44100, q=0.0),
        _p("vorbis-96", "libvorbis", "ogg", 44100, q=2.0),
        _p("vorbis-160", "libvorbis", "ogg", 44100, q=5.0),
        _p("vorbis-320", "libvorbis", "ogg", 44100, q=9.0),
        _p("paper-32k", "libvorbis", "ogg", 32000, kbps=96),
        _p("opus-24", "libopus", "opus", 48000, kbps=24),
        _p("opus-32", "libopus", "opus", 48000, kbps=32),
        _p("opus-48", "libopus", "opus", 48000, kbps=48),
        _p("opus-64", "libopus", "opus", 48000, kbps=64),
        _p("opus-96", "libopus", "opus", 48000, kbps=96),
        _p("opus-160", "libopus", "opus", 48000, kbps=160),
    ]
}

# Named mixes of presets, usable wherever a preset name is (`--preset wideband`). `wideband` is the
# training default: every codec, every band, cuts spread from about 4 to 20 kHz (docs/presets.md), and
# near-transparent renditions so the model learns to leave those alone.
PRESET_GROUPS: dict[str, tuple[str, ...]] = {
    "wideband": (
        "mp3-24",
        "mp3-32",
        "mp3-48",
        "mp3-64",
        "mp3-96",
        "mp3-128",
        "mp3-320",
        "aac-48",
        "aac-64",
        "aac-256",
        "vorbis-64",
        "vorbis-96",
        "paper-32k",
        "opus-24",
        "opus-64",
    ),  # fmt: skip
}

CODECS = {"libmp3lame": "mp3", "aac": "aac", "libvorbis": "vorbis", "libopus": "opus"}
# libvorbis' nominal bitrate at each quality (the table cited above PRESETS), for presets without a bitrate.
VORBIS_NOMINAL_KBPS = {0.0: 64, 1.0: 80, 2.0: 96, 3.0: 112, 4.0: 128, 5.0: 160, 6.0: 192, 7.0: 224,
                       8.0: 256, 9.0: 320, 10.0: 500}  # fmt: skip
# The bitrate bands results are reported in (issue 31): what users hold, from low-bitrate files to
# near-transparent ones. A bitrate between two bands belongs to the nearer one.
BANDS: tuple[tuple[str, int], ...] = (("≤48", 56), ("64–96", 112), ("128–160", 176), ("≥192", 10**6))


# The lowest cut `python -m bench.presets` read on any of its tracks, per preset (docs/presets.md), in kHz; None
# where the encoder keeps the whole band. No encode of a codec at a bitrate was cut lower than its presets at or
# below that bitrate were (`lowest_codec_cut_hz`). Opus picks its band (4, 6, 8, 12 or 20 kHz) by bitrate and
# signal, and libopus may code 12 kHz below 48 kb/s, so opus-24 and opus-32 are listed at that.
LOWEST_CUT_KHZ: dict[str, float | None] = {
    "mp3-24": 4.0, "mp3-32": 5.7, "mp3-48": 7.3, "mp3-64": 10.5, "mp3-96": 15.1, "mp3-128": 16.1, "mp3-192": 16.0,
    "mp3-320": 20.1, "aac-48": 7.6, "aac-64": 12.5, "aac-96": 15.9, "aac-128": 17.3, "aac-256": None,
    "vorbis-48": 14.2, "vorbis-64": 15.1, "vorbis-96": 16.6, "vorbis-160": 19.6, "vorbis-320": 20.6, "paper-32k": 14.3,
    "opus-24": 12.0, "opus-32": 12.0, "opus-48": 20.0, "opus-64": 20.1, "opus-96": 20.1, "opus-160": 20.0,
}  # fmt: skip


@dataclass(frozen=True)
class PresetBand:
    codec: str  # mp3, aac, vorbis, opus
    kbps: int  # nominal bitrate
    band: str  # one of BANDS' names


def get_preset(name: str) -> EncodePreset:
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join([*PRESETS, *PRESET_GROUPS])
        raise ConfigError(f"unknown preset {name!r}; known presets and groups: {known}") from None


def expand_presets(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Preset names with every group replaced by its members, each preset once, in first-seen order."""
    out: list[str] = []
    for name in names:
        for member in PRESET_GROUPS.get(name, (name,)):
            get_preset(member)  # ConfigError for an unknown name
            if member not in out:
                out.append(member)
    return tuple(out)


def band_of_kbps(kbps: float) -> str:
    """The band a bitrate falls in: "≤48", "64–96", "128–160" or "≥192"."""
    return next(name for name, upper in BANDS if kbps <= upper)


def preset_band(preset: EncodePreset) -> PresetBand:
    """A preset's codec, nominal bitrate and band (VBR Vorbis by its quality's nominal bitrate)."""
    codec = CODECS.get(preset.encoder)
    if codec is None:
        raise ConfigError(f"preset {preset.name}: no codec family for encoder {preset.encoder!r}")
    if preset.bitrate_kbps is not None:
        kbps = preset.bitrate_kbps
    elif preset.encoder == "libvorbis" and preset.quality in VORBIS_NOMINAL_KBPS:
        kbps = VORBIS_NOMINAL_KBPS[preset.quality]
    else:
        raise ConfigError(f"preset {preset.name}: no nominal bitrate for quality {preset.quality}")
    return PresetBand(codec, kbps, band_of_kbps(kbps))


def lowest_codec_cut_hz(codec: str, kbps: float | None, sample_rate: int) -> float | None:
    """The lowest cut the presets' encoders of `codec` made at `kbps` or less (a file's bitrate, as FFmpeg reports
    it) and at `sample_rate` or less, in Hz: a file of that codec and bitrate cut lower was band-limited before it
    was encoded. None where no preset tells (an unknown codec, no bitrate, or a bitrate below every preset's).
    A file's bitrate may overshoot its nominal one (FFmpeg's AAC at 48 kb/s wrote up to 61), so only presets of
    no more than that bitrate count: the lower bound errs low, which leaves a cut as read."""
    if kbps is None:
        return None
    cuts = [
        cut * 1000.0
        for name, preset in PRESETS.items()
        if (cut := LOWEST_CUT_KHZ.get(name)) is not None
        and CODECS.get(preset.encoder) == codec
        and preset_band(preset).kbps <= kbps
        and preset.sample_rate <= sample_rate
    ]
    return max(cuts, default=None)


def preset_lowest_cut_hz(name: str) -> float | None:
    """`lowest_codec_cut_hz` of an encode made with preset `name`, at its nominal bitrate."""
    preset = get_preset(name)
    band = preset_band(preset)
    return lowest_codec_cut_hz(band.codec, band.kbps, preset.sample_rate)
