"""bench.fill_gain's variant keys: one gain, a pair, or a pair and the mask term's gain."""

from __future__ import annotations

import pytest

from bench.fill_gain import parse_variant


def test_variant_keys_expand_to_table_row_gains():
    assert parse_variant("0.5") == (0.5, 0.5)
    assert parse_variant("0.25/0.5") == (0.25, 0.5)
    assert parse_variant("0.25/0.5/0") == (0.25, 0.5, 0.0)


@pytest.mark.parametrize("key", ["", "a", "5", "-1/0", "0.5/0.5/0.5/1", "0.5//1"])
def test_bad_variant_keys_are_refused(key):
    with pytest.raises(ValueError):
        parse_variant(key)
