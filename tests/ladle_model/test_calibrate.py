"""The fill-gain calibration: it picks the gain ViSQOL prefers and writes it into best.pt."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import torch

from ladle_model.calibration import calibrate, search
from ladle_model.calibration.calibrate import calibrate_run
from ladle_model.calibration.data import pick_segments
from ladle_model.calibration.gains import MASK_MARGIN, admissible, best_setting, parse_setting, setting_key
from ladle_model.calibration.gains import bandwidth_table as typed_bandwidth_table
from ladle_model.calibration.record import METHOD, SCORED_ALIKE_SINCE, Calibration, calibration_text
from ladle_model.calibration.search import calibrate_fill_gain, fill_setting
from ladle_model.evaluation.visqol import visqol_available
from ladle_model.models.build import build_model, model_config_dict
from ladle_model.runs.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, model_from_checkpoint
from ladle_model.runs.folder import RunDir, save_checkpoint_file

RATE = 44100


def bandwidth_table(groups: dict) -> list[list[float]]:
    """The table's plain rows, as the checkpoint stores them."""
    return typed_bandwidth_table(groups).to_list()


needs_visqol = pytest.mark.skipif(not visqol_available(), reason="visqol-python is not installed")


def band_limited_music(seed: int, seconds: float = 1.2) -> torch.Tensor:
    """(2, n) harmonics below 4 kHz: a lossless original with nothing in its top band."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    x = sum(0.2 / k * np.sin(2 * np.pi * 220.0 * k * t + rng.uniform(0, 6, size=(2, 1))) for k in range(1, 17))
    return torch.from_numpy(x.astype(np.float32))


def loud_filler(level: float = 0.05):
    """A SpecNeXt whose additive head adds a loud constant fill to every bin above ~11 kHz: a fill the original lacks."""
    model = build_model("specnext", dim=16, n_blocks=1)
    with torch.no_grad():
        n_bins = model.n_bins
        model.head.bias[2 * n_bins + n_bins // 2 : 3 * n_bins] = level  # add_re of the top half of the bins
    return model


@needs_visqol
def test_the_gain_with_the_best_visqol_is_chosen_and_the_model_is_left_as_it_was():
    model = loud_filler()
    segments = [(band_limited_music(s), band_limited_music(s)) for s in (0, 1)]  # the input is already perfect
    result = calibrate_fill_gain(model, segments, RATE, settings=((0.0, 0.0), (0.5, 0.5), (1.0, 1.0)))
    assert result.skipped == "" and result.segments == 2 and result.method == METHOD
    assert result.gain == 0.0 and all(
        row[1:3] == [0.0, 0.0] for row in result.table
    )  # any fill only moves it away from the original
    assert result.scores["0/0"] == pytest.approx(result.scores["input"], abs=1e-3)
    assert result.scores["0/0"] > result.scores["0.5/0.5"] > result.scores["1/1"]
    assert result.lsd["0/0"] == pytest.approx(result.lsd["input"], abs=1e-3) and result.lsd["0/0"] < result.lsd["1/1"]
    assert model.config.fill_gain == 1.0 and model.config.fill_gain_table is None


def low_passed(x: torch.Tensor, cut_hz: float) -> torch.Tensor:
    """x brick-wall low-passed at cut_hz, as a codec does."""
    spec = torch.fft.rfft(x)
    spec[..., torch.fft.rfftfreq(x.shape[-1], 1 / RATE) > cut_hz] = 0
    return torch.fft.irfft(spec, n=x.shape[-1])


def bright_music(seed: int, seconds: float = 1.2) -> torch.Tensor:
    """(2, n) harmonics over a faint noise floor up to Nyquist: an original with no cliff in its spectrum."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    x = sum(0.3 / k * np.sin(2 * np.pi * 440.0 * k * t + rng.uniform(0, 6, size=(2, 1))) for k in range(1, 46))
    x = x + 0.003 * rng.standard_normal(x.shape)
    return torch.from_numpy(x.astype(np.float32))


