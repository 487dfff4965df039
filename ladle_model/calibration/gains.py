"""The gain table a calibration chooses from its scores, and the table in words.

    best_setting({"input": 3.1, "0.5/0.25": 3.4, "1/1": 3.2}, lsds)        # (0.5, 0.25, 1.0)
    bandwidth_table(groups)                                                 # GainTable: a row per preset's cut
    fill_gain_text(record)                                                  # 'per input bandwidth: 0.5 at 11.1 kHz, ...'

A setting is (fill gain below the cut, above it, mask gain), named in the scores by `setting_key`. Each
preset's best setting becomes a row at its val tracks' median input bandwidth. Only settings not worse than the
input count (`admissible`): ViSQOL and LSD within their noise of the input's or better, and SNR too, or within
SNR_ALLOWANCE where ViSQOL gains beyond its noise; where none is, the row passes its input through. Among
settings ViSQOL cannot tell from the best (its 0.01 noise), the lowest LSD wins: it restores the most. The mask term runs up to
MASK_MARGIN past the widest val track and no further; then the fill alone fades, linearly from the least gains
any row chose to none at GATE_ABOVE beyond that track; input cut further still, or not cut at all, passes through
unchanged: the val split shows nothing of what the model does to it (BENCHMARKS.md, "Quality").
"""

from __future__ import annotations

from ladle_model.evaluation.metrics import get_metric
from ladle_model.models.gain_table import GainRow, GainTable

SAME_VISQOL = get_metric("visqol").noise  # 0.01: ViSQOL differences evaluation calls "the same as the input"
LSD_METRIC = get_metric("lsd")  # its same_within: LSD within 0.5 % of a value is the same to evaluation
SAME_SNR = get_metric("snr_db").noise  # 0.01 dB
# dB of SNR a setting may give up where ViSQOL hears it restore more than its noise: a fill above the cut cannot
# know the original's phase, so it always costs a little SNR. Where ViSQOL hears nothing, SNR within its noise.
SNR_ALLOWANCE = 0.1
PASS_THROUGH = (0.0, 0.0, 0.0)
MERGE_WITHIN = 0.02  # presets whose low-passes lie within ~440 Hz share one row of the table
# An input cut this far (1.1 kHz at 44.1 kHz) above the widest val track scored, or further, passes through
# unchanged: on near-transparent input the mask term and the fill cost SNR and ViSQOL (BENCHMARKS.md, "Quality").
# Between, the fill fades: on the demo's test track, cut 0.9 kHz past its one val track, the val track's full fill
# cost 0.74 ViSQOL where a fifth of it cost none and restored more (LSD 0.95 against the input's 1.25).
GATE_ABOVE = 0.05
GATE_STEP = 0.001  # of Nyquist (22 Hz): the step between two rows meant as one edge
# The mask term runs this far past the widest val track (two bins of SpecNeXt's STFT, 86 Hz at 44.1 kHz): a cut
# read within it is read as that track's codec's.
MASK_MARGIN = 0.004

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


def admissible(key: str, visqol: dict[str, float], lsd: dict[str, float], snr: dict[str, float]) -> bool:
    """Whether setting `key` is not worse than the input ("input" in each dict) on any metric beyond its noise; SNR
    may fall by SNR_ALLOWANCE where ViSQOL rises beyond its noise."""
    base_v, base_l, base_s = visqol["input"], lsd["input"], snr["input"]
    heard = visqol[key] > base_v + SAME_VISQOL
    return (
        visqol[key] >= base_v - SAME_VISQOL
        and lsd[key] <= base_l + LSD_METRIC.same_within(base_l)
        and snr[key] >= base_s - (SNR_ALLOWANCE if heard else SAME_SNR)
    )


