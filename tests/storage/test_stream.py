"""Streaming decode, resample and write: the same samples as the whole-file functions, in pieces."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from storage import ffmpeg as ff
from storage.align import resample
from storage.ffmpeg import probe_audio
from storage.stream import StreamResampler, decode_chunks, open_audio_writer
from tests.conftest import tone_pcm, write_pcm


@pytest.mark.parametrize(
    "orig, new", [(48000, 44100), (44100, 48000), (32000, 44100), (44100, 32000), (22050, 44100), (44100, 44100)]
)
def test_stream_resampler_equals_whole_track_resampling(orig, new):
    rng = np.random.default_rng(0)
    x = (0.3 * rng.standard_normal((2, 30011))).astype(np.float32)
    whole = resample(x, orig, new)
    resampler = StreamResampler(orig, new)
    pieces, i = [], 0
    for size in rng.integers(1, 4000, 1000):  # chunks of any size, some shorter than a resampling period
        if i >= x.shape[-1]:
            break
        pieces.append(resampler.push(x[:, i : i + size]))
        i += size
    pieces.append(resampler.flush())
    streamed = np.concatenate(pieces, axis=1)
    assert streamed.shape == whole.shape  # resampled_length: ceil(n·new/orig)
    # libsoxr's stream is chunk-size independent: the very samples of the one-shot call
    np.testing.assert_array_equal(streamed, whole)


def test_decode_chunks_reassemble_the_whole_decode(tmp_path):
    path = write_pcm(tmp_path / "a.flac", tone_pcm(2.0, seed=1))
    whole, rate = ff.decode_file(path)
    chunks = list(decode_chunks(path, channels=2, chunk_frames=10000))
    assert all(c.shape[0] == 2 and 0 < c.shape[1] <= 10000 for c in chunks)
    assert np.array_equal(np.concatenate(chunks, axis=1), whole)
    info = probe_audio(path)
    assert (info.sample_rate, info.channels, info.codec) == (44100, 2, "flac") and info.duration_s == pytest.approx(
        2.0, abs=0.01
    )


@pytest.mark.parametrize("channels", [1, 2])
def test_decode_file_reads_every_frame_over_several_pipe_chunks(tmp_path, channels):
    n_frames = 2 * ff.DECODE_CHUNK_FRAMES + 777
    pcm = tone_pcm(n_frames / 44100, channels=channels, seed=2)
    path = write_pcm(tmp_path / "long.flac", pcm)
    audio, rate = ff.decode_file(path, channels=channels)
    assert rate == 44100 and audio.shape == (channels, n_frames) and audio.flags.c_contiguous
    assert np.array_equal(audio, (pcm / 2**15).astype(np.float32).T)  # 16-bit PCM is exact in float32
    bad = tmp_path / "notes.ogg"
    bad.write_text("not audio\n" * 100)
    with pytest.raises(ff.FFmpegError, match="decoding notes.ogg failed"):
        ff.decode_file(bad, channels=channels, sample_rate=44100)


def test_decode_chunks_of_a_non_audio_file_fail_clearly(tmp_path):
    bad = tmp_path / "notes.flac"
    bad.write_text("not audio\n" * 100)
    with pytest.raises(ff.FFmpegError, match="notes.flac"):
        list(decode_chunks(bad, channels=2, chunk_frames=1000))
    with pytest.raises(ff.FFmpegError, match="notes.flac"):
        probe_audio(bad)


def test_writer_is_atomic(tmp_path):
    target = tmp_path / "out.flac"
    with pytest.raises(RuntimeError):
        with open_audio_writer(target, 8000, channels=1) as writer:
            writer.write(np.zeros((1, 800), np.float32))
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary
    with open_audio_writer(target, 8000, channels=2, subtype="PCM_16") as writer:
        writer.write(np.full((2, 800), 0.5, np.float32))
        writer.write(np.full((2, 200), 2.0, np.float32))  # clipped to full scale
    audio, rate = sf.read(target, always_2d=True)
    assert (
        rate == 8000
        and audio.shape == (1000, 2)
        and audio[:800].min() == 0.5
        and audio[800:].max() == pytest.approx(1.0, abs=1e-4)
    )
    with pytest.raises(ValueError, match=".mp3"):
        with open_audio_writer(tmp_path / "x.mp3", 8000, 1):
            pass