@needs_visqol
def test_each_preset_gets_its_own_gain_in_a_table_over_input_bandwidth():
    model = loud_filler(level=1.0)
    cut = [(bright_music(s), low_passed(bright_music(s), 11025.0)) for s in (0, 1)]  # a codec cut at half Nyquist
    clean = [(bright_music(s), bright_music(s)) for s in (2, 3)]  # transparent: any fill hurts
    result = calibrate_fill_gain(
        model, cut + clean, RATE, settings=((0.0, 0.0), (0.0, 1.0), (1.0, 1.0)), labels=["cut", "cut", "clean", "clean"]
    )
    assert set(result.groups) == {"cut", "clean"} and result.sample_rate == RATE
    assert (
        result.groups["cut"]["bandwidth"] == pytest.approx(0.5, abs=0.02) and result.groups["clean"]["bandwidth"] == 1.0
    )
    assert result.groups["cut"]["widest"] == pytest.approx(
        0.5, abs=0.02
    )  # the widest of its tracks: where the gate is measured from
    assert result.groups["clean"]["setting"] == [0.0, 0.0, 1.0] and result.groups["clean"]["segments"] == 2
    assert "table" in result.scores and "table" in result.lsd
    # the clean group's row as scored (its mask term on): full-band input was scored, so it is not passed through
    assert result.table == [
        [round(result.groups["cut"]["bandwidth"], 4), *result.groups["cut"]["setting"]],
        [1.0, 0.0, 0.0, 1.0],
    ]
    assert model.config.fill_gain == 1.0 and model.config.fill_gain_table is None  # left as it was


def test_the_table_merges_presets_cut_alike_and_passes_through_input_cut_far_above_them_or_not_at_all():
    def group(width, scores, lsd=None):
        return {"bandwidth": width, "segments": 2, "scores": scores, "lsd": lsd or {k: 1.0 for k in scores}}

    groups = {
        "mp3-64": group(0.50, {"0/0": 3.5, "0.5/0.25": 3.7}),
        "vorbis-96": group(0.76, {"0/0": 4.4, "0.5/0.25": 4.3}),
        "mp3-128": group(0.77, {"0/0": 4.5, "0.5/0.25": 4.7}),
    }  # pooled with vorbis-96: 0.5/0.25 wins (4.50 against 4.45)
    # the widest gains hold up to the widest track seen (mp3-128's 0.77) and MASK_MARGIN past it; then the fill
    # alone, without the mask term, fading to none at the gate 0.05 beyond that track
    assert MASK_MARGIN == 0.004
    table = bandwidth_table(groups)
    assert table == [
        [0.5, 0.5, 0.25, 1.0],
        [0.765, 0.5, 0.25, 1.0],
        [0.774, 0.5, 0.25, 1.0],
        [0.775, 0.5, 0.25, 0.0],
        [0.82, 0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0, 0.0],
    ]
    midway = (
        typed_bandwidth_table(groups).gains_at(torch.tensor([0.7975]))[0].tolist()
    )  # halfway between the fill alone and the gate
    assert midway == pytest.approx([0.25, 0.125, 0.0], abs=1e-5)
    # past the widest val track the fill starts at the least gains any row chose, not at the widest row's
    other = {**groups, "mp3-64": group(0.50, {"0/0": 3.5, "0.25/0.5": 3.7})}
    assert bandwidth_table(other) == [
        [0.5, 0.25, 0.5, 1.0],
        [0.765, 0.5, 0.25, 1.0],
        [0.774, 0.5, 0.25, 1.0],
        [0.775, 0.25, 0.25, 0.0],
        [0.82, 0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0, 0.0],
    ]
    groups["vorbis-96"]["widest"] = 0.79  # one of its val tracks was cut higher
    assert [row[0] for row in bandwidth_table(groups)] == [0.5, 0.765, 0.794, 0.795, 0.84, 1.0]
    assert [row[3] for row in bandwidth_table(groups)] == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    assert bandwidth_table({"opus": group(1.0, {"0/0": 4.7, "0.25/0.25": 4.6})}) == [[1.0, 0.0, 0.0, 1.0]]  # as scored
    # no gate below full band: the gains hold just past the widest track, then fall to none at full band
    assert bandwidth_table({"aac": group(0.97, {"0/0": 4.5, "0.25/0.25": 4.6})}) == [
        [0.97, 0.25, 0.25, 1.0],
        [0.974, 0.25, 0.25, 1.0],
        [1.0, 0.0, 0.0, 0.0],
    ]
    assert bandwidth_table({"aac": group(0.998, {"0/0": 4.5, "0.25/0.25": 4.6})}) == [
        [0.998, 0.25, 0.25, 1.0],
        [0.999, 0.25, 0.25, 1.0],
        [1.0, 0.0, 0.0, 0.0],
    ]


