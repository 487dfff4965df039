"""Reading a codec's cut: per window, over a whole track in bounded memory, and running a model at it."""

from __future__ import annotations

import pytest
import torch

from ladle_model.models.bandwidth import (
    AtBandwidth,
    BandwidthMeter,
    at_bandwidth,
    at_track_bandwidth,
    codec_cut,
    input_bandwidth,
    measures_bandwidth,
    passes_through,
    track_bandwidth,
)
from ladle_model.models.restorer import PassThrough
from ladle_model.models.specnext import SpecNeXt, SpecNeXtConfig
from storage.presets import lowest_codec_cut_hz, preset_lowest_cut_hz

RATE, N_FFT, HOP = 44100, 1024, 256


def low_passed_noise(cut_hz: list[float], n: int = 44100, rate: int = 44100, seed: int = 0) -> torch.Tensor:
    """(B, 2, n) white noise, item b brick-wall low-passed at cut_hz[b] (inf: full band), as a codec does."""
    spec = torch.fft.rfft(0.1 * torch.randn(len(cut_hz), 2, n, generator=torch.Generator().manual_seed(seed)))
    freqs = torch.fft.rfftfreq(n, 1 / rate)
    for b, cut in enumerate(cut_hz):
        spec[b, :, freqs > cut] = 0
    return torch.fft.irfft(spec, n=n)


def stft(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T) -> complex (B, C, F, frames), the models' layout."""
    b, c, t = x.shape
    spec = torch.stft(
        x.reshape(b * c, t), N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, return_complex=True
    )
    return spec.reshape(b, c, *spec.shape[1:])


