"""The calibration record best.pt holds under "calibration", the METHOD that decides re-calibration, and the record
in one line.

    record = asdict(Calibration(gain=0.5, scores={"input": 3.1, "0.5/0.5": 3.3}, segments=24, source="val-track excerpts"))
    calibration_text(record)   # 'fill gain 0.5 chosen on 24 val-track excerpts (ViSQOL: input 3.100, 0.5/0.5 3.300)'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ladle_model.calibration.gains import fill_gain_text

# A best.pt calibrated by another method is calibrated again: raise it when the rule that turns scores into a
# table, or the music scored, changes.
METHOD = 14
# Records from this method on were scored alike (on the same music): a later method that changed only the table's
# rows past the widest val track, where no val excerpt lies, rebuilds their table from the record's scores.
SCORED_ALIKE_SINCE = 13


@dataclass
class Calibration:
    gain: float  # the in-band gain of the pair best on all segments pooled (the model's fill_gain; its table overrides it)
    scores: dict[str, float] = field(
        default_factory=dict
    )  # mean ViSQOL per setting ("input": the lossy input's, "table")
    segments: int = 0
    source: str = ""  # what was scored: excerpts of the val split's whole tracks, or its shard segments
    skipped: str = ""  # why nothing was calibrated ("" when it was)
    table: list | None = None  # the GainTable's plain rows, written as the model's fill_gain_table
    sample_rate: int = 0  # of the segments (bandwidths are fractions of its Nyquist)
    # per preset: input bandwidth, excerpts, ViSQOL, LSD and SNR per setting scored on all its excerpts, best
    groups: dict[str, dict] = field(default_factory=dict)
    lsd: dict[str, float] = field(default_factory=dict)  # mean LSD per setting ("input": the lossy input's)
    snr: dict[str, float] = field(default_factory=dict)  # mean SNR (dB) per setting ("input": the lossy input's)
    method: int = METHOD
    cut_short: str = ""  # what the deadline left unscored ("" when the search ran to its end)
    seconds: float = 0.0  # wall time the scoring took


def calibration_text(record: dict | None) -> str:
    """One line on what a calibration record (best.pt's "calibration", TrainResult.calibration) chose and why."""
    if not record:
        return "fill gain not calibrated"
    if record.get("skipped"):
        return f"fill gain not calibrated: {record['skipped']}"
    scores = ", ".join(f"{k} {v:.3f}" for k, v in record["scores"].items())
    text = f"fill gain {fill_gain_text(record)} chosen on {record['segments']} {record['source']} (ViSQOL: {scores})"
    return text + (f"; cut short by the time budget: {record['cut_short']}" if record.get("cut_short") else "")