def best_setting(
    visqol: dict[str, float], lsd: dict[str, float], snr: dict[str, float] | None = None, tolerance: float = SAME_VISQOL
) -> Setting:
    """The (gain below the cut, gain above it, mask gain) among `visqol`'s `setting_key` keys with the lowest
    LSD of those that score within `tolerance` of the best ViSQOL.

    With the input's scores and `snr` given, only the `admissible` settings compete, and PASS_THROUGH is chosen when
    none is. More fill restores more of the removed band (LSD falls) until it is too loud; among settings that
    ViSQOL cannot tell apart from the best, the one that restores the most is kept. Among those whose LSD
    is the same too (within its noise, LSD_METRIC.same_within), the one with the most of the mask term wins: it is
    what training made for SNR, and LSD barely sees it. Then the lowest LSD, then the least fill.
    """
    keys = [k for k in visqol if k not in ("input", "table")]
    if snr is not None and "input" in visqol:
        keys = [k for k in keys if admissible(k, visqol, lsd, snr)]
        if not keys:
            return PASS_THROUGH
    top = max(visqol[k] for k in keys)
    tied = [k for k in keys if visqol[k] >= top - tolerance]
    least = min(lsd[k] for k in tied)
    alike = [k for k in tied if lsd[k] <= least + LSD_METRIC.same_within(least)]
    return parse_setting(min(alike, key=lambda k: (-parse_setting(k)[2], lsd[k], sum(parse_setting(k)))))


SCORED = ("scores", "lsd", "snr")  # a group's mean ViSQOL, LSD and SNR per setting


def merged_groups(groups: dict[str, dict], merge_within: float) -> list[tuple[float, list[dict | None], int]]:
    """(bandwidth, summed ViSQOL, LSD and SNR per setting (SNR None where a group has none), excerpts) of the
    groups, those within `merge_within` of each other (of Nyquist) merged, with the settings every one of them was
    scored with."""
    rows: list[tuple[float, list[dict | None], int]] = []
    for group in sorted(groups.values(), key=lambda g: g["bandwidth"]):
        n = group["segments"]
        sums = [{k: v * n for k, v in group[key].items()} if group.get(key) is not None else None for key in SCORED]
        if rows and group["bandwidth"] - rows[-1][0] <= merge_within:
            width, totals, count = rows[-1]
            merged = [
                {k: total[k] + new[k] for k in total if k in new} if total is not None and new is not None else None
                for total, new in zip(totals, sums)
            ]
            rows[-1] = ((width * count + group["bandwidth"] * n) / (count + n), merged, count + n)
        else:
            rows.append((group["bandwidth"], sums, n))
    return rows


def bandwidth_table(
    groups: dict[str, dict], merge_within: float = MERGE_WITHIN, gate_above: float = GATE_ABOVE
) -> GainTable:
    """The gain table from each group's median input bandwidth and its best setting.

    Groups whose bandwidths lie within `merge_within` share one row (`merged_groups`). A table whose widest
    row is band-limited holds that row's gains up to MASK_MARGIN past the widest val track any group saw (its
    "widest"; else its bandwidth), then the fill alone (mask 0) at the least gains any row chose, fading to none
    at a gate `gate_above` beyond that track, and ends with rows of no change at the gate (where it is below 1) and
    at 1: an input cut far above every track scored, or not cut at all, passes through unchanged.
    """
    rows = [
        GainRow(
            round(width, 4),
            *best_setting(*({k: v / n for k, v in t.items()} if t is not None else None for t in totals)),
        )
        for width, totals, n in merged_groups(groups, merge_within)
    ]
    if rows[-1].bandwidth < 1.0:
        widest = round(max([rows[-1].bandwidth, *(g.get("widest", g["bandwidth"]) for g in groups.values())]), 4)
        gate = round(widest + gate_above, 4)
        # past every val track nothing was scored: the least fill any row chose, below and above the cut
        in_band, above_cut = min(r.in_band for r in rows), min(r.above_cut for r in rows)
        mask_until = round(min(widest + MASK_MARGIN, gate - 2 * GATE_STEP, 1.0 - GATE_STEP), 4)
        last = rows[-1]
        if mask_until > last.bandwidth:  # the widest row's gains, held just past the widest val track
            rows.append(GainRow(mask_until, last.in_band, last.above_cut, last.mask))
        if gate < 1.0:
            if gate - GATE_STEP > round(mask_until + GATE_STEP, 4):  # then the fill alone, fading to the gate
                rows.append(GainRow(round(mask_until + GATE_STEP, 4), in_band, above_cut, 0.0))
            rows.append(GainRow(gate, 0.0, 0.0, 0.0))
        rows.append(GainRow(1.0, 0.0, 0.0, 0.0))
    return GainTable(tuple(rows))


