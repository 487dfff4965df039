from pathlib import Path

import numpy as np
import pytest

from storage.audio import wav_declared_frames
from storage.config import CorpusConfig
from storage.ingest import Quarantined, Track, ingest_file, resolve_tracks, scan_sources, split_for_key
from tests.conftest import tone_pcm, write_pcm


def _truncate(path, keep_fraction=0.6):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])


def test_bad_inputs_are_quarantined_with_reasons(tmp_path):
    lib = tmp_path / "lib"
    write_pcm(lib / "good.flac", tone_pcm(0.5, seed=1))
    _truncate(write_pcm(lib / "truncated.flac", tone_pcm(0.5, seed=2)))
    corrupt = write_pcm(lib / "corrupt.flac", tone_pcm(0.5, seed=3))
    data = bytearray(corrupt.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 400):
        data[i] ^= 0x5A
    corrupt.write_bytes(bytes(data))
    (lib / "text.flac").write_text("not audio at all\n" * 20)
    (lib / "zero.wav").write_bytes(b"")
    write_pcm(lib / "silent.wav", np.zeros((4410, 2), np.int32))
    files, missing = scan_sources([lib, tmp_path / "does-not-exist"])
    results = {p.name: ingest_file(p) for p in files}
    assert isinstance(results["good.flac"], Track)
    reasons = {name: r.reason for name, r in results.items() if isinstance(r, Quarantined)}
    assert set(reasons) == {"truncated.flac", "corrupt.flac", "text.flac", "zero.wav", "silent.wav"}
    assert "truncated" in reasons["truncated.flac"] or "decoding failed" in reasons["truncated.flac"]
    assert "corrupt" in reasons["corrupt.flac"] or "decoding failed" in reasons["corrupt.flac"]
    assert "empty file" in reasons["zero.wav"]
    assert "digital silence" in reasons["silent.wav"]
    assert [q.reason for q in missing] == ["source does not exist"]


def test_odd_names_and_duplicates(tmp_path):
    lib = tmp_path / "lib"
    pcm = tone_pcm(0.4, seed=5)
    names = ["01. Intro v1.2.flac", "Ünïcödé – 東京 (live).flac", "copy with spaces.wav", ".hidden.flac"]
    for name in names:
        write_pcm(lib / name, pcm)
    write_pcm(lib / "other.flac", tone_pcm(0.4, seed=6))
    files, _ = scan_sources([lib])
    assert ".hidden.flac" not in {f.name for f in files}
    tracks, duplicates, quarantined = resolve_tracks([ingest_file(f) for f in files], CorpusConfig())
    assert len(tracks) == 2 and not quarantined
    assert len(duplicates) == 2
    original = {t.track_id: t.path for t in tracks}
    assert all(d.original_path == original[d.track_id] for d in duplicates)
    # The first path (sorted) of identical audio is the track: a FLAC and a WAV of it share the id.
    assert original[duplicates[0].track_id].endswith("01. Intro v1.2.flac")


def test_split_is_deterministic_and_follows_fractions():
    keys = [f"track-{i}" for i in range(4000)]
    splits = [split_for_key(k) for k in keys]
    assert splits == [split_for_key(k) for k in keys]
    counts = {s: splits.count(s) / len(keys) for s in ("train", "val", "test")}
    assert counts["train"] == pytest.approx(0.8, abs=0.03)
    assert counts["val"] == pytest.approx(0.1, abs=0.02)
    assert counts["test"] == pytest.approx(0.1, abs=0.02)
    assert {split_for_key(k, (0.0, 0.0, 1.0)) for k in keys[:50]} == {"test"}


def test_group_by_album_keeps_an_album_in_one_split(tmp_path):
    import mutagen.flac

    results = []
    for i in range(12):
        path = write_pcm(tmp_path / f"{i:02d}.flac", tone_pcm(0.2, seed=10 + i))
        tags = mutagen.flac.FLAC(path)
        tags["album"] = f"Album {i % 3}"
        tags["artist"] = "Someone"
        tags.save()
        results.append(ingest_file(path))
    tracks, _, _ = resolve_tracks(results, CorpusConfig(group_by_album=True))
    by_album = {}
    for t in tracks:
        by_album.setdefault(t.album, set()).add(t.split)
    assert len(by_album) == 3 and all(len(s) == 1 for s in by_album.values())


