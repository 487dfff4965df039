"""Statistics of a listening test's ratings: mean, 95 % confidence interval and n per condition; post-screening.

    table = condition_stats(ratings)                      # [{"condition": "model", "n": 16, "mean": 1.2, "ci95_low": ..., ...}]
    flagged = screen_listeners(ratings, "mushra")          # {"l-3": "rated the hidden reference below 90 in 2 of 8 trials"}
    plot_ratings(ratings, "runs/ladle/listening/ratings.png", scale="ladle")

The interval is Student's t on the ratings of a condition, mean ± t(0.975, n−1)·s/√n (as
ITU-R BS.1534-3 sec. 9.2 reports MUSHRA means); NaN for n < 2.

Post-screening (ITU-R BS.1534-3 sec. 4.1.2): a listener who rates the hidden reference below 90 on
more than 15 % of the trials is flagged and can be excluded. On the LadLe paper's −5…+5 scale,
where 0 means "the same as the lossy input", the reference rated below 0 (worse than the lossy
input) is the same kind of miss.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ladle_model.listening.layout import REFERENCE

SCREEN_THRESHOLD = {"mushra": 90.0, "ladle": 0.0}
SCREEN_FRACTION = 0.15


def mean_ci95(values) -> tuple[float, float, float]:
    """(mean, low, high) of the 95 % Student-t interval for the mean; the bounds are NaN for fewer than two values."""
    from scipy import stats

    x = np.asarray(values, np.float64)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return mean, mean - half, mean + half


def condition_stats(ratings: pd.DataFrame, conditions: list[str] | None = None) -> list[dict]:
    """Per (preset, condition): n, mean, 95 % CI, median; in `conditions`' order (else by name)."""
    if ratings.empty:
        return []
    order = {c: i for i, c in enumerate(conditions or sorted(set(ratings["condition"])))}
    rows = []
    for (preset, condition), group in ratings.groupby(["preset", "condition"], sort=False):
        mean, low, high = mean_ci95(group["rating"])
        rows.append(
            {
                "preset": preset,
                "condition": condition,
                "n": int(len(group)),
                "n_listeners": int(group["listener_id"].nunique()),
                "mean": mean,
                "ci95_low": low,
                "ci95_high": high,
                "median": float(group["rating"].median()),
            }
        )
    return sorted(rows, key=lambda r: (r["preset"], order.get(r["condition"], len(order)), r["condition"]))


def screen_listeners(
    ratings: pd.DataFrame, scale: str, threshold: float | None = None, max_fraction: float = SCREEN_FRACTION
) -> dict[str, str]:
    """Listeners who rated the hidden reference below `threshold` on more than `max_fraction` of their trials, with why."""
    threshold = SCREEN_THRESHOLD[scale] if threshold is None else threshold
    ref = ratings[ratings["condition"] == REFERENCE]
    flagged = {}
    for listener, group in ref.groupby("listener_id"):
        misses = int((group["rating"] < threshold).sum())
        if misses > max_fraction * len(group):
            flagged[str(listener)] = (
                f"rated the hidden reference below {threshold:g} in {misses} of {len(group)} trials"
            )
    return flagged


def plot_ratings(ratings: pd.DataFrame, path, scale: str, conditions: list[str] | None = None, title: str = "") -> str:
    """A box plot of the ratings per condition (one panel per preset), means as diamonds; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ladle_model.listening.layout import SCALES
    from storage.atomic import atomic_path

    presets = sorted(set(ratings["preset"]))
    fig, axes = plt.subplots(
        1,
        len(presets),
        figsize=(1.6 + 1.4 * max(len(set(ratings["condition"])), 2) * len(presets), 3.8),
        squeeze=False,
        sharey=True,
    )
    for ax, preset in zip(axes[0], presets):
        mine = ratings[ratings["preset"] == preset]
        names = [c for c in (conditions or sorted(set(mine["condition"]))) if c in set(mine["condition"])]
        data = [mine.loc[mine["condition"] == c, "rating"].to_numpy() for c in names]
        ax.boxplot(data, tick_labels=names, showmeans=True, meanprops={"marker": "D", "markerfacecolor": "white"})
        ax.set_title(preset, fontsize=10)
        ax.tick_params(axis="x", labelrotation=20)
        ax.grid(axis="y", alpha=0.3)
    bounds = SCALES[scale]
    axes[0, 0].set_ylim(
        bounds["min"] - 0.05 * (bounds["max"] - bounds["min"]), bounds["max"] + 0.05 * (bounds["max"] - bounds["min"])
    )
    axes[0, 0].set_ylabel("rating vs the lossy input" if scale == "ladle" else "MUSHRA score")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return str(path)