def test_among_settings_visqol_cannot_tell_apart_the_lowest_lsd_wins():
    visqol = {"input": 4.0, "0/0": 4.00, "0.25/0.5": 4.105, "0.5/0.25": 4.11, "1/1": 4.2}
    lsd = {"input": 1.0, "0/0": 0.95, "0.25/0.5": 0.70, "0.5/0.25": 0.75, "1/1": 0.9}
    assert best_setting(visqol, lsd) == (1.0, 1.0, 1.0)  # the best ViSQOL by more than its noise wins outright
    visqol["1/1"] = 4.0
    assert best_setting(visqol, lsd) == (0.25, 0.5, 1.0)  # 4.105 and 4.11 are the same to ViSQOL: the lower LSD wins
    visqol["0.25/0.5/0"], lsd["0.25/0.5/0"] = 4.13, 0.72
    assert best_setting(visqol, lsd) == (
        0.25,
        0.5,
        0.0,
    )  # without the mask term: within 0.01 of none, the best outright
    visqol["0.25/0.5/0"] = 4.11
    assert best_setting(visqol, lsd) == (0.25, 0.5, 1.0)  # a tie again: the lower LSD
    lsd["0.25/0.5/0"] = 0.699
    assert best_setting(visqol, lsd) == (0.25, 0.5, 1.0)  # LSD within its noise (0.5 %) too: the mask term as trained
    assert parse_setting("0.25/0.5") == (0.25, 0.5, 1.0) and setting_key((0.25, 0.5, 1.0)) == "0.25/0.5"
    assert parse_setting(setting_key((0.25, 0.5, 0.0))) == (0.25, 0.5, 0.0)


