"""Segmentation strategies (the LadLe paper's preprocessing approaches): the one owner of their layout.

    strategy = get_strategy("pad-edges")
    r = strategy.lossy_rate(44100, 32000)                  # 32000: the lossy samples stay at the codec rate
    n_lossy = strategy.lossy_length(44100, 44100, r)       # Lq = round(L·r/R) = 32000
    model_input = strategy.layout(lossy_piece, 44100)      # (C, Lq) -> (C, L), zeros at both ends

A segment covers L lossless samples at the dataset rate R. Its lossy side is made of Lq samples at
rate r laid out over the same L positions:

- `resample` (the paper's best): the lossy audio is resampled to R, so r = R, Lq = L, and the
  layout is the identity;
- `pad-edges`: r is the codec's rate; the Lq samples are centred with zeros at both ends;
- `spread-zeros`: r is the codec's rate; lossy sample i lands at floor(i·L/Lq), zeros between.

When r == R all three give the same segments. The shard writer (storage/segment.py) and inference
(ladle_model/inference/enhance.py, ladle_model/evaluation/evaluate.py) both lay windows out through this module, so a
model sees at inference exactly the layout it was trained on. This module imports numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from storage.errors import ConfigError

STRATEGIES: tuple[str, ...] = ("resample", "pad-edges", "spread-zeros")


@dataclass(frozen=True)
class Strategy:
    """One segmentation strategy: which rate its lossy samples are at and how they fill a segment."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in STRATEGIES:
            raise ConfigError(f"unknown strategy {self.name!r}; known: {', '.join(STRATEGIES)}")

    @property
    def keeps_codec_rate(self) -> bool:
        """True when the lossy samples stay at the codec's rate (every strategy but `resample`)."""
        return self.name != "resample"

    def lossy_rate(self, sample_rate: int, codec_rate: int) -> int:
        """Rate of the lossy samples a segment holds: the dataset rate R for `resample`, else the codec's."""
        return codec_rate if self.keeps_codec_rate else sample_rate

    def lossy_length(self, n_samples: int, sample_rate: int, lossy_rate: int) -> int:
        """Lq, the lossy samples behind `n_samples` lossless ones: round(L·r/R) (L for `resample`)."""
        if not self.keeps_codec_rate:
            return n_samples
        return round(n_samples * lossy_rate / sample_rate)

    def lossy_start(self, start: int, sample_rate: int, lossy_rate: int) -> int:
        """The lossy sample at which the window starting at lossless sample `start` begins."""
        if not self.keeps_codec_rate:
            return start
        return round(start * lossy_rate / sample_rate)

    def output_length(self, n_lossy: int, sample_rate: int, lossy_rate: int) -> int:
        """Lossless-rate samples covering `n_lossy` lossy ones: ceil(n·R/r), the resampler's length."""
        if not self.keeps_codec_rate:
            return n_lossy
        return -(-n_lossy * sample_rate // lossy_rate)

    def check_rates(self, sample_rate: int, codec_rate: int, preset: str = "the codec") -> None:
        """ConfigError unless this strategy can lay `codec_rate` samples over a `sample_rate` segment."""
        if self.keeps_codec_rate and codec_rate > sample_rate:
            raise ConfigError(
                f"strategy {self.name} keeps lossy samples at the codec rate, so the codec rate must not "
                f"exceed the dataset rate; {preset} runs at {codec_rate} Hz > {sample_rate} Hz"
            )

    def layout(self, lossy: np.ndarray, n_samples: int) -> np.ndarray:
        """(C, Lq) lossy samples -> the (C, L) model input, L = `n_samples`; float32."""
        if not self.keeps_codec_rate:
            if lossy.shape[-1] != n_samples:
                raise ValueError(f"strategy resample needs {n_samples} lossy samples, got {lossy.shape[-1]}")
            return np.ascontiguousarray(lossy, np.float32)
        n_lossy = lossy.shape[-1]
        if n_lossy > n_samples:
            raise ValueError(f"strategy {self.name}: {n_lossy} lossy samples do not fit in {n_samples}")
        out = np.zeros((lossy.shape[0], n_samples), np.float32)  # (C, L)
        if n_lossy == 0:
            return out
        if self.name == "pad-edges":  # centred, zeros at both ends
            left = (n_samples - n_lossy) // 2
            out[:, left : left + n_lossy] = lossy
        else:  # spread-zeros: lossy sample i lands at floor(i·L/Lq)
            out[:, (np.arange(n_lossy) * n_samples) // n_lossy] = lossy
        return out


def get_strategy(name: str) -> Strategy:
    """The strategy called `name`; ConfigError listing the known ones otherwise."""
    return Strategy(name)
