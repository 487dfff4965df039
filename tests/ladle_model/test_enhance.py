"""Whole-track enhancement: exact overlap-add and the training layouts (ladle_model/inference/windows.py), files in and out, bounded memory."""

from __future__ import annotations

import logging
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn as nn

from ladle_model.inference.enhance import (
    EnhanceResult,
    Failed,
    Skipped,
    enhance_file,
    enhance_path,
    enhance_track,
    result_dict,
    spec_from_checkpoint,
)
from ladle_model.inference.windows import EnhanceError, enhance_array, make_spec
from ladle_model.models.build import build_model
from ladle_model.models.restorer import FullBand, PassThrough
from storage import ffmpeg as ff
from storage.config import SegmentConfig, get_preset
from storage.segment import Pair, cut_segments
from tests.conftest import tone_pcm, write_pcm


class Recorder(FullBand, nn.Module):
    """Identity that remembers every window it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[np.ndarray] = []

    def forward(self, x: torch.Tensor, bandwidth=None, start=None) -> torch.Tensor:
        self.seen += list(x.numpy().copy())
        return x


class Exploding(FullBand, nn.Module):
    def __init__(self, after: int) -> None:
        super().__init__()
        self.calls, self.after = 0, after

    def forward(self, x: torch.Tensor, bandwidth=None, start=None) -> torch.Tensor:
        self.calls += 1
        if self.calls > self.after:
            raise RuntimeError("model failed")
        return x


def random_audio(channels: int, n: int, seed: int = 0) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal((channels, n))).astype(np.float32)


@pytest.mark.parametrize("window_samples", [400, 441, 1000])
@pytest.mark.parametrize("n_samples", [1, 199, 441, 1000, 7777])
def test_identity_model_reproduces_the_input_across_window_edges(window_samples, n_samples):
    spec = make_spec(44100, window_samples / 44100)
    assert spec.window_samples == window_samples and spec.hop_samples == window_samples // 2
    x = random_audio(2, n_samples)
    for batch_size, chunk in [(1, None), (3, 97), (8, 1000)]:
        y = enhance_array(PassThrough(), x, spec, batch_size=batch_size, chunk_samples=chunk)
        assert y.shape == x.shape
        assert np.abs(y - x).max() < 1e-6, (batch_size, chunk)


def test_weights_sum_to_one_everywhere_so_any_pointwise_model_is_exact():
    spec = make_spec(8000, 0.05)  # 400-sample windows
    x = random_audio(2, 5003, seed=1)

    class Tanh(FullBand, nn.Module):
        def forward(self, x, bandwidth=None, start=None):
            return torch.tanh(x)

    y = enhance_array(Tanh(), x, spec, batch_size=4, chunk_samples=700)
    np.testing.assert_allclose(y, np.tanh(x), atol=1e-6)


def test_batching_and_chunking_do_not_change_a_real_models_output():
    torch.manual_seed(0)
    model = build_model("drrn1d", channels=8, n_units=2).eval()
    spec = make_spec(8000, 0.1)
    x = random_audio(2, 4321, seed=2)
    reference = enhance_array(model, x, spec, batch_size=1)
    np.testing.assert_allclose(enhance_array(model, x, spec, batch_size=7, chunk_samples=555), reference, atol=1e-6)
    assert np.abs(reference - x).max() > 1e-3  # the model does change the audio


@pytest.mark.parametrize("strategy", ["pad-edges", "spread-zeros"])
def test_windows_are_laid_out_as_the_training_segments(strategy):
    rate, lossy_rate, seconds = 44100, 32000, 0.01  # the paper's 441-sample segments, 320 lossy samples each
    spec = make_spec(rate, seconds, strategy, lossy_rate)
    # segments every 220 samples (the windows' hop), so segment k is cut where window k + 1 starts
    cfg = SegmentConfig(
        strategy=strategy, segment_seconds=seconds, hop_seconds=spec.hop_samples / rate, sample_rate=rate
    )
    n_lossy = 3200
    lossy = random_audio(2, n_lossy, seed=3)
    lossless = random_audio(2, round(n_lossy * rate / lossy_rate), seed=4)
    recorder = Recorder()
    out = enhance_array(recorder, lossy, spec, batch_size=5, n_output=lossless.shape[-1])
    assert out.shape == lossless.shape
    pair = Pair(lossless, lossy, rate, lossy_rate, 2)
    assert (spec.window_samples, spec.input_window_samples, cfg.hop_samples) == (441, 320, 220)
    for k in range(0, 17, 2):  # segments within the 4410-sample track
        (segment,) = cut_segments(pair, cfg, [k])
        np.testing.assert_array_equal(recorder.seen[k + 1], segment.lossy)  # window w starts at w·hop − hop


def test_mono_stays_mono_and_more_than_two_channels_is_an_error():
    spec = make_spec(8000, 0.05)
    mono = random_audio(1, 1234, seed=5)
    y = enhance_array(PassThrough(), mono, spec)
    assert y.shape == (1, 1234) and np.abs(y - mono).max() < 1e-6
    with pytest.raises(EnhanceError, match="3 channels"):
        enhance_array(PassThrough(), random_audio(3, 100), spec)


def test_spec_from_checkpoint_reads_the_dataset_record_and_falls_back_with_a_warning(caplog):
    ckpt = {
        "dataset": {
            "sample_rate": 44100,
            "lossy_sample_rate": 32000,
            "strategy": "spread-zeros",
            "segment_seconds": 0.1,
        },
        "config": {"train": {"segment_seconds": None}},
    }
    spec = spec_from_checkpoint(ckpt)
    assert (spec.sample_rate, spec.input_rate, spec.window_samples, spec.input_window_samples) == (
        44100,
        32000,
        4410,
        3200,
    )
    crop = {
        "dataset": {"sample_rate": 16000, "strategy": "resample", "segment_seconds": 1.0},
        "config": {"train": {"segment_seconds": 0.25}},
    }
    assert spec_from_checkpoint(crop).window_samples == 4000  # the training crop, not the shard segment
    with caplog.at_level(logging.WARNING):
        fallback = spec_from_checkpoint({"config": {"train": {}}})
    assert (fallback.sample_rate, fallback.strategy, fallback.window_samples) == (44100, "resample", 44100)
    assert "no dataset record" in caplog.text


# ----------------------------------------------------------------------------- files


def test_file_identity_round_trip_is_exact(tmp_path):
    src = write_pcm(tmp_path / "in.flac", tone_pcm(2.3, seed=1))
    result = enhance_file(PassThrough(), make_spec(44100, 0.25), src, tmp_path / "out.flac", chunk_seconds=0.3)
    original, _ = sf.read(src, always_2d=True)
    restored, rate = sf.read(tmp_path / "out.flac", always_2d=True)
    assert rate == 44100 and restored.shape == original.shape == (101430, 2)
    assert np.array_equal(restored, original)  # 16-bit samples survive float32, the model, and a 24-bit FLAC exactly
    assert isinstance(result, EnhanceResult) and result.frames == 101430 and result.channels == 2


def test_mono_48k_input_through_a_44k_model_comes_back_mono_48k(tmp_path):
    t = np.arange(round(1.7 * 48000)) / 48000
    x = (0.4 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 5000 * t)).astype(np.float32)
    sf.write(tmp_path / "in.wav", x, 48000, subtype="FLOAT")
    recorder = Recorder()
    enhance_file(
        recorder,
        make_spec(44100, 0.2),
        tmp_path / "in.wav",
        tmp_path / "out.wav",
        chunk_seconds=0.5,
        subtype="FLOAT",
        output_sample_rate=48000,
    )
    y, rate = sf.read(tmp_path / "out.wav")
    assert rate == 48000 and y.shape == x.shape  # mono, same length
    assert recorder.seen[0].shape == (2, 8820)  # the model got two channels at its own rate
    # 48 → 44.1 → 48 kHz through torchaudio's windowed sinc: band-limited audio comes back within its tolerance
    np.testing.assert_allclose(y[200:-200], x[200:-200], atol=2e-3)


def test_lossy_formats_in_flac_or_wav_out_and_the_output_rate_on_request(tmp_path):
    src = write_pcm(tmp_path / "in.flac", tone_pcm(1.5, seed=2))
    ogg = tmp_path / "in.ogg"
    ff.encode_file(src, ogg, get_preset("paper-32k"))  # Vorbis at 32 kHz
    decoded, _ = ff.decode_file(ogg)
    enhance_file(PassThrough(), make_spec(44100, 0.5), ogg, tmp_path / "same.wav", output_sample_rate=32000)
    same, rate = sf.read(tmp_path / "same.wav", always_2d=True)
    assert rate == 32000 and same.shape[0] == decoded.shape[-1]
    # by default the model's rate (issue 11): a 32-kHz input comes back at 44.1 kHz, with room for the restored band
    result = enhance_file(PassThrough(), make_spec(44100, 0.5), ogg, tmp_path / "up.flac")
    assert sf.info(str(tmp_path / "up.flac")).samplerate == result.sample_rate == 44100
    assert sf.info(str(tmp_path / "up.flac")).frames == -(-decoded.shape[-1] * 44100 // 32000)


def test_more_than_two_channels_is_a_clear_error(tmp_path):
    sf.write(tmp_path / "surround.wav", random_audio(6, 4000).T, 8000)
    with pytest.raises(EnhanceError, match="6 channels: only mono and stereo"):
        enhance_file(PassThrough(), make_spec(8000, 0.1), tmp_path / "surround.wav", tmp_path / "out.flac")
    assert not (tmp_path / "out.flac").exists()


def test_a_failure_midway_leaves_no_output(tmp_path):
    src = write_pcm(tmp_path / "in.flac", tone_pcm(2.0, seed=3))
    with pytest.raises(RuntimeError, match="model failed"):
        enhance_file(
            Exploding(after=2), make_spec(44100, 0.1), src, tmp_path / "out" / "x.flac", batch_size=2, chunk_seconds=0.2
        )
    assert not any(p.is_file() for p in (tmp_path / "out").rglob("*"))


def test_a_folder_is_mirrored_and_non_audio_is_skipped(tmp_path):
    library = tmp_path / "library"
    write_pcm(library / "a.flac", tone_pcm(0.5, seed=4))
    write_pcm(library / "disc 2" / "b.wav", tone_pcm(0.4, channels=1, seed=5))
    (library / "cover.txt").write_text("no audio here")
    results = enhance_path(PassThrough(), make_spec(44100, 0.1), library, tmp_path / "out", suffix=".wav")
    done = {r.output for r in results if isinstance(r, EnhanceResult)}
    assert done == {str(tmp_path / "out" / "a.wav"), str(tmp_path / "out" / "disc 2" / "b.wav")}
    assert [(r.source, r.reason) for r in results if isinstance(r, Skipped)] == [
        (str(library / "cover.txt"), "not audio FFmpeg can read")
    ]
    assert sf.info(str(tmp_path / "out" / "disc 2" / "b.wav")).channels == 1


def test_in_a_folder_a_file_that_fails_is_reported_and_the_others_are_restored(tmp_path):
    library = tmp_path / "library"
    write_pcm(library / "a.flac", tone_pcm(0.3, seed=7))
    sf.write(library / "b surround.wav", random_audio(6, 4000).T, 44100)  # more than two channels: cannot be restored
    write_pcm(library / "c.flac", tone_pcm(0.3, seed=8))
    (tmp_path / "out" / "c.wav").mkdir(parents=True)  # c's output name is taken by a folder: its write fails
    write_pcm(library / "d.flac", tone_pcm(0.3, seed=9))
    results = enhance_path(PassThrough(), make_spec(44100, 0.1), library, tmp_path / "out", suffix=".wav")
    assert [type(r).__name__ for r in results] == ["EnhanceResult", "Failed", "Failed", "EnhanceResult"]
    assert "6 channels: only mono and stereo" in results[1].reason and results[2].source == str(library / "c.flac")
    assert (tmp_path / "out" / "a.wav").is_file() and (tmp_path / "out" / "d.wav").is_file()
    assert [result_dict(r)["status"] for r in results] == ["restored", "failed", "failed", "restored"]
    assert isinstance(results[1], Failed) and not any(isinstance(r, Skipped) for r in results)


def write_long_flac(path, minutes: float, sample_rate: int = 44100):
    """A long stereo FLAC written block by block (a 1-s chord repeated), never whole in memory."""
    block = tone_pcm(1.0, sample_rate, seed=6).astype(np.int16)
    with sf.SoundFile(str(path), "w", samplerate=sample_rate, channels=2, subtype="PCM_16", format="FLAC") as f:
        for _ in range(round(minutes * 60)):
            f.write(block)
    return path


@pytest.mark.slow
def test_a_ten_minute_file_is_restored_in_bounded_memory(tmp_path):
    src = write_long_flac(tmp_path / "long.flac", minutes=10)
    whole_track_bytes = 10 * 60 * 44100 * 2 * 4  # 212 MB as float32
    chunk_sizes = []
    tracemalloc.start()
    try:
        result = enhance_file(
            PassThrough(),
            make_spec(44100, 1.0),
            src,
            tmp_path / "out.flac",
            chunk_seconds=5.0,
            on_chunk=lambda c: chunk_sizes.append(c.shape[-1]),
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.frames == 10 * 60 * 44100 and result.duration_s == 600.0
    assert max(chunk_sizes) <= 5 * 44100 and len(chunk_sizes) >= 120  # decoded 5 s at a time
    print(f"peak traced memory {peak / 1e6:.1f} MB")
    assert peak < 40e6, f"peak {peak / 1e6:.1f} MB"  # a few chunks and windows, not the 212 MB track
    assert peak < whole_track_bytes / 5
    with sf.SoundFile(str(tmp_path / "out.flac")) as f:  # spot-check the end of the output
        f.seek(f.frames - 44100)
        tail = f.read(44100, always_2d=True)
    np.testing.assert_array_equal(tail, tone_pcm(1.0, seed=6).astype(np.int16) / 32768)


def test_a_model_that_fills_by_bandwidth_runs_every_window_at_the_cut_measured_over_the_file(tmp_path):
    from ladle_model.models.bandwidth import AtBandwidth, track_bandwidth
    from tests.ladle_model.test_bandwidth import filling_model, sparse_track

    track = sparse_track(seconds=4).numpy()  # a 1-s bright passage cut at 11 kHz in 3 s of bass
    sf.write(tmp_path / "in.wav", track.T, 44100, subtype="FLOAT")
    model, spec = filling_model([[0.5, 0.5, 0.5, 1.0], [1.0, 0.0, 0.0, 1.0]]), make_spec(44100, 1.0)
    result = enhance_file(model, spec, tmp_path / "in.wav", tmp_path / "out.wav", subtype="FLOAT", chunk_seconds=0.7)
    bandwidth = track_bandwidth(track, 1024, 256)
    assert result.input_cutoff_hz == pytest.approx(11000, abs=150) and result.input_cutoff_hz == round(
        bandwidth * 22050, 1
    )
    restored, _ = sf.read(tmp_path / "out.wav", always_2d=True)
    expected = enhance_array(AtBandwidth(model, bandwidth), track, spec)
    np.testing.assert_allclose(restored.T, expected, atol=1e-7)
    np.testing.assert_array_equal(
        enhance_track(model, track, spec), expected
    )  # a track in memory (evaluate, listen) alike
    assert np.abs(expected - enhance_array(model, track, spec)).max() > 1e-4  # the bass windows alone would get no fill
    assert enhance_file(PassThrough(), spec, tmp_path / "in.wav", tmp_path / "same.wav").input_cutoff_hz is None


def test_a_noise_fill_keeps_its_power_where_the_windows_cross_fade():
    # SpecNeXt's noise at inference follows each window's place in the track, so windows fill their overlap with the
    # same noise and the cross-fade keeps its power; noises independent per window keep 0.75 of it on average.
    from ladle_model.models.specnext import SpecNeXt, SpecNeXtConfig
    from tests.ladle_model.test_specnext import tones

    torch.manual_seed(0)
    model = SpecNeXt(SpecNeXtConfig(noise_fill=True)).eval()
    with torch.no_grad():
        model.head.bias[4 * model.n_bins + 300 : 4 * model.n_bins + 400] = (
            0.5  # the noise at gain 0.5 over 12.9-17.2 kHz
        )
    x = tones(4 * 44100, 44100)  # (1, 2, n): nothing above 2 kHz but a little noise
    track, spec = x[0].numpy(), make_spec(44100, 1.0)

    def noise_power(restored) -> float:
        added = torch.as_tensor(restored, dtype=torch.float32) - x[0]
        return float(model.stft(added)[:, 300:400, 8:-8].abs().pow(2).mean())

    class EachWindowFromZero(FullBand, nn.Module):  # the model told nothing of where a window lies
        def forward(self, batch, bandwidth=None, start=None):
            return model(batch)

    with torch.no_grad():
        whole = noise_power(model(x)[0])  # one pass over the whole track
    assert noise_power(enhance_array(model, track, spec, batch_size=3)) / whole == pytest.approx(1.0, abs=0.08)
    assert noise_power(enhance_array(EachWindowFromZero(), track, spec, batch_size=3)) / whole == pytest.approx(
        0.75, abs=0.08
    )


def test_input_cut_past_the_gate_is_passed_through_bit_for_bit_and_said_so(tmp_path):
    from tests.ladle_model.test_bandwidth import filling_model, low_passed_noise

    gated = filling_model([[0.5, 0.25, 0.5, 1.0], [0.7, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    near_transparent = low_passed_noise([19000.0], n=2 * 44100)[
        0
    ].numpy()  # cut at 0.86 of Nyquist, past the gate at 0.7
    sf.write(tmp_path / "in.wav", near_transparent.T, 44100, subtype="FLOAT")
    result = enhance_file(gated, make_spec(44100, 1.0), tmp_path / "in.wav", tmp_path / "out.wav", subtype="FLOAT")
    assert result.passed_through and result.input_cutoff_hz == pytest.approx(19000, abs=150)
    np.testing.assert_array_equal(sf.read(tmp_path / "out.wav", always_2d=True)[0].T, near_transparent)
    cut = low_passed_noise([11025.0], n=2 * 44100)[0].numpy()  # cut at half Nyquist: restored
    sf.write(tmp_path / "cut.wav", cut.T, 44100, subtype="FLOAT")
    restored = enhance_file(
        gated, make_spec(44100, 1.0), tmp_path / "cut.wav", tmp_path / "cut-out.wav", subtype="FLOAT"
    )
    assert (
        not restored.passed_through
        and np.abs(sf.read(tmp_path / "cut-out.wav", always_2d=True)[0].T - cut).max() > 1e-4
    )


def test_a_file_cut_before_its_encoder_is_passed_through_and_said_so(tmp_path):
    # noise band-limited at 6 kHz at its source: AAC at 256 kb/s never cuts that low, MP3 at 32 kb/s does
    from tests.ladle_model.test_bandwidth import filling_model, low_passed_noise

    gated = filling_model([[0.5, 0.25, 0.5, 1.0], [0.7, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    source = low_passed_noise([6000.0], n=3 * 44100)[0].numpy()
    sf.write(tmp_path / "source.wav", source.T, 44100, subtype="PCM_16")
    for name in ("aac-256", "mp3-32"):
        preset = get_preset(name)
        ff.encode_file(tmp_path / "source.wav", tmp_path / f"{name}.{preset.extension}", preset)
    spec = make_spec(44100, 1.0)
    aac = enhance_file(gated, spec, tmp_path / "aac-256.m4a", tmp_path / "aac.wav", subtype="FLOAT")
    assert aac.cut_before_encoding and aac.passed_through and aac.input_cutoff_hz == pytest.approx(6000, abs=300)
    restored = sf.read(tmp_path / "aac.wav", always_2d=True)[0].T
    np.testing.assert_array_equal(restored, ff.decode_file(tmp_path / "aac-256.m4a")[0][:, : restored.shape[-1]])
    mp3 = enhance_file(gated, spec, tmp_path / "mp3-32.mp3", tmp_path / "mp3.wav", subtype="FLOAT")
    assert not mp3.cut_before_encoding and not mp3.passed_through and mp3.input_cutoff_hz < 6000