@needs_visqol
def test_a_mask_term_that_hurts_is_scaled_down_for_the_presets_it_hurts():
    model = loud_filler(level=1e-4)  # a fill too faint to matter
    with torch.no_grad():
        model.head.bias[: model.n_bins // 4] = -1.0  # a mask that removes the lowest quarter of the band
    cut = [(bright_music(s), low_passed(bright_music(s), 11025.0)) for s in (0, 1)]
    result = calibrate_fill_gain(model, cut, RATE, settings=((1.0, 1.0),), labels=["cut", "cut"])
    scores = result.groups["cut"]["scores"]
    assert scores["1/1/0"] == pytest.approx(
        scores["input"], abs=0.01
    )  # no mask term, a fill too faint to matter: the input
    assert min(scores["1/1/0.5"], scores["1/1/0"]) > scores["1/1"] + 0.1  # scored on the group's own excerpts
    assert "1/1/0" not in result.scores  # the pooled scores hold the settings every excerpt was scored with
    group = result.groups["cut"]
    fair = [k for k in ("1/1", "1/1/0.5", "1/1/0") if admissible(k, scores, group["lsd"], group["snr"])]
    best = max(fair, key=scores.get)  # of the settings not worse than the input
    assert group["setting"] == list(parse_setting(best)) == result.table[0][1:] and best != "1/1"
    assert not admissible("1/1", scores, group["lsd"], group["snr"])  # the mask that removes a quarter of the band


def test_a_setting_worse_than_the_input_on_any_metric_is_never_chosen():
    visqol = {"input": 4.5, "1/1": 4.6, "0.5/0.5": 4.52, "0/0": 4.5}
    lsd = {"input": 1.0, "1/1": 0.6, "0.5/0.5": 0.8, "0/0": 1.0}
    snr = {"input": 30.0, "1/1": 29.85, "0.5/0.5": 29.95, "0/0": 30.0}
    assert best_setting(visqol, lsd) == (1.0, 1.0, 1.0)  # its SNR unknown: ViSQOL, then LSD
    # ViSQOL heard the gain: 0.1 dB of SNR may go for it, 0.15 may not
    assert best_setting(visqol, lsd, snr) == (0.5, 0.5, 1.0)
    # near-transparent input: ViSQOL hears no gain, so SNR within its noise (0.01 dB) or the input passes through
    flat = {"input": 4.7, "1/1": 4.705, "0.5/0.5": 4.70, "0/0": 4.70}
    assert best_setting(flat, lsd, {**snr, "0/0": 29.5}) == (0.0, 0.0, 0.0)
    assert best_setting(flat, lsd, {**snr, "0.5/0.5": 29.995}) == (0.5, 0.5, 1.0)
    assert best_setting({**visqol, "1/1": 4.3, "0.5/0.5": 4.3}, lsd, {**snr, "0/0": 29.0}) == (0.0, 0.0, 0.0)
    assert best_setting(visqol, {**lsd, "0.5/0.5": 1.2}, snr) == (0.0, 0.0, 1.0)  # LSD worse: out


def test_segments_shorter_than_visqol_allows_are_skipped_with_a_reason():
    short = band_limited_music(0, seconds=0.5)
    result = calibrate_fill_gain(loud_filler(), [(short, short)], RATE)
    assert result.gain == 1.0 and "0.96 s" in result.skipped


def test_pick_segments_spreads_over_every_batch():
    batches = [(torch.full((4, 2, 8), float(i)), torch.full((4, 2, 8), float(i))) for i in range(6)]  # 24 segments
    picked = pick_segments(batches, n_total=24, n_pick=6)
    assert [float(y[0, 0]) for y, _ in picked] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def write_run(tmp_path, name: str, **model_overrides) -> RunDir:
    model = build_model(name, **model_overrides)
    run = RunDir(tmp_path / name)
    run.checkpoints.mkdir(parents=True)
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "model": model.state_dict(),
        "model_name": name,
        "config": {"model": model_config_dict(name, **model_overrides), "train": {}},
    }
    save_checkpoint_file(ckpt, run.best)
    return run


@needs_visqol
def test_calibrate_run_writes_the_gain_into_best_pt(tmp_path, monkeypatch):
    run = write_run(tmp_path, "specnext", dim=16, n_blocks=1)
    segments = [(band_limited_music(s), band_limited_music(s)) for s in (0, 1)]
    result = calibrate_run(run, segments, RATE, "test excerpts")
    assert isinstance(result, Calibration) and result.segments == 2 and result.source == "test excerpts"
    ckpt = load_checkpoint(run.best)
    assert ckpt["config"]["model"]["fill_gain"] == result.gain
    assert ckpt["calibration"]["scores"] == result.scores
    assert model_from_checkpoint(ckpt).config.fill_gain == result.gain
    assert result.table[-1] == [1.0, 0.0, 0.0, 0.0] and ckpt["config"]["model"]["fill_gain_table"] == result.table
    assert result.gain == 0.0  # an untrained model changes nothing: on a tie the least fill wins
    # a re-run that trained no further finds the record and scores nothing again
    before = run.best.read_bytes()
    assert calibrate_run(run, [], RATE, "not used") == result
    assert run.best.read_bytes() == before
    # a record of a method that scored alike gets only its table rebuilt when a later method changes only the rows past
    # the val tracks: nothing is scored (no segments here)
    monkeypatch.setattr(calibrate, "METHOD", METHOD + 1)
    stale = [[0.5, 0.25, 0.5, 1.0], [1.0, 0.0, 0.0, 0.0]]
    ckpt["calibration"] = {**ckpt["calibration"], "method": SCORED_ALIKE_SINCE, "table": stale}
    ckpt["config"]["model"]["fill_gain_table"] = stale
    save_checkpoint_file(ckpt, run.best)
    rebuilt = calibrate_run(run, [], RATE, "not used")
    assert rebuilt.table == bandwidth_table(ckpt["calibration"]["groups"]) != stale and rebuilt.scores == result.scores
    assert rebuilt.method == METHOD + 1 and rebuilt.source == result.source
    assert load_checkpoint(run.best)["config"]["model"]["fill_gain_table"] == rebuilt.table
    # a record an older calibration wrote (one gain for every bin) is calibrated again
    ckpt["calibration"] = {k: v for k, v in ckpt["calibration"].items() if k not in ("method", "lsd")}
    save_checkpoint_file(ckpt, run.best)
    assert calibrate_run(run, segments, RATE, "again").source == "again"
    assert load_checkpoint(run.best)["calibration"]["method"] == METHOD
    # and so is one of a method scored otherwise (before this method scored the mask gains)
    monkeypatch.undo()
    ckpt = load_checkpoint(run.best)
    ckpt["calibration"] = {**ckpt["calibration"], "method": SCORED_ALIKE_SINCE - 1}
    save_checkpoint_file(ckpt, run.best)
    assert calibrate_run(run, segments, RATE, "scored again").source == "scored again"


