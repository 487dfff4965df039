"""Results statistics (mean, Student-t 95 % CI, n) and the MUSHRA post-screening rule."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ladle_model.listening.stats import condition_stats, mean_ci95, screen_listeners


def ratings(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"listener_id": who, "excerpt": e, "preset": "paper-32k", "condition": c, "rating": r}
            for who, e, c, r in rows
        ]
    )


def test_mean_and_95_percent_interval():
    mean, low, high = mean_ci95([1, 2, 3, 4, 5])
    # s = 1.5811, t(0.975, 4) = 2.7764: half-width 2.7764 * 1.5811 / sqrt(5) = 1.9632
    assert mean == 3.0 and low == pytest.approx(3 - 1.9632, abs=1e-3) and high == pytest.approx(3 + 1.9632, abs=1e-3)
    one = mean_ci95([2.5])
    assert one[0] == 2.5 and math.isnan(one[1]) and math.isnan(one[2])


def test_condition_stats_per_condition_in_the_tests_order():
    table = condition_stats(
        ratings(
            [
                ("a", "e01", "model", 1.0),
                ("b", "e01", "model", 3.0),
                ("a", "e01", "lossy", 0.0),
                ("b", "e01", "lossy", 0.5),
                ("a", "e02", "model", 2.0),
            ]
        ),
        ["reference", "lossy", "model"],
    )
    assert [r["condition"] for r in table] == ["lossy", "model"]
    model = table[1]
    assert (
        model["n"] == 3 and model["n_listeners"] == 2 and model["mean"] == pytest.approx(2.0) and model["median"] == 2.0
    )
    assert model["ci95_low"] == pytest.approx(2 - 4.3027 * 1.0 / math.sqrt(3), abs=1e-3)  # t(0.975, 2) = 4.3027, s = 1


def test_post_screening_flags_listeners_who_miss_the_hidden_reference():
    rows = []
    for i in range(8):
        rows.append(("careful", f"e{i}", "reference", 100.0 if i else 85.0))  # 1 of 8 below 90: 12.5 %, kept
        rows.append(("sloppy", f"e{i}", "reference", 60.0 if i < 2 else 95.0))  # 2 of 8: 25 % > 15 %, flagged
        rows.append(("sloppy", f"e{i}", "model", 10.0))
    flagged = screen_listeners(ratings(rows), "mushra")
    assert flagged == {"sloppy": "rated the hidden reference below 90 in 2 of 8 trials"}
    assert screen_listeners(ratings(rows), "mushra", threshold=50) == {}
    # on the paper's scale the reference rated worse than the lossy input (< 0) is the miss
    paper = ratings([("x", "e1", "reference", -1.0), ("x", "e2", "reference", 4.0), ("y", "e1", "reference", 0.0)])
    assert list(screen_listeners(paper, "ladle")) == ["x"]
