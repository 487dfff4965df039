"""Model against its lossy input: the per-metric verdict, the table of means and the headline sentence.

    summary = summarise(rows)      # rows: one per (track, system) with every metric of the registry
    headline(summary)              # "The model is worse than its lossy input on MSE: 2.3e-04 vs 2.1e-04 (+9.5 %); ..."

The untouched lossy input is the baseline every model must beat (docs/design.md): each metric's
verdict says on which side of it the model's mean lies, the direction taken from the metric registry
(ladle_model/evaluation/metrics.py).
"""

from __future__ import annotations

import math

import numpy as np

from ladle_model.evaluation.metrics import METRICS, get_metric

BASELINE = "lossy input"  # the `system` of a row scoring the untouched input
MODEL = "model"  # the `system` of a row scoring the model's output
HEADLINE_METRIC = "mse"  # the metric the headline names first: the LadLe paper's reconstruction loss


def is_finite(v) -> bool:
    return v is not None and math.isfinite(v)


def finite_mean(values: list[float]) -> float:
    finite = [v for v in values if is_finite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def verdict(metric: str, baseline: float, model: float) -> str:
    """ "better than the input" / "worse than the input" / "same as the input" / "n/a" for one metric.

    A difference below the metric's noise threshold (ladle_model/evaluation/metrics.py) is "same as the input":
    ViSQOL 4.633 against 4.633 is a tie, not a loss.
    """
    if not (is_finite(baseline) and is_finite(model)):
        return "n/a"
    rule = get_metric(metric)
    if abs(model - baseline) < rule.same_within(baseline) or model == baseline:
        return "same as the input"
    better = model > baseline if rule.better == "higher" else model < baseline
    return "better than the input" if better else "worse than the input"


def summarise(rows: list[dict]) -> list[dict]:
    """Mean of each registered metric over tracks for the input and the model, their difference and the verdict."""
    summary = []
    for key, metric in METRICS.items():
        base = finite_mean([r.get(key) for r in rows if r["system"] == BASELINE])
        model = finite_mean([r.get(key) for r in rows if r["system"] == MODEL])
        delta = model - base
        relative = delta / abs(base) if is_finite(delta) and base != 0 else float("nan")
        summary.append(
            {
                "metric": key,
                "name": metric.label,
                "better_when": metric.better,
                "lossy_input": base,
                "model": model,
                "difference": delta,
                "relative": relative,
                "verdict": verdict(key, base, model),
            }
        )
    return summary


def headline(summary: list[dict]) -> str:
    """One plain sentence: better or worse than the input on MSE, then the count over all metrics."""
    first_metric = next(s for s in summary if s["metric"] == HEADLINE_METRIC)
    judged = [s for s in summary if s["verdict"] != "n/a"]
    better = [s["name"] for s in judged if s["verdict"].startswith("better")]
    worse = [s["name"] for s in judged if s["verdict"].startswith("worse")]
    said = {"same as the input": "the same as its lossy input", "n/a": "not comparable with its lossy input"}.get(
        first_metric["verdict"], first_metric["verdict"].replace("the input", "its lossy input")
    )
    first = (
        f"The model is {said} on {first_metric['name']}: "
        f"{fmt_value(first_metric['model'])} vs {fmt_value(first_metric['lossy_input'])} ({fmt_relative(first_metric['relative'])})"
    )
    return (
        f"{first}; better on {len(better)} of {len(judged)} metrics"
        + (f" ({', '.join(better)})" if better else "")
        + (f", worse on {', '.join(worse)}" if worse else "")
        + "."
    )


def fmt_value(v: float | None) -> str:
    """A metric value for a table: 3 significant digits, scientific outside [1e-3, 1e4), "n/a" when not finite."""
    if not is_finite(v):
        return "n/a"
    if v == 0:
        return "0"
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.2e}"


def fmt_relative(v: float | None) -> str:
    return f"{v:+.1%}" if is_finite(v) else "n/a"
