"""CRC32 and AccurateRip v1/v2 against a slow reference written from the definition."""

import zlib

import numpy as np
import pytest

from storage.sources.accuraterip import TrackChecksums, accuraterip_checksums
from tests.storage.sources.disc_images import slow_accuraterip


@pytest.mark.parametrize("first, last", [(False, False), (True, False), (False, True), (True, True)])
def test_accuraterip_checksums_match_a_slow_reference(first, last):
    pcm = np.random.default_rng(7).integers(-32768, 32768, size=(3 * 5 * 588 + 17, 2)).astype(np.int16)
    expected = slow_accuraterip(pcm.astype("<i2").tobytes(), first, last)
    assert accuraterip_checksums(pcm, first, last) == expected
    streamed = TrackChecksums(len(pcm), first, last)
    for start in range(0, len(pcm), 1000):  # blocks that straddle both skip boundaries
        streamed.update(pcm[start : start + 1000])
    assert (streamed.v1, streamed.v2) == expected
    assert streamed.crc32 == f"{zlib.crc32(pcm.astype('<i2').tobytes()):08X}"
    assert expected[0] != expected[1]  # the high halves do contribute on this input


def test_accuraterip_word_is_right_channel_high():
    # One sample (left=1, right=2) at position 1: word 0x00020001.
    assert accuraterip_checksums(np.array([[1, 2]], np.int16), False, False) == ("00020001", "00020001")
    silence = np.zeros((20 * 588, 2), np.int16)
    assert accuraterip_checksums(silence, True, True) == ("00000000", "00000000")
