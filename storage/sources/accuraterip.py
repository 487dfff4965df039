"""Per-track checksums of CD audio: CRC32 (EAC's "Copy CRC", XLD's "CRC32 hash") and AccurateRip v1/v2.

sums = TrackChecksums(len(pcm), first=True, last=False); sums.update(pcm)   # pcm: int16 (n, 2)
sums.crc32, sums.v1, sums.v2                                              # "1A2B3C4D", ...
"""

from __future__ import annotations

import zlib

import numpy as np

from storage.sources.cue import SAMPLES_PER_FRAME

AR_SKIP_SAMPLES = 5 * SAMPLES_PER_FRAME  # AccurateRip ignores 5 sectors at each end of the disc


class TrackChecksums:
    """CRC32 and AccurateRip v1/v2 of one track, fed block by block with int16 (n, 2) PCM.

    AccurateRip (as in whipper's accuraterip-checksum and ARver): each stereo sample is one little-endian
    32-bit word (right << 16 | left), multiplied by its 1-based position p in the track. v1 sums the low
    32 bits of the products, v2 adds their high 32 bits too, both mod 2^32. Only p in [from, to] counts:
    from = 5*588 on the disc's first audio track (its first 5*588-1 samples are skipped), to = n - 5*588
    on the last (its last 5*588 samples are skipped). The CRC32 is zlib's over the PCM bytes, EAC's
    "Copy CRC" and XLD's "CRC32 hash".
    """

    def __init__(self, n_samples: int, first: bool, last: bool):
        self.check_from = AR_SKIP_SAMPLES if first else 1
        self.check_to = n_samples - AR_SKIP_SAMPLES if last else n_samples
        self.position = 0  # samples seen so far
        self.crc = 0
        self.sum_lo = 0
        self.sum_hi = 0
        self.nonzero = False

    def update(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype="<i2")  # (n, 2)
        self.crc = zlib.crc32(block.tobytes(), self.crc)
        self.nonzero = self.nonzero or bool(block.any())
        n = len(block)
        lo_p = max(self.check_from, self.position + 1)
        hi_p = min(self.check_to, self.position + n)
        if hi_p >= lo_p:
            words = block.view("<u4").ravel()[lo_p - self.position - 1 : hi_p - self.position].astype(np.uint64)  # (k,)
            products = words * np.arange(lo_p, hi_p + 1, dtype=np.uint64)  # < 2**32 * 2**31: no overflow
            # Each part is < 2**32, so a block's sum fits in uint64 for blocks under 2**32 samples.
            self.sum_lo += int((products & np.uint64(0xFFFFFFFF)).sum())
            self.sum_hi += int((products >> np.uint64(32)).sum())
        self.position += n

    @property
    def crc32(self) -> str:
        return f"{self.crc & 0xFFFFFFFF:08X}"

    @property
    def v1(self) -> str:
        return f"{self.sum_lo & 0xFFFFFFFF:08X}"

    @property
    def v2(self) -> str:
        return f"{(self.sum_lo + self.sum_hi) & 0xFFFFFFFF:08X}"


def accuraterip_checksums(pcm: np.ndarray, first: bool, last: bool) -> tuple[str, str]:
    """(v1, v2) of one whole track given as int16 (n, 2); see TrackChecksums."""
    sums = TrackChecksums(len(pcm), first, last)
    sums.update(pcm)
    return sums.v1, sums.v2
