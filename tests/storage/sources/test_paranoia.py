"""Ripping with cdparanoia: its TOC output, and a fake cdparanoia driven end to end."""

import sys

import numpy as np
import pytest

from storage.sources.discid import musicbrainz_disc_id
from storage.sources.paranoia import RipError, paranoia_toc, parse_cdparanoia_toc, rip_disc
from storage.sources.split import split_disc
from tests.storage.sources.disc_images import SECTOR, read_int16

# ---------------------------------------------------------------- ripping

# `cdparanoia -Q` for the MusicBrainz documentation's TOC: LSN begins (LBA - 150) and lengths.
PARANOIA_Q = """\
cdparanoia III release 10.2 (September 11, 2008)

Table of contents (audio tracks only):
track        length               begin        copy pre ch
===========================================================
  1.    15213 [03:22.63]        0 [00:00.00]    no   no  2
  2.    16951 [03:46.01]    15213 [03:22.63]    no   no  2
  3.    14278 [03:10.28]    32164 [07:08.64]    no   no  2
  4.    16822 [03:44.22]    46442 [10:19.17]    OK   no  2
  5.    17075 [03:47.50]    63264 [14:03.39]    no  yes  2
  6.    14973 [03:19.48]    80339 [17:51.14]    no   no  2
TOTAL   95312 [21:10.62]    (audio only)
 
"""


def test_cdparanoia_toc_parses_to_the_published_disc_id():
    tracks = parse_cdparanoia_toc(PARANOIA_Q)
    assert [(t.number, t.start_sector, t.n_sectors) for t in tracks][:2] == [(1, 0, 15213), (2, 15213, 16951)]
    assert (tracks[3].copy_permitted, tracks[4].pre_emphasis, tracks[0].pre_emphasis) == (True, True, False)
    assert musicbrainz_disc_id(paranoia_toc(tracks)) == "49HHV7Eb8UKF3aQiNmu1GR8vKTY-"
    with pytest.raises(RipError, match="no table of contents: Unable to open disc"):
        parse_cdparanoia_toc(
            "cdparanoia III release 10.2\n\nUnable to open disc.  Is there an audio CD in the drive?\n"
        )


def test_rip_disc_without_cdparanoia_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: neither cdparanoia nor cd-paranoia
    with pytest.raises(RipError) as info:
        rip_disc("/dev/cdrom", tmp_path / "rips")
    assert str(info.value).startswith("cdparanoia is not installed")
    assert "\n" not in str(info.value)


FAKE_TOC = """\
Table of contents (audio tracks only):
track        length               begin        copy pre ch
===========================================================
  1.       12 [00:00.12]       32 [00:00.32]    no   no  2
  2.        9 [00:00.09]       44 [00:00.44]    no   no  2
  3.       15 [00:00.15]       53 [00:00.53]    no  yes  2
TOTAL      36 [00:00.36]    (audio only)
"""


def test_rip_disc_drives_cdparanoia_into_an_image_and_sheet(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "cd-paranoia"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys, wave\n"
        f"TOC = {FAKE_TOC!r}\n"
        "args = sys.argv[1:]\n"
        f"open({str(tmp_path / 'calls.txt')!r}, 'a').write(' '.join(args[:-1]) + '\\n')\n"
        "if '-Q' in args:\n    sys.stderr.write(TOC); sys.exit(0)\n"
        "with wave.open(args[-1], 'wb') as w:\n"
        "    w.setnchannels(2); w.setsampwidth(2); w.setframerate(44100)\n"
        "    w.writeframes(bytes((i * 7 + i // 4) % 256 for i in range(36 * 588 * 4)))\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(RipError, match=f"no CD device at {tmp_path / 'sr9'}"):
        rip_disc(str(tmp_path / "sr9"), tmp_path / "rips")
    device = tmp_path / "sr0"
    device.write_bytes(b"")

    cue = rip_disc(str(device), tmp_path / "rips", read_offset_samples=6)

    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert calls == [f"-d {device}", f"-d {device} -O 6 -w -- 1-3"]
    record = split_disc(cue, tmp_path / "out")
    image = read_int16(cue.with_suffix(".wav"))
    bounds = [0, 12 * SECTOR, 21 * SECTOR, 36 * SECTOR]
    assert all(np.array_equal(read_int16(t.path), image[a:b]) for t, a, b in zip(record.tracks, bounds, bounds[1:]))
    assert [t.start_sector for t in record.tracks] == [32, 44, 53]  # the pregap before track 1 is kept in the TOC
    assert record.musicbrainz_disc_id == musicbrainz_disc_id(paranoia_toc(parse_cdparanoia_toc(FAKE_TOC)))
    assert "FLAGS PRE" in cue.read_text()
    assert rip_disc(str(device), tmp_path / "rips") == cue  # already ripped: not read again
    assert len((tmp_path / "calls.txt").read_text().splitlines()) == 3
