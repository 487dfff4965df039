"""Post-training calibration of a restorer's fill gains on the validation split, written into best.pt.

A model that fills the band a codec removed cannot know the original's phase there, and the level its losses
settle on is not the level a listener (or ViSQOL) prefers (BENCHMARKS.md, "Quality"). So after training, the
gains of the additive term, below and above each input's cut, and of the mask term are chosen per input
bandwidth by the mean ViSQOL of the restored val excerpts (ladle_model/calibration/search.py), a split the test
split never meets; the table (ladle_model/calibration/gains.py) and every score are written into best.pt, which
`ladle enhance` and `ladle evaluate` load.

    calibrate_run(run, segments, 44100, "val-track excerpts", labels=presets)   # RUN's best.pt, rewritten in place

Which val music is scored, and the entry points after training and from `ladle calibrate`, are
ladle_model/calibration/data.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn as nn

from ladle_model.calibration.gains import bandwidth_table, best_setting
from ladle_model.calibration.record import METHOD, SCORED_ALIKE_SINCE, Calibration, calibration_text
from ladle_model.calibration.search import calibrate_fill_gain
from ladle_model.runs.checkpoint import load_checkpoint, model_from_checkpoint
from ladle_model.runs.folder import RunDir, save_checkpoint_file

log = logging.getLogger(__name__)


def calibratable(model: nn.Module) -> bool:
    """Whether the model has a fill gain and gain table to calibrate (SpecNeXt does; the paper's models do not)."""
    return model.calibratable()


def calibrate_run(
    run: RunDir,
    segments: list[tuple[torch.Tensor, torch.Tensor]],
    sample_rate: int,
    source: str = "",
    labels: list[str] | None = None,
    bandwidths: list[float] | None = None,
    again: bool = False,
    ckpt: dict | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.time,
) -> Calibration | None:
    """Calibrate RUN's best.pt and write the gains into its model config; None for a model without them.

    `ckpt`: best.pt loaded already (else it is loaded here). The checkpoint is rewritten atomically with
    config["model"]["fill_gain"] and "fill_gain_table" and a "calibration" record. Unless `again`, a best.pt
    whose record needs no scoring (`reuse_calibration`) keeps it; any other is scored on `segments`, by
    `deadline` (on `clock`) if given. Training never reads best.pt back, so a re-run of `ladle train` starts from
    last.pt at gain 1.0 and calibrates its new best.pt again.
    """
    path = run.checkpoint("best")
    ckpt = load_checkpoint(path) if ckpt is None else ckpt
    model = model_from_checkpoint(ckpt)
    if not calibratable(model):
        return None
    reused = None if again else reuse_calibration(run, ckpt)
    if reused is not None:
        return reused
    model.config.fill_gain, model.config.fill_gain_table = 1.0, None  # what training made, whatever was chosen before
    result = calibrate_fill_gain(
        model, segments, sample_rate, labels=labels, bandwidths=bandwidths, deadline=deadline, clock=clock
    )
    result.source = source
    if result.skipped:
        log.info("fill gain not calibrated: %s", result.skipped)
        return result
    write_calibration(ckpt, path, result)
    return result


def reuse_calibration(run: RunDir, ckpt: dict | None = None) -> Calibration | None:
    """RUN's best.pt calibration where it needs no scoring, else None: a whole record of this METHOD as it is (a
    re-run that trained no further; training rewrites best.pt without the record), or one of a method that
    scored alike (SCORED_ALIKE_SINCE) with its table rebuilt from the record's scores and written back. A record
    the time budget cut short is scored again. `ckpt`: best.pt loaded already. The entry points
    (ladle_model/calibration/data.py) ask before they decode any val music.
    """
    path = run.checkpoint("best")
    ckpt = load_checkpoint(path) if ckpt is None else ckpt
    record = ckpt.get("calibration")
    if not record or record.get("cut_short"):
        return None
    if record.get("method") == METHOD:
        return Calibration(**record)
    if not SCORED_ALIKE_SINCE <= record.get("method", 0) < METHOD or not record.get("groups"):
        return None
    try:  # the val excerpts' gains are the same under this method: only the rows past them change
        groups = {
            name: {**group, "setting": list(best_setting(group["scores"], group["lsd"], group.get("snr")))}
            for name, group in record["groups"].items()
        }
        result = Calibration(
            **{
                **record,
                "groups": groups,
                "table": bandwidth_table(groups).to_list(),
                "method": METHOD,
                "gain": best_setting(record["scores"], record["lsd"], record.get("snr"))[0],
            }
        )
    except (KeyError, TypeError, ValueError) as e:
        log.info("calibration record of method %s not rebuilt (%s): scoring again", record.get("method"), e)
        return None
    write_calibration(ckpt, path, result)
    return result


def write_calibration(ckpt: dict, path: Path, result: Calibration) -> None:
    """`result` into the checkpoint `ckpt` (its model config's fill gain and table, and the record), rewritten atomically at `path`."""
    ckpt["config"]["model"]["fill_gain"], ckpt["config"]["model"]["fill_gain_table"] = result.gain, result.table
    ckpt["calibration"] = asdict(result)
    save_checkpoint_file(ckpt, path)
    log.info("%s", calibration_text(ckpt["calibration"]))
