"""The typed gain table (ladle_model/models/gain_table.py): plain rows in and out, checked in one place."""

import pytest
import torch

from ladle_model.models.gain_table import GainRow, GainTable


def test_plain_rows_round_trip_through_the_typed_table():
    rows = [[0.5, 0.5, 0.25, 1.0], [0.8, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    table = GainTable.from_list(rows)
    assert table.rows[0] == GainRow(bandwidth=0.5, in_band=0.5, above_cut=0.25, mask=1.0)
    assert table.to_list() == rows and GainTable.from_list(table.to_list()) == table
    assert [r.unchanged for r in table.rows] == [False, True, True]


@pytest.mark.parametrize(
    "rows",
    [[], [[0.5, 0.5, 0.5]], [[0.5, "a", 0.5, 1.0]], [[1.2, 0.5, 0.5, 1.0]], [[0.6, 0.1, 0.1, 1.0], [0.5, 0, 0, 0]]],
)
def test_anything_but_ascending_rows_of_four_gains_is_refused(rows):
    with pytest.raises(ValueError, match="gain table"):
        GainTable.from_list(rows)


def test_gains_between_rows_are_linear_and_flat_outside():
    table = GainTable.from_list([[0.5, 1.0, 0.5, 1.0], [1.0, 0.0, 0.0, 0.0]])
    gains = table.gains_at(torch.tensor([0.25, 0.75, 1.0]))  # (3, 3)
    assert gains.flatten().tolist() == pytest.approx([1.0, 0.5, 1.0, 0.5, 0.25, 0.5, 0.0, 0.0, 0.0])
