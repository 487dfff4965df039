"""SpecNeXt's gain table: the fill and mask gains for an input by where its codec cut it, typed and checked here.

    table = GainTable.from_list([[0.5, 0.5, 0.25, 1.0], [1.0, 0.0, 0.0, 0.0]])
    table.rows[0].in_band                     # 0.5
    table.gains_at(torch.tensor([0.75]))      # tensor([[0.25, 0.125, 0.5]]): linear between rows
    table.to_list()                           # what a checkpoint stores (SpecNeXtConfig.fill_gain_table)

A row holds, for an input whose codec low-pass lies at `bandwidth` (a fraction of Nyquist), the fill gain for the
bins below its cut (the holes a codec leaves in the band it kept), the fill gain above the cut (the band it
removed), and the gain on the mask term. Rows ascend by bandwidth; the gains are interpolated linearly between
rows and held flat outside them. The calibration (ladle_model/calibration/) writes the table; the model reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

MAX_GAIN = 4.0  # a gain above this is a mistake, not a choice


@dataclass(frozen=True)
class GainRow:
    bandwidth: float  # the input's codec cut, a fraction of Nyquist in (0, 1]
    in_band: float  # fill gain below the cut
    above_cut: float  # fill gain above it
    mask: float  # gain on the mask term

    @property
    def gains(self) -> tuple[float, float, float]:
        """(in band, above the cut, mask)."""
        return self.in_band, self.above_cut, self.mask

    @property
    def unchanged(self) -> bool:
        """Every gain zero: an input cut here passes through as it came."""
        return self.in_band == self.above_cut == self.mask == 0

    def to_list(self) -> list[float]:
        return [self.bandwidth, self.in_band, self.above_cut, self.mask]


@dataclass(frozen=True)
class GainTable:
    rows: tuple[GainRow, ...]

    def __post_init__(self) -> None:
        rows = self.rows
        if (
            not rows
            or any(not 0 < r.bandwidth <= 1 for r in rows)
            or any(not 0 <= g <= MAX_GAIN for r in rows for g in (r.in_band, r.above_cut, r.mask))
            or any(a.bandwidth >= b.bandwidth for a, b in zip(rows, rows[1:]))
        ):
            raise ValueError(
                "a gain table must be [[bandwidth, gain in band, gain above the cut, mask gain], ...] rows with "
                f"bandwidth in (0, 1] ascending and gains in [0, {MAX_GAIN:g}], got {self.to_list()}"
            )

    @classmethod
    def from_list(cls, rows: list) -> GainTable:
        """The table of a checkpoint's plain rows; ValueError for anything but rows of four numbers."""
        try:
            values = [tuple(float(v) for v in row) for row in rows]
        except (TypeError, ValueError):
            raise ValueError(f"a gain table must be rows of four numbers, got {rows!r}") from None
        if any(len(v) != 4 for v in values):
            raise ValueError(
                f"a gain table must be [[bandwidth, gain in band, gain above the cut, mask gain], ...], got {rows!r}"
            )
        return cls(tuple(GainRow(*v) for v in values))

    def to_list(self) -> list[list[float]]:
        """Plain rows, as a checkpoint stores them."""
        return [row.to_list() for row in self.rows]

    def gains_at(self, bandwidth: torch.Tensor) -> torch.Tensor:
        """(N, 3) gains of each input `bandwidth` (N,): the fill in band, the fill above the cut and the mask,
        linear between rows and flat outside them."""
        xs = torch.tensor([r.bandwidth for r in self.rows], dtype=bandwidth.dtype, device=bandwidth.device)  # (R,)
        ys = torch.tensor([r.gains for r in self.rows], dtype=bandwidth.dtype, device=bandwidth.device)  # (R, 3)
        if len(self.rows) == 1:
            return ys.expand(len(bandwidth), 3).clone()
        b = bandwidth.clamp(xs[0], xs[-1])
        hi = torch.searchsorted(xs, b).clamp(1, len(self.rows) - 1)
        lo = hi - 1
        t = ((b - xs[lo]) / (xs[hi] - xs[lo])).unsqueeze(-1)  # (N, 1)
        return ys[lo] + t * (ys[hi] - ys[lo])