@needs_visqol
def test_calibrate_run_writes_the_table_that_the_loaded_model_then_uses(tmp_path):
    run = write_run(tmp_path, "specnext", dim=16, n_blocks=1)
    segments = [(bright_music(0), low_passed(bright_music(0), 11025.0)), (bright_music(1), bright_music(1))]
    result = calibrate_run(run, segments, RATE, "test excerpts", labels=["cut", "clean"])
    assert result.table is not None and [row[0] for row in result.table] == [pytest.approx(0.5, abs=0.02), 1.0]
    ckpt = load_checkpoint(run.best)
    assert ckpt["config"]["model"]["fill_gain_table"] == result.table == ckpt["calibration"]["table"]
    assert model_from_checkpoint(ckpt).config.fill_gain_table == result.table


def test_a_model_without_a_fill_gain_is_left_alone(tmp_path):
    run = write_run(tmp_path, "drrn1d")
    before = run.best.read_bytes()
    assert calibrate_run(run, [], RATE) is None
    assert run.best.read_bytes() == before


def test_fill_gain_zero_keeps_only_the_mask_term():
    model = loud_filler()
    x = band_limited_music(0, seconds=0.3)[None]
    model.config.fill_gain = 0.0
    with torch.no_grad():
        assert torch.allclose(model(x), x, atol=1e-6)  # the mask head is zero: the input comes back
        model.config.fill_gain = 1.0
        assert (model(x) - x).abs().max() > 1e-4


