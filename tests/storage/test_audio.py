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