def test_a_ladle_split_tag_pins_its_track_and_moves_no_other(tmp_path):
    import mutagen.flac

    def tagged(name: str, seed: int, value: str | None) -> Path:
        path = write_pcm(tmp_path / name, tone_pcm(0.2, seed=seed))
        if value is not None:
            tags = mutagen.flac.FLAC(path)
            tags["LADLE_SPLIT"] = value
            tags.save()
        return path

    plain = [ingest_file(tagged(f"{i:02d}.flac", 20 + i, None)) for i in range(12)]
    before = {t.track_id: t.split for t in resolve_tracks(plain, CorpusConfig())[0]}
    pin = next(s for s in ("test", "val", "train") if s != split_for_key(plain[0].track_id))  # not its hashed split
    pinned = ingest_file(tagged("pinned.flac", 99, pin.upper()))  # the tag's case does not matter
    assert isinstance(pinned, Track) and pinned.pinned_split == pin
    tracks, _, _ = resolve_tracks([*plain, pinned], CorpusConfig())
    splits = {t.track_id: t.split for t in tracks}
    assert splits[pinned.track_id] == pin  # the pin, whatever the hash
    assert {k: v for k, v in splits.items() if k != pinned.track_id} == before  # no other track moved
    assert all(t.pinned_split is None for t in tracks if t.track_id != pinned.track_id)

    # pinning an existing track moves it alone
    repinned = ingest_file(tagged("00.flac", 20, pin))
    assert repinned.track_id == plain[0].track_id  # tags are not audio: the same track
    tracks, _, _ = resolve_tracks([repinned, *plain[1:]], CorpusConfig())
    assert {t.track_id: t.split for t in tracks} == {**before, repinned.track_id: pin}

    bad = ingest_file(tagged("bad.flac", 7, "holdout"))
    assert isinstance(bad, Quarantined) and bad.reason == (
        "LADLE_SPLIT tag is 'holdout': it must be one of train, val, test"
    )


def test_truncated_wav_short_and_quiet_tracks_get_reasons_users_understand(tmp_path):
    wav = write_pcm(tmp_path / "cut.wav", tone_pcm(1.0, seed=4))
    wav.write_bytes(wav.read_bytes()[: wav.stat().st_size // 2])  # the header still declares the whole second
    assert wav_declared_frames(wav) == 44100
    write_pcm(tmp_path / "one.wav", tone_pcm(1.0, seed=5)[:1])
    write_pcm(tmp_path / "quiet.flac", np.round(tone_pcm(1.0, seed=6) * 10 ** (-70 / 20)).astype(np.int32))
    write_pcm(tmp_path / "zeros.flac", np.zeros((44100, 2), np.int32))
    write_pcm(tmp_path / "soft.flac", np.round(tone_pcm(1.0, seed=7) * 10 ** (-40 / 20)).astype(np.int32))
    reasons = {
        name: getattr(ingest_file(tmp_path / name), "reason", None)
        for name in ("cut.wav", "one.wav", "quiet.flac", "zeros.flac", "soft.flac")
    }
    assert reasons["cut.wav"].startswith("truncated: decoded 22") and reasons["cut.wav"].endswith("of 44100 frames")
    assert reasons["one.wav"].startswith("too short: 1 frame(s)")
    peak_dbfs = float(reasons["quiet.flac"].removeprefix("silent (peak ").removesuffix(" dBFS)"))
    assert -80 < peak_dbfs < -70 and reasons["zeros.flac"].startswith("silent (digital silence")
    assert reasons["soft.flac"] is None  # -40 dBFS is quiet music, not silence


def test_symlink_loops_are_reported_and_an_unreadable_file_quarantined_quietly(tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    write_pcm(lib / "good.flac", tone_pcm(0.5, seed=8))
    (lib / "a.flac").symlink_to(lib / "b.flac")
    (lib / "b.flac").symlink_to(lib / "a.flac")
    (lib / "sub").mkdir()
    (lib / "sub" / "up").symlink_to(lib)
    files, missing = scan_sources([lib])
    assert [f.name for f in files] == ["good.flac"]
    assert sorted((Path(q.path).name, q.stage, q.reason.split(":")[0]) for q in missing) == [
        ("a.flac", "scan", "symlink loop"),
        ("b.flac", "scan", "symlink loop"),
        ("up", "scan", "symlink loop"),
    ]

    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("storage.ingest.probe_lossless", refuse)
    result = ingest_file(lib / "good.flac")
    assert isinstance(result, Quarantined) and result.reason == "unreadable: Permission denied"
