import json

import pytest

from storage import ffmpeg as ff
from storage.config import PRESETS
from storage.encode import encode_track, encoded_path
from storage.ingest import Quarantined

# Whole-file bitrates of the 2-s tone fixture, container included (short files carry proportionally more
# header, Opus' VBR overshoots on tones).
EXPECTED_KBPS = {
    "mp3-24": (20, 32),
    "mp3-32": (28, 40),
    "mp3-48": (42, 58),
    "mp3-96": (88, 112),
    "mp3-192": (180, 215),
    "mp3-320": (300, 350),
    "aac-48": (40, 65),
    "aac-64": (55, 85),
    "aac-96": (80, 120),
    "aac-256": (200, 300),
    "vorbis-48": (30, 70),
    "vorbis-64": (40, 100),
    "opus-24": (20, 55),
    "opus-32": (25, 65),
    "opus-48": (40, 90),
    "opus-64": (50, 110),
    "opus-160": (130, 220),
    "vorbis-96": (40, 160),
    "vorbis-160": (80, 260),
    "vorbis-320": (160, 480),
    "paper-32k": (50, 140),
    "mp3-64": (55, 80),
    "mp3-128": (115, 150),
    "aac-128": (90, 170),
    "opus-96": (70, 130),
}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_encodes_and_decodes(tmp_path, make_tracks, preset):
    (track,) = make_tracks([2.0])
    encoded = encode_track(track, PRESETS[preset], tmp_path / "data")
    assert not isinstance(encoded, Quarantined), encoded
    lo, hi = EXPECTED_KBPS[preset]
    assert lo <= encoded.bitrate_kbps <= hi
    audio, rate = ff.decode_file(encoded.path, channels=2)
    assert rate == PRESETS[preset].sample_rate
    assert abs(audio.shape[1] / rate - 2.0) < 0.03
    assert ff.probe_audio(encoded.path).codec in {"vorbis", "mp3", "aac", "opus"}


def test_encode_is_reused_and_bitstream_deterministic(tmp_path, make_tracks, monkeypatch):
    (track,) = make_tracks([1.0])
    first = encode_track(track, PRESETS["vorbis-160"], tmp_path / "a")
    other = encode_track(track, PRESETS["vorbis-160"], tmp_path / "b")
    assert open(first.path, "rb").read() == open(other.path, "rb").read()
    calls = []
    monkeypatch.setattr(ff, "encode_file", lambda *a, **k: calls.append(a))
    again = encode_track(track, PRESETS["vorbis-160"], tmp_path / "a")
    assert again.reused and calls == [] and again.encode_key == first.encode_key


def test_encode_without_sidecar_is_redone_and_leaves_no_temporaries(tmp_path, make_tracks):
    (track,) = make_tracks([1.0])
    preset = PRESETS["mp3-128"]
    first = encode_track(track, preset, tmp_path)
    sidecar = encoded_path(tmp_path, track.track_id, preset).with_suffix(".json")
    assert json.loads(sidecar.read_text())["encode_key"] == first.encode_key
    sidecar.unlink()  # as if the run died between the bitstream and its sidecar
    redone = encode_track(track, preset, tmp_path)
    assert not redone.reused and sidecar.is_file()
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]


def test_encoder_failure_is_quarantined(tmp_path, make_tracks):
    (track,) = make_tracks([1.0])
    import dataclasses

    broken = dataclasses.replace(track, path=str(tmp_path / "vanished.flac"))
    result = encode_track(broken, PRESETS["vorbis-160"], tmp_path)
    assert isinstance(result, Quarantined) and result.stage == "encode" and "vanished.flac" in result.reason