def test_the_calibration_is_told_in_one_line_with_the_table_in_khz():
    record = {
        "gain": 0.25,
        "table": [[0.5, 0.5, 0.25, 1.0], [1.0, 0.0, 0.0, 1.0]],
        "sample_rate": 44100,
        "segments": 12,
        "source": "val-track excerpts",
        "skipped": "",
        "scores": {"input": 4.1, "0.5/0.25": 4.15},
    }
    assert calibration_text(record) == (
        "fill gain per input bandwidth: 0.5 in band and 0.25 above the cut at 11.0 kHz, none on "
        "full-band input chosen on 12 val-track excerpts (ViSQOL: input 4.100, 0.5/0.25 4.150)"
    )
    assert calibration_text({**record, "table": [[1.0, 0.5, 0.25, 1.0]]}).startswith(
        "fill gain 0.5 in band and 0.25 above the cut for every input chosen on 12"
    )
    assert calibration_text({**record, "table": [[0.5, 0.5], [1.0, 0.0]]}).startswith(  # a record of the first method
        "fill gain 0.25 chosen on 12"
    )  # told by its gain: its table is not a gain table of today's form
    assert calibration_text({**record, "table": None}).startswith("fill gain 0.25 chosen on 12")
    same = [[0.5, 0.25, 0.5, 1.0], [0.65, 0.25, 0.5, 1.0], [0.75, 0.25, 0.5, 1.0], [1.0, 0.0, 0.0, 1.0]]
    assert calibration_text({**record, "table": same}).startswith(  # rows of the same gains are told once
        "fill gain per input bandwidth: 0.25 in band and 0.5 above the cut at 11.0, 14.3 and 16.5 kHz, none on full-band input chosen"
    )
    gated = [[0.5, 0.25, 0.5, 1.0], [0.75, 0.25, 0.5, 1.0], [0.8, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    assert calibration_text({**record, "table": gated}).startswith(  # the fourth method's gate
        "fill gain per input bandwidth: 0.25 in band and 0.5 above the cut at 11.0 and 16.5 kHz, input unchanged from 17.6 kHz up "
        "and on full-band input chosen"
    )
    held = [
        [0.5, 0.25, 0.5, 1.0],
        [0.75, 0.25, 0.5, 1.0],
        [0.799, 0.25, 0.5, 1.0],
        [0.8, 0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0, 0.0],
    ]
    assert calibration_text({**record, "table": held}) == calibration_text(
        {**record, "table": gated}
    )  # the held row is the gate's
    seventh = [
        [0.5, 0.25, 0.5, 1.0],
        [0.75, 0.25, 0.5, 1.0],
        [0.764, 0.25, 0.5, 1.0],
        [0.765, 0.25, 0.5, 0.0],
        [0.809, 0.25, 0.5, 0.0],
        [0.81, 0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0, 0.0],
    ]
    scored = {
        "groups": {"mp3-64": {"bandwidth": 0.5, "widest": 0.51}, "vorbis-96": {"bandwidth": 0.75, "widest": 0.76}}
    }
    assert calibration_text(
        {**record, **scored, "table": seventh}
    ).startswith(  # the mask term stops past the widest val track, the fill at the gate
        "fill gain per input bandwidth: 0.25 in band and 0.5 above the cut at 11.0, 16.5 and 16.8 kHz, the fill alone (0.25 in band "
        "and 0.5 above the cut) from 16.9 kHz, input unchanged from 17.9 kHz up and on full-band input chosen"
    )
    fourteenth = [*seventh[:4], *seventh[5:]]  # the fill alone fades to the gate
    assert calibration_text({**record, **scored, "table": fourteenth}).startswith(
        "fill gain per input bandwidth: 0.25 in band and 0.5 above the cut at 11.0, 16.5 and 16.8 kHz, the fill alone (0.25 in band "
        "and 0.5 above the cut) at 16.9 kHz, fading to input unchanged from 17.9 kHz up and on full-band input chosen"
    )
    eighth = [[0.5, 0.5, 0.5, 0.0], *seventh[1:]]  # mp3-64 chose its fill without the mask term
    assert calibration_text({**record, **scored, "table": eighth}).startswith(
        "fill gain per input bandwidth: the fill alone (0.5) at 11.0 kHz, 0.25 in band and 0.5 above the cut at 16.5 and 16.8 kHz, "
        "the fill alone (0.25 in band and 0.5 above the cut) from 16.9 kHz"
    )
    halved = [[0.5, 0.25, 0.25, 0.5], [1.0, 0.0, 0.0, 0.0]]
    assert calibration_text({**record, "table": halved}).startswith(
        "fill gain per input bandwidth: 0.25 with mask 0.5 at 11.0 kHz, input unchanged on full-band input chosen"
    )
    assert (
        calibration_text({**record, "skipped": "visqol-python is not installed"})
        == "fill gain not calibrated: visqol-python is not installed"
    )
    assert calibration_text(None) == "fill gain not calibrated"
    assert calibration_text({**record, "cut_short": "the mask gains stopped at mp3-64"}).endswith(
        "4.150); cut short by the time budget: the mask gains stopped at mp3-64"
    )


def test_fill_setting_restores_the_model_even_when_the_block_fails():
    model = loud_filler()
    with pytest.raises(RuntimeError), fill_setting(model, 0.5, [[0.5, 0.25, 0.25, 1.0], [1.0, 0.0, 0.0, 1.0]]):
        assert model.config.fill_gain == 0.5 and model.config.fill_gain_table == [
            [0.5, 0.25, 0.25, 1.0],
            [1.0, 0.0, 0.0, 1.0],
        ]
        raise RuntimeError("scoring failed")
    assert model.config.fill_gain == 1.0 and model.config.fill_gain_table is None


def test_labels_must_match_the_segments():
    segment = (band_limited_music(0), band_limited_music(0))
    with pytest.raises(ValueError, match="1 labels for 2 segments"):
        calibrate_fill_gain(loud_filler(), [segment, segment], RATE, labels=["mp3-64"])


@needs_visqol
def test_segments_of_different_lengths_are_scored_on_their_common_length():
    # a val track shorter than the 5-s excerpt gives a shorter excerpt; stacking them must not fail
    segments = [
        (band_limited_music(0, seconds=1.5), band_limited_music(0, seconds=1.5)),
        (band_limited_music(1, seconds=1.2), band_limited_music(1, seconds=1.2)),
    ]
    result = calibrate_fill_gain(loud_filler(), segments, RATE, settings=((0.0, 0.0), (1.0, 1.0)))
    assert result.skipped == "" and result.segments == 2
    assert result.scores["0/0"] == pytest.approx(result.scores["input"], abs=1e-3) and result.gain == 0.0


class ScoringClock:
    """A fake clock that ViSQOL moves on by `each` seconds per excerpt it scores; counts the excerpts scored."""

    def __init__(self, monkeypatch, each: float = 10.0) -> None:
        self.now, self.excerpts = 0.0, 0
        real = search.visqol_scores

        def timed(lossless, estimate, sample_rate):
            out = real(lossless, estimate, sample_rate)
            self.now += each * len(lossless)
            self.excerpts += len(lossless)
            return out

        monkeypatch.setattr(search, "visqol_scores", timed)

    def __call__(self) -> float:
        return self.now


def six_cut_excerpts() -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(bright_music(s), low_passed(bright_music(s), 11025.0)) for s in range(6)]


RACED = ((0.0, 0.0), (0.5, 0.5), (1.0, 1.0))


@needs_visqol
def test_the_race_chooses_what_scoring_every_setting_on_every_excerpt_chooses_for_less(monkeypatch):
    model = loud_filler(level=1.0)  # a loud fill above ~11 kHz, which the originals lack: the more, the worse
    perfect = [(band_limited_music(s), band_limited_music(s)) for s in range(6)]
    clock = ScoringClock(monkeypatch)
    raced = calibrate_fill_gain(model, perfect, RATE, settings=RACED, clock=clock)
    raced_excerpts = clock.excerpts
    monkeypatch.setattr(search, "DROP_BELOW", float("inf"))  # nothing leaves the race: every setting on everything
    clock.excerpts = 0
    full = calibrate_fill_gain(model, perfect, RATE, settings=RACED, clock=clock)
    assert raced.table == full.table and raced.groups["all"]["setting"] == full.groups["all"]["setting"]
    assert raced.groups["all"]["dropped"] and not full.groups["all"]["dropped"]
    assert raced_excerpts < clock.excerpts
    assert raced.cut_short == full.cut_short == ""


@needs_visqol
def test_a_deadline_stops_the_scoring_and_the_choice_is_made_among_what_was_scored(monkeypatch):
    model = loud_filler(level=1.0)
    clock = ScoringClock(monkeypatch)
    # the input (6 excerpts) and the first round (3 settings on 2 excerpts): 120 s; then the leader on the other 4,
    # and nothing more fits
    result = calibrate_fill_gain(model, six_cut_excerpts(), RATE, settings=RACED, clock=clock, deadline=165.0)
    assert clock.now <= 165.0 and not result.skipped
    assert result.cut_short  # what was left unscored: the rest of the race, or the table's own score
    assert len(result.groups["all"]["scores"]) == 2  # the input and the one setting scored on every excerpt
    assert result.table[0][1:] == result.groups["all"]["setting"]
    assert "cut short by the time budget" in calibration_text(asdict(result))
    # no setting scored on every excerpt of a preset by the deadline: nothing is chosen (nor written)
    clock.now = 0.0
    early = calibrate_fill_gain(model, six_cut_excerpts(), RATE, settings=RACED, clock=clock, deadline=100.0)
    assert early.table is None and early.skipped.startswith("the time budget ran out")