def row_text(row: GainRow) -> str:
    """A row's gains in words: 'input unchanged', '0.5', '0.5 in band and 0.25 above the cut with mask 0.5', ..."""
    if row.unchanged:
        return "input unchanged"
    if row.in_band == row.above_cut:
        fill = "none" if row.in_band == 0 else f"{row.in_band:g}"
    else:
        fill = f"{row.in_band:g} in band and {row.above_cut:g} above the cut"
    return fill if row.mask == 1 else f"the fill alone ({fill})" if row.mask == 0 else f"{fill} with mask {row.mask:g}"


def fill_gain_text(record: dict) -> str:
    """A calibration record's choice in words: '0.25', or 'per input bandwidth: 0.5 in band and 0.25 above the cut at
    11.1 kHz, ..., input unchanged from 17.8 kHz up and on full-band input'."""
    nyquist = (record.get("sample_rate") or 0) / 2
    try:
        table = GainTable.from_list(record["table"]) if record.get("table") and nyquist else None
    except ValueError:  # a record too old to hold a table of this form: its gain says what it chose
        table = None
    if table is None:
        return f"{record['gain']:g}"
    if len(table.rows) == 1:
        return f"{row_text(table.rows[0])} for every input"
    full = table.rows[-1] if table.rows[-1].bandwidth >= 1 else None
    rows = list(table.rows[:-1] if full else table.rows)
    held = (
        len(rows) >= 3
        and rows[-1].unchanged
        and rows[-2].gains == rows[-3].gains
        and round(rows[-1].bandwidth - rows[-2].bandwidth, 4) == GATE_STEP
    )
    if held:
        rows = rows[:-2] + rows[-1:]  # the widest gains held up to the gate (methods before 14): told by the gate
    # band-limited rows of the same gains told once: (gains, [kHz, ...], "from" for the fill held alone past the val tracks)
    scored = [g.get("widest", g.get("bandwidth", 1.0)) for g in (record.get("groups") or {}).values()]
    past_scored = max(scored) + MASK_MARGIN if scored else 1.0
    runs: list[tuple[str, list[str], str]] = []
    for row in rows:
        khz = f"{row.bandwidth * nyquist / 1000:.1f}"
        if runs and runs[-1][0] == row_text(row):
            runs[-1][1].append(khz)
        else:
            held_alone = row.mask == 0 and (row.in_band or row.above_cut) and row.bandwidth > past_scored
            runs.append((row_text(row), [khz], "from" if held_alone else "at"))
    fades = not held and len(runs) >= 2 and rows[-1].unchanged and runs[-2][2] == "from"  # to the gate
    if fades:
        runs[-2] = (runs[-2][0], runs[-2][1], "at")
    parts = [
        f"{g} {word} {khz[0] if len(khz) == 1 else ', '.join(khz[:-1]) + ' and ' + khz[-1]} kHz"
        for g, khz, word in runs
    ]
    if full is not None and runs and len(runs[-1][1]) == 1 and runs[-1][0] == row_text(full) == "input unchanged":
        fading = "fading to " if fades else ""
        parts[-1] = f"{fading}input unchanged from {runs[-1][1][0]} kHz up and on full-band input"  # the gate
    elif full is not None:
        parts.append(f"{row_text(full)} on full-band input")
    return "per input bandwidth: " + ", ".join(parts)
