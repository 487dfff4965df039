"""The time budget of one `ladle train` command, shared by the training and the calibration after it.

    budget = TimeBudget.of(20, started=wall_clock(), calibrates=True)
    train(..., clock=wall_clock, deadline=budget.training_deadline)     # 20 % held back for the calibration
    calibrate_after_training(..., deadline=budget.deadline)             # the rest, whatever training left
    budget.share_text(calibration_s=190.0)   # 'calibration: 3.2 of the 20-minute budget (16 %)'
    excerpts_within(240.0, n_presets=15)     # 1: val excerpts per preset the calibration can score in 240 s

The calibration's cost is ViSQOL over the val excerpts, which is known only once the val tracks are decoded, after
training; so a fixed share of the budget, CALIBRATION_SHARE, is held back for it, and the calibration spends
whatever is left when training stops (ladle_model/calibration/search.py stops scoring, and chooses among what it
scored, before a call would end past the deadline). Training stops at the first step boundary past its
deadline less the time its closing validation will take (ladle_model/training/loop.py), so the calibration
keeps its share and the command ends within the budget plus one step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ladle_model.calibration.search import MASK_GAINS, SETTINGS
from ladle_model.evaluation.visqol import default_workers, visqol_available
from ladle_model.models.build import build_model

# Of the budget, held back for the calibration: a fixed share, since its cost (ViSQOL over the val excerpts) is
# known only after training; the calibration also gets whatever training leaves unused.
CALIBRATION_SHARE = 0.2
VISQOL_CPU_S = 0.7  # CPU seconds of ViSQOL per second of excerpt scored (2-core Xeon; the race's unit of cost)
# ViSQOL calls per excerpt at most: the input, every setting, each mask gain and the whole table
CALLS_PER_EXCERPT = 1 + len(SETTINGS) + len(MASK_GAINS) + 1


def wall_clock() -> float:
    """Seconds on the clock every stage of one command reads: a deadline crosses tasks, so not a process's own."""
    return time.time()


def calibrates(model: str, model_overrides: dict, calibrate: bool) -> bool:
    """Whether a run of `model` is calibrated after training, so the budget holds a share back for it."""
    return calibrate and visqol_available() and build_model(model, **model_overrides).calibratable()


@dataclass(frozen=True)
class TimeBudget:
    started: float  # wall_clock() when the command started
    deadline: float  # when the whole command must be done
    training_deadline: float  # when training stops (the deadline less the calibration's share, if it calibrates)

    @classmethod
    def of(cls, minutes: float, started: float, calibrates: bool) -> TimeBudget:
        seconds = 60.0 * minutes
        reserve = CALIBRATION_SHARE * seconds if calibrates else 0.0
        return cls(started, started + seconds, started + seconds - reserve)

    def share_text(self, calibration_s: float) -> str:
        """'calibration: 3.2 of the 20-minute budget (16 %)'."""
        total = self.deadline - self.started
        return (
            f"calibration: {calibration_s / 60:.1f} of the {total / 60:g}-minute budget "
            f"({100 * calibration_s / total:.0f} %)"
        )


def excerpts_within(
    seconds: float, n_presets: int, excerpt_seconds: float = 5.0, workers: int | None = None, most: int = 12
) -> int:
    """Val excerpts per preset the calibration can score in `seconds` (at least 1, at most `most`): each costs up
    to CALLS_PER_EXCERPT ViSQOL calls of VISQOL_CPU_S per second of audio, on `workers` processes (None: the
    cores ViSQOL uses). A budget that would not score one per preset still gets one: the race then stops at the
    deadline and chooses among what it scored, so every preset gets the settings scored first."""
    workers = workers or default_workers()
    each = CALLS_PER_EXCERPT * VISQOL_CPU_S * excerpt_seconds / workers
    return max(1, min(most, int(seconds / (each * max(n_presets, 1)))))
