"""The Restorer protocol: what inference, evaluation and calibration may ask of any model, and nothing else.

    y = model(x, bandwidth=None, start=None)   # (B, C, T) -> (B, C, T) in [-1, 1]
    model.reads_bandwidth()                    # fills by its input's codec cut: measure the track's first
    model.unchanged_at(0.95)                   # leaves input cut at 95 % of Nyquist exactly as it is
    model.calibratable()                       # has fill gains that the calibration chooses after training

Every model of the registry implements it: the four waveform models through `FullBand` (they read neither the
bandwidth nor the window's place and ignore both), SpecNeXt itself. `PassThrough` returns its input and is
what a model becomes where it would change nothing.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn as nn


class Restorer(Protocol):
    def __call__(
        self, x: torch.Tensor, bandwidth: torch.Tensor | None = None, start: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, C, T) -> (B, C, T); `bandwidth` (B,): each item's codec cut measured over its whole track, as a
        fraction of Nyquist (None: read off the item); `start` (B,): each item's first sample's place in its track."""
        ...

    def reads_bandwidth(self) -> bool: ...

    def unchanged_at(self, bandwidth: float) -> bool: ...

    def calibratable(self) -> bool: ...


class FullBand:
    """The protocol's answers for a model that restores every input alike, wherever it lies in its track."""

    def reads_bandwidth(self) -> bool:
        return False

    def unchanged_at(self, bandwidth: float) -> bool:
        return False

    def calibratable(self) -> bool:
        return False


class PassThrough(FullBand, nn.Module):
    """The identity restorer: its input, bit for bit."""

    def forward(
        self, x: torch.Tensor, bandwidth: torch.Tensor | None = None, start: torch.Tensor | None = None
    ) -> torch.Tensor:
        return x
