import hashlib

import mutagen.flac
import numpy as np
import pytest

from storage.audio import AudioError, pcm_md5, probe_lossless, read_lossless
from tests.conftest import tone_pcm, write_pcm


@pytest.mark.parametrize("bits", [16, 24])
def test_pcm_md5_equals_flac_streaminfo_md5(tmp_path, bits):
    path = write_pcm(tmp_path / "a.flac", tone_pcm(0.5, bits=bits), bits=bits)
    info = probe_lossless(path)
    digest, n_frames, peak = pcm_md5(path, info)
    assert info.bits_per_sample == bits
    assert digest == f"{mutagen.flac.FLAC(path).info.md5_signature:032x}"
    assert n_frames == 22050 and peak > 2 ** (bits - 3)


def test_same_pcm_in_flac_wav_aiff_gives_same_digest(tmp_path):
    pcm = tone_pcm(0.3)
    digests = set()
    for name in ("a.flac", "b.wav", "c.aiff"):
        path = write_pcm(tmp_path / name, pcm)
        digests.add(pcm_md5(path, probe_lossless(path))[0])
    expected = hashlib.md5(pcm.astype("<i2").tobytes()).hexdigest()
    assert digests == {expected}


def test_read_lossless_round_trip(tmp_path):
    pcm = tone_pcm(0.2, channels=1, bits=24)
    path = write_pcm(tmp_path / "mono.flac", pcm, bits=24)
    audio = read_lossless(path, probe_lossless(path))
    assert audio.shape == (1, len(pcm)) and audio.dtype == np.float32
    np.testing.assert_allclose(audio[0], pcm[:, 0] / 2**23, atol=1e-7)


def _full_scale_pcm(bits: int) -> np.ndarray:
    """(T, 2) int32 noise at `bits` width whose first frames hold both extremes, zero and -1."""
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    pcm = np.random.default_rng(bits).integers(lo, hi + 1, size=(5000, 2)).astype(np.int32)
    pcm[:3] = [[lo, hi], [hi, lo], [0, -1]]
    return pcm


@pytest.mark.parametrize("bits", [16, 24])
@pytest.mark.parametrize("name", ["a.flac", "b.wav", "c.aiff"])
def test_read_lossless_is_each_integer_over_its_full_scale_exactly(tmp_path, bits, name):
    pcm = _full_scale_pcm(bits)
    path = write_pcm(tmp_path / name, pcm, bits=bits)
    audio = read_lossless(path, probe_lossless(path))
    assert audio.dtype == np.float32 and audio.flags.c_contiguous and audio.shape == (2, len(pcm))
    assert np.array_equal(audio, (pcm.astype(np.float32) / 2 ** (bits - 1)).T)  # bit for bit, not approximately
    assert audio[0, 0] == -1.0


@pytest.mark.parametrize("bits", [16, 24])
def test_pcm_md5_peak_counts_the_most_negative_sample(tmp_path, bits):
    pcm = _full_scale_pcm(bits)
    path = write_pcm(tmp_path / "a.flac", pcm, bits=bits)
    digest, n_frames, peak = pcm_md5(path, probe_lossless(path))
    assert digest == f"{mutagen.flac.FLAC(path).info.md5_signature:032x}"
    assert (n_frames, peak) == (len(pcm), 2 ** (bits - 1))


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "empty file"), (b"this is text, not audio" * 10, "unreadable header")],
)
def test_probe_rejects_non_audio(tmp_path, content, reason):
    path = tmp_path / "bad.flac"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=reason):
        probe_lossless(path)


def test_probe_rejects_lossy_and_float(tmp_path):
    import soundfile as sf

    path = tmp_path / "float.wav"
    sf.write(str(path), np.zeros((100, 2), np.float32) + 0.1, 44100, subtype="FLOAT")
    with pytest.raises(AudioError, match="unsupported sample format"):
        probe_lossless(path)


def test_alac_reads_as_the_same_pcm_as_flac(tmp_path):
    import subprocess

    from storage.ffmpeg import ffmpeg_exe

    pcm = _full_scale_pcm(16)
    wav = write_pcm(tmp_path / "a.wav", pcm)
    alac = tmp_path / "a.m4a"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(wav), "-c:a", "alac", str(alac)], check=True)
    info = probe_lossless(alac)
    assert info.container == "alac"
    assert pcm_md5(alac, info) == (hashlib.md5(pcm.astype("<i2").tobytes()).hexdigest(), len(pcm), 2**15)
    assert np.array_equal(read_lossless(alac, info), read_lossless(wav, probe_lossless(wav)))
