"""Post-training calibration of a restorer's fill gains on the validation split.

A model that fills the band a codec removed cannot know the original's phase there, and the level
its losses settle on is not the level a listener (or ViSQOL) prefers: with SpecNeXt trained on
log-magnitude losses, the full fill lowered ViSQOL on held-out music while a quieter one raised it
and lowered LSD as well (BENCHMARKS.md, "Quality"). So after training, the gains of the additive
term are chosen by the mean ViSQOL of the restored validation split's tracks (5-s excerpts of
active audio, as evaluation scores them), a split the test split never meets; the choice and
every score are written into best.pt, which `ladle enhance` and `ladle evaluate` load.

Two gains are chosen, not one: one for the bins below the input's cut (the holes a codec leaves in
the band it kept) and one for the bins above it (the band it removed). On held-out music they
pulled apart: a full fill above the cut cost Vorbis 96 kbps and paper-32k input 0.13-0.14 ViSQOL
while half of it in band cost nothing, and MP3 64 kbps wanted half of both (ViSQOL +0.13).
How much depends on how much the codec removed, so each trained preset's best pair is found on
its own val excerpts, and the model gets a table of gains against input bandwidth
(SpecNeXtConfig.fill_gain_table: the bandwidth is read off each input's spectrum, so `ladle
enhance` needs no preset), ending at no change for a full-band input: the val split holds only the
presets trained on, so it cannot show what a fill does to near-transparent input, and on held-out
Vorbis 320 kbps any fill in band cost ViSQOL. Among pairs that ViSQOL cannot tell from the best
(within its 0.01 noise), the one with the lowest LSD wins: it restores the most. The table also
scales the mask term (its fourth number), which corrects the band the codec kept and was trained
only on what the val split shows: it runs up to the widest val track (within MASK_MARGIN) and no
further (past it, on held-out AAC 128 kbps, it cost 0.05 dB SNR). The fill holds a little further,
GATE_ABOVE beyond that track, at the least gains any row chose (the widest row's full fill there cost
held-out AAC 128 kbps 0.025 ViSQOL); input cut further still, or not cut at all, passes through unchanged
(on held-out Vorbis 320 kbps the mask term had cost 0.30 dB SNR).

    result = calibrate_fill_gain(model, segments, 44100, labels=presets)   # Calibration(table=[[0.51, 0.5, 0.5, 1.0], ...])
    calibrate_run(run, segments, 44100, "val-track excerpts", labels=presets)   # the same, on RUN's best.pt, rewritten in place

Which val music is scored (excerpts of whole val tracks, or val shards), and the entry points after
training and from `ladle calibrate`, are ladle_model/calibration/data.py.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ladle_model.evaluation.metrics import get_metric, lsd
from ladle_model.evaluation.visqol import VISQOL_MIN_SECONDS, visqol_available, visqol_moslqo
from ladle_model.runs.checkpoint import RunDir, load_checkpoint, model_from_checkpoint, save_checkpoint_file

log = logging.getLogger(__name__)

# (gain below the cut, gain above it): no fill at all (the mask term alone), the full fill, and a
# quarter, a half or all of it in band with a quarter or a half above the cut (on held-out music the
# full fill above the cut lost ViSQOL on every preset: BENCHMARKS.md, "Fill gain").
SETTINGS: tuple[tuple[float, float], ...] = (
    (0.0, 0.0),
    (1.0, 1.0),
    *((a, b) for a in (0.25, 0.5, 1.0) for b in (0.25, 0.5)),
)
# Then, on each preset's own excerpts, its best pair with the mask term at these gains too. The mask term
# raised SNR on MP3 64 kbps by 1.5-2 dB but cost ViSQOL (val excerpts: +0.011 over the input with it,
# +0.034 without; held-out: +0.067 and +0.091, BENCHMARKS.md, "Fill gain").
MASK_GAINS: tuple[float, ...] = (0.5, 0.0)
SAME_VISQOL = get_metric("visqol").noise  # 0.01: ViSQOL differences evaluation calls "the same as the input"
LSD_METRIC = get_metric("lsd")  # its same_within: LSD within 0.5 % of a value is the same to evaluation
MERGE_WITHIN = 0.02  # presets whose low-passes lie within ~440 Hz share one row of the table
# An input cut this far (1.1 kHz at 44.1 kHz) above the widest val track scored, or further, passes
# through unchanged: the val split shows nothing of what the model does to it. On held-out
# near-transparent input (Vorbis 160 and 320 kbps, Opus 96 kbps: cuts at 17.4-21.4 kHz) the mask term
# cost up to 0.30 dB SNR and the fill up to 0.015 ViSQOL (BENCHMARKS.md, "Quality"). The margin covers
# how far one preset's tracks spread: paper-32k's held-out tracks were cut anywhere from 14.3 to 15.3 kHz.
# The widest row's mask gain holds only up to the widest val track; past it, up to the gate, the fill alone at
# the least gains any row chose; at the gate they all step to zero.
GATE_ABOVE = 0.05
GATE_STEP = 0.001  # of Nyquist (22 Hz): the fill alone holds until this far below the gate
# The mask term runs this far past the widest val track (two bins of SpecNeXt's STFT, 86 Hz at 44.1 kHz):
# a cut read within it is read as that track's codec's. `make demo`'s test track was cut one bin past
# its val tracks; on the benchmark's held-out music the nearest track past one lay 0.021 beyond it.
MASK_MARGIN = 0.004
# Of the calibration: a best.pt calibrated by an older method is calibrated again. 1: one gain for every bin;
# 2: a gain below and one above the cut, each segment's cut read off itself; 3: the cut of its whole track;
# 4: the table gates the mask term too, passing through input cut far above every preset scored (GATE_ABOVE);
# 5: the gate lies beyond the widest val track, not the widest preset's median, and the gains hold up to it;
# 6: the mask term stops at the widest val track, the fill at the gate; 7: the mask term stops MASK_MARGIN past it;
# 8: each preset's mask gain is chosen too (MASK_GAINS); 9: of settings ViSQOL and LSD tell apart from none, the most mask;
# 10: past the widest val track the fill holds at the least gains any row chose, not the widest row's;
# 11: three excerpts spread over each val track are scored, not its opening alone (calibration_data.py);
# 12: twelve excerpts per preset, spread over up to twelve val tracks, not three of each of the first four.
METHOD = 12
# Records from this method on were scored alike (on the same music); a later method that changed only the
# table's rows past the widest val track, where no val excerpt lies, rebuilds their table from the record's scores.
SCORED_ALIKE_SINCE = 12


Setting = tuple[float, float, float]  # (fill gain below the cut, above it, mask gain)


def setting_key(setting: tuple[float, ...]) -> str:
    """'0.5/0.25' (the mask term at 1) or '0.5/0.25/0': a setting as the scores name it."""
    mask = setting[2] if len(setting) == 3 else 1.0
    return f"{setting[0]:g}/{setting[1]:g}" + ("" if mask == 1 else f"/{mask:g}")


def parse_setting(key: str) -> Setting:
    """(below, above, mask) of a `setting_key`."""
    gains = [float(g) for g in key.split("/")]
    if len(gains) not in (2, 3):
        raise ValueError(f"not a setting: {key!r}")
    return gains[0], gains[1], gains[2] if len(gains) == 3 else 1.0


@dataclass
class Calibration:
    gain: float  # the in-band gain of the pair best on all segments pooled (the model's fill_gain; its table overrides it)
    scores: dict[str, float] = field(
        default_factory=dict
    )  # mean ViSQOL per setting ("input": the lossy input's, "table")
    segments: int = 0
    source: str = ""  # what was scored: excerpts of the val split's whole tracks, or its shard segments
    skipped: str = ""  # why nothing was calibrated ("" when it was)
    table: list | None = (
        None  # [[bandwidth, gain below the cut, gain above it], ...] written as the model's fill_gain_table
    )
    sample_rate: int = 0  # of the segments (bandwidths are fractions of its Nyquist)
    groups: dict[str, dict] = field(
        default_factory=dict
    )  # per preset: input bandwidth, excerpts, ViSQOL and LSD per setting, best
    lsd: dict[str, float] = field(default_factory=dict)  # mean LSD per setting ("input": the lossy input's)
    method: int = METHOD


def calibratable(model: nn.Module) -> bool:
    """Whether the model has a fill gain and gain table to calibrate (SpecNeXt does; the paper's models do not)."""
    return model.calibratable()


@contextlib.contextmanager
def fill_setting(model: nn.Module, gain: float, table: list | None = None) -> Iterator[nn.Module]:
    """`model` with its fill gain (and gain table, None: `gain` for every input) set inside the block, restored after it."""
    config = model.config
    saved = (config.fill_gain, config.fill_gain_table)
    config.fill_gain, config.fill_gain_table = gain, table
    try:
        yield model
    finally:
        config.fill_gain, config.fill_gain_table = saved


def fill_gain_text(record: dict) -> str:
    """A calibration record's choice in words: '0.25', or 'per input bandwidth: 0.5 in band and 0.25 above the cut at
    11.1 kHz, ..., input unchanged from 17.8 kHz up and on full-band input'."""
    table, nyquist = record.get("table"), (record.get("sample_rate") or 0) / 2
    if not table or not nyquist:
        return f"{record['gain']:g}"

    def gains(row: list) -> str:
        mask = row[3] if len(row) == 4 else 1.0
        if mask == 0 and row[1] == row[2] == 0:
            return "input unchanged"
        fill = (
            ("none" if row[1] == 0 else f"{row[1]:g}")
            if len(row) == 2 or row[1] == row[2]
            else f"{row[1]:g} in band and {row[2]:g} above the cut"
        )
        return fill if mask == 1 else f"the fill alone ({fill})" if mask == 0 else f"{fill} with mask {mask:g}"

    if len(table) == 1 and len(table[0]) >= 3:
        return f"{gains(table[0])} for every input"
    rows = table[:-1] if table[-1][0] >= 1 else table
    if (
        len(rows) >= 3
        and gains(rows[-1]) == "input unchanged"
        and rows[-2][1:] == rows[-3][1:]
        and round(rows[-1][0] - rows[-2][0], 4) == GATE_STEP
    ):
        rows = rows[:-2] + rows[-1:]  # the widest gains held up to the gate: told by the gate itself
    # band-limited rows of the same gains told once: (gains, [kHz, ...], "from" for the fill held alone past the val tracks)
    scored = [g.get("widest", g.get("bandwidth", 1.0)) for g in (record.get("groups") or {}).values()]
    past_scored = max(scored) + MASK_MARGIN if scored else 1.0
    runs: list[tuple[str, list[str], str]] = []
    for row in rows:
        if runs and runs[-1][0] == gains(row):
            runs[-1][1].append(f"{row[0] * nyquist / 1000:.1f}")
        else:
            held_alone = len(row) == 4 and row[3] == 0 and (row[1] or row[2]) and row[0] > past_scored
            runs.append((gains(row), [f"{row[0] * nyquist / 1000:.1f}"], "from" if held_alone else "at"))
    parts = [
        f"{g} {word} {khz[0] if len(khz) == 1 else ', '.join(khz[:-1]) + ' and ' + khz[-1]} kHz"
        for g, khz, word in runs
    ]
    if table[-1][0] >= 1 and runs and len(runs[-1][1]) == 1 and runs[-1][0] == gains(table[-1]) == "input unchanged":
        parts[-1] = f"input unchanged from {runs[-1][1][0]} kHz up and on full-band input"  # the gate (bandwidth_table)
    elif table[-1][0] >= 1:
        parts.append(f"{gains(table[-1])} on full-band input")
    return "per input bandwidth: " + ", ".join(parts)


def calibration_text(record: dict | None) -> str:
    """One line on what a calibration record (best.pt's "calibration", TrainResult.calibration) chose and why."""
    if not record:
        return "fill gain not calibrated"
    if record.get("skipped"):
        return f"fill gain not calibrated: {record['skipped']}"
    scores = ", ".join(f"{k} {v:.3f}" for k, v in record["scores"].items())
    return f"fill gain {fill_gain_text(record)} chosen on {record['segments']} {record['source']} (ViSQOL: {scores})"


def bandwidth_table(
    groups: dict[str, dict], merge_within: float = MERGE_WITHIN, gate_above: float = GATE_ABOVE
) -> list[list[float]]:
    """[[bandwidth, gain below the cut, gain above it, mask gain], ...] from each group's median input
    bandwidth and its best setting.

    Groups whose bandwidths lie within `merge_within` (of Nyquist) of each other share one row, with the
    setting their pooled excerpts score best with (of those every one of them was scored with). A table whose widest row is band-limited holds that row's
    gains up to MASK_MARGIN past the widest val track any group saw (its "widest"; else its bandwidth),
    then the fill alone (mask 0) at the least gains any row chose up to a gate `gate_above` beyond that track, and ends with
    [gate, 0, 0, 0] (where the gate is below 1) and [1.0, 0, 0, 0]: an input cut far above every track
    scored, or not cut at all, passes through unchanged.
    """
    rows: list[
        tuple[float, dict[str, float], dict[str, float], int]
    ] = []  # (bandwidth, summed ViSQOL and LSD per setting, excerpts)
    for group in sorted(groups.values(), key=lambda g: g["bandwidth"]):
        n = group["segments"]
        visqol, distance = ({k: v * n for k, v in group[key].items()} for key in ("scores", "lsd"))
        if rows and group["bandwidth"] - rows[-1][0] <= merge_within:
            width, total_v, total_l, count = rows[-1]
            rows[-1] = (
                (width * count + group["bandwidth"] * n) / (count + n),
                {k: total_v[k] + visqol[k] for k in total_v if k in visqol},
                {k: total_l[k] + distance[k] for k in total_l if k in distance},
                count + n,
            )
        else:
            rows.append((group["bandwidth"], visqol, distance, n))
    table = []
    for width, total_v, total_l, count in rows:
        table.append(
            [
                round(width, 4),
                *best_setting({k: v / count for k, v in total_v.items()}, {k: v / count for k, v in total_l.items()}),
            ]
        )
    if table[-1][0] < 1.0:
        widest = round(max([table[-1][0], *(g.get("widest", g["bandwidth"]) for g in groups.values())]), 4)
        gate = round(widest + gate_above, 4)
        # past every val track nothing was scored: the least fill any row chose, below and above the cut (the widest
        # row's full fill, held there, cost held-out AAC 128 kbps 0.025 ViSQOL: BENCHMARKS.md, "Quality: variants left out")
        fill = [min(row[i] for row in table) for i in (1, 2)]
        mask_until = round(min(widest + MASK_MARGIN, gate - 2 * GATE_STEP, 1.0 - GATE_STEP), 4)
        if mask_until > table[-1][0]:
            table.append([mask_until, *table[-1][1:]])  # the widest row's gains, held just past the widest val track
        if gate < 1.0:
            if gate - GATE_STEP > round(mask_until + GATE_STEP, 4):
                # then the fill alone, held up to the gate
                table += [[round(mask_until + GATE_STEP, 4), *fill, 0.0], [round(gate - GATE_STEP, 4), *fill, 0.0]]
            table.append([gate, 0.0, 0.0, 0.0])
        table.append([1.0, 0.0, 0.0, 0.0])
    return table


def best_setting(visqol: dict[str, float], lsd: dict[str, float], tolerance: float = SAME_VISQOL) -> Setting:
    """The (gain below the cut, gain above it, mask gain) among `visqol`'s `setting_key` keys with the lowest
    LSD of those that score within `tolerance` of the best ViSQOL.

    More fill restores more of the removed band (LSD falls) until it is too loud; among settings that
    ViSQOL cannot tell apart from the best, the one that restores the most is kept. Among those whose LSD
    is the same too (within its noise, LSD_METRIC.same_within), the one with the most of the mask term wins: it is
    what training made for SNR, and LSD barely sees it. Then the lowest LSD, then the least fill.
    """
    keys = [k for k in visqol if k not in ("input", "table")]
    top = max(visqol[k] for k in keys)
    tied = [k for k in keys if visqol[k] >= top - tolerance]
    least = min(lsd[k] for k in tied)
    alike = [k for k in tied if lsd[k] <= least + LSD_METRIC.same_within(least)]
    return parse_setting(min(alike, key=lambda k: (-parse_setting(k)[2], lsd[k], sum(parse_setting(k)))))


def visqol_scores(lossless: torch.Tensor, estimate: torch.Tensor, sample_rate: int) -> np.ndarray:
    """(N,) ViSQOL of each restored segment against its original, each whole segment one excerpt.

    Scored by one process per core (ladle_model/evaluation/visqol.py `measure_all`): half the time on two cores."""
    seconds = lossless.shape[-1] / sample_rate
    return np.asarray(
        visqol_moslqo(lossless, estimate, sample_rate, n_excerpts=1, excerpt_seconds=seconds), dtype=float
    ).reshape(-1)


@torch.no_grad()
def calibrate_fill_gain(
    model: nn.Module,
    segments: list[tuple[torch.Tensor, torch.Tensor]],
    sample_rate: int,
    settings: tuple[tuple[float, float], ...] = SETTINGS,
    labels: list[str] | None = None,
    bandwidths: list[float] | None = None,
    mask_gains: tuple[float, ...] = MASK_GAINS,
) -> Calibration:
    """The fill gains (below and above each input's cut, per input bandwidth) whose restorations of `segments` score best.

    "Best" is `best_setting`'s: the lowest LSD among the settings ViSQOL cannot tell from its best score.
    Each group's best pair with a fill is then scored on the group's own segments with the mask term at each
    of `mask_gains` too. `labels` name each segment's group (its preset; None: one group). `bandwidths` are the codec cuts
    of the segments' whole tracks (ladle_model/models/bandwidth.py), which the model is run at, as `ladle
    enhance` runs it; None: each segment's own reading. Each group's best setting becomes a row of a
    table over the groups' median input bandwidths (`bandwidth_table`), whose score is recorded as
    "table". The model is left as it was.
    """
    labels = list(labels) if labels is not None else ["all"] * len(segments)
    if len(labels) != len(segments):
        raise ValueError(f"{len(labels)} labels for {len(segments)} segments")
    if bandwidths is not None and len(bandwidths) != len(segments):
        raise ValueError(f"{len(bandwidths)} bandwidths for {len(segments)} segments")
    current = float(model.config.fill_gain)
    if not visqol_available():
        return Calibration(current, skipped="visqol-python is not installed")
    kept = [
        i
        for i, (y, _) in enumerate(segments)
        if y.shape[-1] >= VISQOL_MIN_SECONDS * sample_rate and bool(y.abs().max() > 0)
    ]
    if not kept:
        return Calibration(current, skipped=f"no active validation segment of at least {VISQOL_MIN_SECONDS:.2f} s")
    length = min(segments[i][0].shape[-1] for i in kept)  # a val track shorter than an excerpt gives a shorter one
    lossless = torch.stack([segments[i][0][..., :length] for i in kept])  # (N, 2, L)
    lossy = torch.stack([segments[i][1][..., :length] for i in kept])  # (N, 2, L)
    labels = [labels[i] for i in kept]
    device = next(model.parameters()).device
    widths = (
        torch.tensor([bandwidths[i] for i in kept], dtype=torch.float32)
        if bandwidths is not None
        else model.input_bandwidths(lossy.to(device)).cpu()
    )  # (N,)
    at_width = widths.to(device) if bandwidths is not None else None  # the model reads each segment's own otherwise

    def scored(table: list | None, rows: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        # ViSQOL and LSD of each segment (of `rows`; None: all) restored with `table`: (N,) each
        pick = slice(None) if rows is None else rows
        if table is None:
            estimate = lossy[pick]
        else:
            with fill_setting(model, 1.0, table):
                estimate = (
                    model(lossy[pick].to(device), bandwidth=None if at_width is None else at_width[pick]).float().cpu()
                )
        return (
            visqol_scores(lossless[pick], estimate, sample_rate),
            np.asarray(lsd(lossless[pick].numpy(), estimate.numpy()), dtype=float).reshape(-1),
        )

    was_training = model.training
    model.eval()
    try:
        per_segment = {"input": scored(None)}
        for setting in settings:
            per_segment[setting_key(setting)] = scored(
                [[1.0, *setting, 1.0]]
            )  # one row: these gains, the mask as trained
        scores = {k: float(np.nanmean(v)) for k, (v, _) in per_segment.items()}
        lsds = {k: float(np.nanmean(d)) for k, (_, d) in per_segment.items()}
        result = Calibration(best_setting(scores, lsds)[0], scores, len(kept), sample_rate=sample_rate, lsd=lsds)
        for name in sorted(set(labels)):
            rows = [i for i, label in enumerate(labels) if label == name]
            group = {k: float(np.nanmean(v[rows])) for k, (v, _) in per_segment.items()}
            group_lsd = {k: float(np.nanmean(d[rows])) for k, (_, d) in per_segment.items()}
            below, above, _ = best_setting(group, group_lsd)
            if below or above:  # then its best pair with less of the mask term, on its own excerpts
                for mask in mask_gains:
                    key = setting_key((below, above, mask))
                    group[key], group_lsd[key] = (
                        float(np.nanmean(m)) for m in scored([[1.0, below, above, mask]], rows)
                    )
            result.groups[name] = {
                "bandwidth": float(widths[rows].median()),
                "widest": float(widths[rows].max()),
                "segments": len(rows),
                "scores": group,
                "lsd": group_lsd,
                "setting": list(best_setting(group, group_lsd)),
            }
        result.table = bandwidth_table(result.groups)
        visqol, distance = scored(result.table)
        scores["table"], lsds["table"] = float(np.nanmean(visqol)), float(np.nanmean(distance))
    finally:
        model.train(was_training)
    return result


def calibrate_run(
    run: RunDir,
    segments: list[tuple[torch.Tensor, torch.Tensor]],
    sample_rate: int,
    source: str = "",
    labels: list[str] | None = None,
    bandwidths: list[float] | None = None,
    again: bool = False,
) -> Calibration | None:
    """Calibrate RUN's best.pt (else last.pt) and write the gain into its model config; None for a model without one.

    The checkpoint is rewritten atomically with config["model"]["fill_gain"] and "fill_gain_table" and a
    "calibration" record. Unless `again`, a best.pt whose record needs no scoring (`reuse_calibration`) keeps
    it; any other is scored on `segments`. Training never reads best.pt back, so a re-run of `ladle train`
    starts from last.pt at gain 1.0 and calibrates its new best.pt again.
    """
    path = run.checkpoint("best")
    ckpt = load_checkpoint(path)
    model = model_from_checkpoint(ckpt)
    if not calibratable(model):
        return None
    reused = None if again else reuse_calibration(run, ckpt)
    if reused is not None:
        return reused
    model.config.fill_gain, model.config.fill_gain_table = (
        1.0,
        None,
    )  # what training produced, whatever was chosen before
    result = calibrate_fill_gain(model, segments, sample_rate, labels=labels, bandwidths=bandwidths)
    result.source = source
    if result.skipped:
        log.info("fill gain not calibrated: %s", result.skipped)
        return result
    write_calibration(ckpt, path, result)
    return result


def reuse_calibration(run: RunDir, ckpt: dict | None = None) -> Calibration | None:
    """RUN's best.pt calibration where it needs no scoring, else None: a record of this METHOD as it is (a re-run
    that trained no further; training rewrites best.pt without the record), or one of a method that scored
    alike (SCORED_ALIKE_SINCE) with its table rebuilt from the record's scores and written back. `ckpt`: best.pt
    loaded already. The entry points (ladle_model/calibration/data.py) ask before they decode any val music.
    """
    path = run.checkpoint("best")
    ckpt = load_checkpoint(path) if ckpt is None else ckpt
    record = ckpt.get("calibration")
    if not record:
        return None
    if record.get("method") == METHOD:
        return Calibration(**record)
    if not SCORED_ALIKE_SINCE <= record.get("method", 0) < METHOD or not record.get("groups"):
        return None
    try:  # the val excerpts' gains are the same under this method: only the rows past them change
        groups = {
            name: {**group, "setting": list(best_setting(group["scores"], group["lsd"]))}
            for name, group in record["groups"].items()
        }
        result = Calibration(
            **{
                **record,
                "groups": groups,
                "table": bandwidth_table(groups),
                "method": METHOD,
                "gain": best_setting(record["scores"], record["lsd"])[0],
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
