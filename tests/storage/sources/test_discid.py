"""Disc IDs against the values MusicBrainz, freedb and AccurateRip publish."""

from storage.sources.discid import DiscToc, TocTrack, accuraterip_disc_id, freedb_disc_id, musicbrainz_disc_id

# ---------------------------------------------------------------- published disc IDs


def test_musicbrainz_disc_ids_match_published_examples():
    # MusicBrainz "Disc ID Calculation": TOC "1 6 95462 150 15363 32314 46592 63414 80489".
    doc = DiscToc.from_lba([150, 15363, 32314, 46592, 63414, 80489], 95462)
    assert musicbrainz_disc_id(doc) == "49HHV7Eb8UKF3aQiNmu1GR8vKTY-"
    # Two TOCs of one release as MusicBrainz serves them (ARver's tests/data/discs/X_fUy2PVsk5KK7JciFqBc0CetiI-.json);
    # the second ID exercises the "." of the alphabet.
    faust = DiscToc.from_lba([150, 12437, 28357, 46302, 67095, 72790, 114245, 150420, 158545], 179805)
    assert musicbrainz_disc_id(faust) == "X_fUy2PVsk5KK7JciFqBc0CetiI-"
    faust2 = DiscToc.from_lba([182, 12460, 28385, 46327, 67112, 72825, 114275, 150447, 158572], 179785)
    assert musicbrainz_disc_id(faust2) == "exjpU.1VYanRcyGf0YodBBpECxM-"


def test_freedb_id_worked_by_hand_for_the_musicbrainz_example():
    doc = DiscToc.from_lba([150, 15363, 32314, 46592, 63414, 80489], 95462)
    # Start seconds (LBA // 75): 2, 204, 430, 621, 845, 1073; digit sums 2+6+7+9+17+11 = 52 = 0x34.
    # Length: 95462 // 75 - 2 = 1270 = 0x04f6 seconds; 6 tracks.
    assert freedb_disc_id(doc) == "3404f606"


# "Liquid" by Recoil, an enhanced CD (10 audio tracks, data track in session 2) and "Mortal Kombat
# Trilogy", a mixed-mode CD (data track 1 + 28 audio tracks): IDs as EAC and dBpoweramp compute them,
# published in ARver's doc/data_track.md.
LIQUID_AUDIO_LBA = [150, 12767, 40487, 63225, 93410, 118115, 151865, 184340, 215260, 247455]
MORTAL_KOMBAT_LBA = [150, 66728, 76502, 85963, 93760, 104048, 116066, 124743, 134206, 142916, 151852, 160720,
                     169425, 178731, 188459, 196711, 206354, 214845, 223686, 225746, 226384, 232668, 239447,
                     239931, 244989, 254264, 260066, 261222, 261674]  # fmt: skip


def test_enhanced_cd_ids_match_published_values():
    audio_only = DiscToc.from_lba(LIQUID_AUDIO_LBA, 270335)
    assert musicbrainz_disc_id(audio_only) == "9AQWqQ0eCCwktwPPrIUIYkUw2Uo-"
    assert freedb_disc_id(audio_only) == "890e120a"  # what MusicBrainz shows: no data track
    tracks = tuple(TocTrack(n, lba - 150) for n, lba in enumerate(LIQUID_AUDIO_LBA, 1))
    full = DiscToc(tracks + (TocTrack(11, 281735 - 150, audio=False, session=2),), 333801 - 150)
    assert musicbrainz_disc_id(full) == "9AQWqQ0eCCwktwPPrIUIYkUw2Uo-"  # session 1 only, ending 11400 before the data
    assert freedb_disc_id(full) == "9e11600b"
    assert accuraterip_disc_id(full) == "010-00164419-00b9f6e2-9e11600b"


def test_mixed_mode_cd_ids_match_published_values():
    toc = DiscToc.from_lba(MORTAL_KOMBAT_LBA, 261976, audio=[False] + [True] * 28)
    assert freedb_disc_id(toc) == "af0da31d"
    assert accuraterip_disc_id(toc) == "028-00517a54-05a845d2-af0da31d"
