"""build-corpus on a folder of disc images with CUE sheets: split exactly, identified, verified."""

import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flows.build_corpus import build_corpus
from storage.catalog import read_rows
from tests.storage.sources.disc_images import cd_tracks, eac_log, image_sheet, write_image

pytestmark = pytest.mark.slow


def test_disc_images_are_split_identified_and_bad_sheets_quarantined(prefect_harness, tmp_path):
    library = tmp_path / "library"
    tracks = cd_tracks(lengths=(40, 37, 50))
    name = write_image(library / "good disc", "flac", np.concatenate(tracks))
    (library / "good disc" / "disc.cue").write_text(image_sheet(name))
    crc1 = f"{zlib.crc32(tracks[0].tobytes()):08X}"
    blocks = f"Track  1\r\n\r\n     Copy CRC {crc1}\r\n     Copy OK\r\n\r\nTrack  2\r\n\r\n     Copy CRC DEADBEEF\r\n     Copy OK\r\n\r\n"
    (library / "good disc" / "disc.log").write_bytes(eac_log(blocks))
    write_image(library / "bad disc", "wav", np.concatenate(cd_tracks(seed=9)))
    (library / "bad disc" / "disc.cue").write_text('FILE "image.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 99:00:00\n')
    (library / "escaping").mkdir()
    (library / "escaping" / "disc.cue").write_text(
        'FILE "../../../etc/passwd" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n'
    )

    summary = build_corpus(
        sources=[str(library)], data=str(tmp_path / "data"), segment_seconds=0.25, presets=["mp3-128"]
    )
    data = tmp_path / "data"
    (disc,) = read_rows(data, "discs")
    assert disc["n_tracks"] == 3 and disc["album"] == "Kind of Test" and len(disc["musicbrainz_disc_id"]) == 28
    assert len(disc["freedb_disc_id"]) == 8 and disc["accuraterip_disc_id"].startswith("003-")
    rows = {r["number"]: r for r in read_rows(data, "disc_tracks")}
    assert rows[1]["crc32"] == crc1 and rows[1]["crc_matches_log"] is True
    assert rows[2]["crc_matches_log"] is False and rows[3]["crc_matches_log"] is None

    # Tracks 1 and 3 are ingested (bit-exact splits; track 2 is quarantined for its CRC), the images are not.
    catalog_tracks = {r["title"]: r for r in read_rows(data, "tracks")}
    assert set(catalog_tracks) == {"So What", "Blue"}
    split_one = sf.read(catalog_tracks["So What"]["path"], dtype="int16")[0]
    np.testing.assert_array_equal(split_one, tracks[0])
    assert rows[1]["track_id"] == catalog_tracks["So What"]["track_id"] and rows[2]["track_id"] is None

    reasons = {(Path(q["path"]).parent.name, q["stage"]): q["reason"] for q in summary["quarantine"]}
    assert "DEADBEEF" in reasons[(disc["disc_key"], "verify")]
    assert "past the end" in reasons[("bad disc", "disc")] or "end of" in reasons[("bad disc", "disc")]
    assert "outside" in reasons[("escaping", "disc")] or "escape" in reasons[("escaping", "disc")]
    assert summary["n_tracks"] == 2 and summary["discs"] == 1
