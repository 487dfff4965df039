"""Champion and challenger: the rule that promotes a newly trained model, or keeps the one in service.

    decision = decide({"vorbis-160": challenger_summary}, {"vorbis-160": champion_summary})
    decision.promoted, decision.reason     # False, "worse than the champion on vorbis-160: LSD 0.91 vs 0.85 (+7.1 %) ..."
    decision_markdown(decision, ...)       # the Prefect artifact's text

A summary is an evaluation's per-metric table (ladle_model/evaluation/verdict.py `summarise`): the model's
mean and the lossy input's, on one preset's test split. The challenger is promoted when, on every preset
and every metric, it is not worse than the champion by more than that metric's noise threshold
(ladle_model/evaluation/metrics.py) and not worse than its lossy input (the verdict). With no champion yet
it must beat the lossy input: better on at least one metric and worse on none. This is TFX Evaluator's
blessing (a candidate against the last blessed model under change thresholds); the promoted model is
what MLflow's @champion alias names (ladle_model/runs/champion.py keeps it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ladle_model.evaluation.metrics import get_metric
from ladle_model.evaluation.verdict import fmt_relative, fmt_value, is_finite

CHAMPION = "champion"
LOSSY_INPUT = "lossy input"
PROMOTED = "promoted"
REJECTED = "rejected"


@dataclass(frozen=True)
class Blocker:
    """One (preset, metric) on which the challenger is worse than `against`."""

    preset: str
    metric: str
    label: str
    against: str  # CHAMPION or LOSSY_INPUT
    challenger: float
    other: float
    threshold: float  # the largest difference that still counts as the same

    def text(self) -> str:
        relative = (self.challenger - self.other) / abs(self.other) if self.other else float("nan")
        return (
            f"worse than the {self.against} on {self.preset}: {self.label} {fmt_value(self.challenger)} vs "
            f"{fmt_value(self.other)} ({fmt_relative(relative)}, noise threshold {fmt_value(self.threshold)})"
        )


@dataclass
class Decision:
    promoted: bool
    reason: str  # one sentence
    blockers: list[Blocker] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return PROMOTED if self.promoted else REJECTED

    def to_dict(self) -> dict:
        return {"promoted": self.promoted, "verdict": self.verdict, "reason": self.reason,
                "blockers": [asdict(b) for b in self.blockers]}  # fmt: skip


def worse_than(metric: str, challenger: float, other: float) -> bool:
    """Is `challenger` worse than `other` by more than the metric's noise threshold? n/a values never block."""
    if not (is_finite(challenger) and is_finite(other)):
        return False
    rule = get_metric(metric)
    worse = challenger > other if rule.better == "lower" else challenger < other
    return worse and abs(challenger - other) >= rule.same_within(other)


def model_means(summary: list[dict]) -> dict[str, float]:
    """{metric: the model's mean} of one evaluation summary."""
    return {s["metric"]: s["model"] for s in summary}


def decide(challenger: dict[str, list[dict]], champion: dict[str, list[dict]] | None) -> Decision:
    """Promote the challenger or keep the champion; `challenger` and `champion` map preset -> evaluation summary,
    both on the same test tracks. `champion` None: there is none yet."""
    blockers, better_than_input = [], 0
    for preset, summary in sorted(challenger.items()):
        theirs = model_means((champion or {}).get(preset, []))
        for s in summary:
            rule = get_metric(s["metric"])
            if s["verdict"].startswith("worse"):
                blockers.append(
                    Blocker(
                        preset,
                        s["metric"],
                        rule.label,
                        LOSSY_INPUT,
                        s["model"],
                        s["lossy_input"],
                        rule.same_within(s["lossy_input"]),
                    )  # fmt: skip
                )
            better_than_input += s["verdict"].startswith("better")
            other = theirs.get(s["metric"], float("nan"))
            if worse_than(s["metric"], s["model"], other):
                blockers.append(
                    Blocker(preset, s["metric"], rule.label, CHAMPION, s["model"], other, rule.same_within(other))
                )
    if blockers:
        return Decision(
            False, "kept the champion: the challenger is " + "; ".join(b.text() for b in blockers), blockers
        )
    if champion is None and not better_than_input:
        return Decision(False, "no champion yet, and the challenger does not beat its lossy input on any metric")
    if champion is None:
        return Decision(True, "first champion: better than the lossy input and worse on no metric")
    return Decision(True, "not worse than the champion or the lossy input on any preset and metric")


def decision_markdown(decision: Decision, challenger: str, champion: str | None, dataset_version: str) -> str:
    """The artifact a night publishes: the decision, then each blocking (preset, metric) in a table."""
    title = "Promoted" if decision.promoted else "Champion kept"
    lines = [
        f"# {title}: challenger trained on {dataset_version}",
        "",
        f"- challenger: `{challenger}`",
        f"- champion before: `{champion}`" if champion else "- champion before: none",
        f"- decision: {decision.reason}",
    ]
    if decision.blockers:
        lines += [
            "",
            "| preset | metric | against | challenger | other | noise threshold |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {b.preset} | {b.label} | {b.against} | {fmt_value(b.challenger)} | {fmt_value(b.other)} | "
            f"{fmt_value(b.threshold)} |"
            for b in decision.blockers
        ]
    return "\n".join(lines) + "\n"