def sparse_track(seconds: int = 12, loud_seconds: int = 1) -> torch.Tensor:
    """(2, T): a bass line (noise low-passed at 3 kHz, below any codec's cut) for most of the track, and
    `loud_seconds` of music reaching up to the codec's 11-kHz low-pass in the middle, as a sparse MP3 at 64 kbps."""
    bass = low_passed_noise([3000.0], n=seconds * RATE, seed=1)[0]
    bright = low_passed_noise([11000.0], n=loud_seconds * RATE, seed=2)[0]
    middle = (seconds // 2) * RATE
    bass[:, middle : middle + loud_seconds * RATE] += bright
    return bass


def test_input_bandwidth_finds_a_codec_low_pass_and_calls_an_uncut_input_full_band():
    spec = stft(low_passed_noise([11000.0, 16000.0, float("inf")]))
    width_hz = input_bandwidth(spec) * 22050
    assert width_hz[0].item() == pytest.approx(11000, abs=150) and width_hz[1].item() == pytest.approx(16000, abs=150)
    assert width_hz[2].item() == 22050  # no cliff: nothing to fill
    assert input_bandwidth(spec[:, :, :20]).tolist() == [1.0, 1.0, 1.0]  # too few bins to look for one


def test_the_track_meter_finds_the_cut_of_a_sparse_track_that_its_windows_miss():
    track = sparse_track()
    windows = track[:, : 10 * RATE].reshape(2, 10, RATE).transpose(0, 1)  # (10, 2, RATE): 1-s windows
    per_window = input_bandwidth(stft(windows))
    assert (per_window == 1.0).sum() >= 8  # the bass-only windows show no cut (a bass line's edge is not one)
    assert input_bandwidth(stft(track[None]))[0].item() == 1.0  # the 90th percentile of the whole track misses it too
    assert track_bandwidth(track, N_FFT, HOP) * 22050 == pytest.approx(11000, abs=150)  # its 99th percentile finds it


def test_the_meter_reads_the_same_cut_in_any_chunking_and_full_band_or_silence_as_uncut():
    track = sparse_track(seconds=6)
    whole = track_bandwidth(track, N_FFT, HOP, chunk_samples=track.shape[-1])
    assert whole * 22050 == pytest.approx(11000, abs=150)
    for chunk in (RATE // 3, 2 * RATE + 7):
        assert track_bandwidth(track, N_FFT, HOP, chunk_samples=chunk) == pytest.approx(
            whole, abs=1 / 512
        )  # a bin: chunk edges add frames
    assert track_bandwidth(low_passed_noise([float("inf")], n=3 * RATE)[0], N_FFT, HOP) == 1.0
    assert track_bandwidth(torch.zeros(2, RATE), N_FFT, HOP) == 1.0
    assert BandwidthMeter(N_FFT, HOP).bandwidth() == 1.0  # nothing pushed


def filling_model(table: list | None) -> SpecNeXt:
    """A SpecNeXt whose fill head adds a constant everywhere (the mask head stays zero), with a gain table."""
    torch.manual_seed(0)
    model = SpecNeXt(SpecNeXtConfig(dim=16, n_blocks=1, fill_gain_table=table))
    with torch.no_grad():
        model.head.bias[2 * model.n_bins :] = 1.0  # a fill of ~1e-3 in the waveform
    return model.eval()


def test_a_model_at_a_tracks_bandwidth_fills_every_window_by_it_not_by_the_windows_own_reading():
    model = filling_model([[0.5, 0.5, 0.5, 1.0], [1.0, 0.0, 0.0, 1.0]])
    x = low_passed_noise([float("inf")], n=22050)  # a window that looks full band: no fill when read alone
    with torch.no_grad():
        alone = model(x)
        pinned = AtBandwidth(model, 0.5)(x)  # its track was cut at half Nyquist: gain 1/2
        model.config.fill_gain_table = None
        full = model(x)  # gain 1 everywhere
    assert torch.allclose(alone, x, atol=1e-7)
    assert (full - x).abs().max() > 1e-3 and torch.allclose(pinned - x, 0.5 * (full - x), atol=1e-6)
    assert list(AtBandwidth(model, 0.5).parameters()) == list(
        model.parameters()
    )  # the restorer finds the model's device


def test_only_a_model_that_fills_by_bandwidth_is_measured_for_it():
    track = sparse_track(seconds=3)
    assert not measures_bandwidth(PassThrough()) and not measures_bandwidth(filling_model(None))
    assert at_track_bandwidth(filling_model(None), track, 22050).__class__ is SpecNeXt  # run as it is
    wrapped = at_track_bandwidth(filling_model([[0.5, 0.5, 0.5, 1.0], [1.0, 0.0, 0.0, 1.0]]), track, 22050)
    assert isinstance(wrapped, AtBandwidth) and wrapped.bandwidth * 22050 == pytest.approx(11000, abs=150)


def test_a_cut_below_what_the_codec_makes_at_its_bitrate_is_read_as_none_and_passed_through():
    # the sparse track is cut at 11 kHz: MP3 at 64 kb/s cuts there, AAC at 256 kb/s never below 17.3 kHz
    track = sparse_track(seconds=3)
    table = [[0.6, 0.5, 0.5, 1.0], [0.62, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    assert preset_lowest_cut_hz("mp3-64") == 10500 and preset_lowest_cut_hz("aac-256") == 17300
    as_mp3 = at_track_bandwidth(filling_model(table), track, 22050, preset_lowest_cut_hz("mp3-64"))
    assert isinstance(as_mp3, AtBandwidth) and as_mp3.bandwidth * 22050 == pytest.approx(11000, abs=150)
    assert isinstance(at_track_bandwidth(filling_model(table), track, 22050, 17300), PassThrough)
    assert codec_cut(0.5, 22050, None) == 0.5  # no codec known: the reading stands
    assert codec_cut(0.5, 22050, 12000) == 0.5 and codec_cut(0.5, 22050, 13100) == 1.0  # SOURCE_MARGIN_HZ below


def test_the_lowest_codec_cut_follows_codec_bitrate_and_sample_rate():
    assert lowest_codec_cut_hz("mp3", 64, 44100) == 10500  # mp3-64's own
    assert lowest_codec_cut_hz("mp3", 80, 44100) == 10500  # between presets: the one below
    assert lowest_codec_cut_hz("mp3", 24, 22050) == 4000  # MPEG-2 at 22.05 kHz
    assert lowest_codec_cut_hz("vorbis", 96, 32000) == 14300  # a 32-kHz Vorbis cuts lower than a 44.1-kHz one
    assert lowest_codec_cut_hz("vorbis", 96, 44100) == 16600
    assert lowest_codec_cut_hz("mp3", 16, 44100) is None  # below every preset
    assert lowest_codec_cut_hz("flac", 900, 44100) is None and lowest_codec_cut_hz("mp3", None, 44100) is None


def test_a_model_past_its_gate_is_not_run_at_all():
    gated = filling_model([[0.5, 0.25, 0.5, 1.0], [0.7, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    assert [passes_through(gated, b) for b in (0.5, 0.69, 0.7, 0.9, 1.0)] == [False, False, True, True, True]
    assert isinstance(at_bandwidth(gated, 0.9), PassThrough) and isinstance(at_bandwidth(gated, 0.5), AtBandwidth)
    assert not passes_through(filling_model(None), 1.0) and not passes_through(PassThrough(), 1.0)
    assert not passes_through(
        filling_model([[0.5, 0.5, 0.5, 1.0], [1.0, 0.0, 0.0, 1.0]]), 1.0
    )  # the mask term stays on
