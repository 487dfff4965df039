"""The promotion rule: not worse than the champion (per preset and metric, beyond its noise) nor the lossy input."""

from __future__ import annotations

from ladle_model.evaluation.promotion import CHAMPION, LOSSY_INPUT, decide, decision_markdown, worse_than
from ladle_model.evaluation.verdict import verdict


def summary(model: dict[str, float], lossy: dict[str, float]) -> list[dict]:
    """An evaluation summary (verdict.summarise's shape) from the model's and the input's means."""
    return [
        {"metric": k, "model": model[k], "lossy_input": lossy[k], "verdict": verdict(k, lossy[k], model[k])}
        for k in model
    ]


LOSSY = {"mse": 2.0e-4, "lsd": 1.20, "si_sdr_db": 20.0}
GOOD = {"mse": 1.5e-4, "lsd": 1.00, "si_sdr_db": 21.0}


def test_worse_only_beyond_the_metrics_noise_threshold():
    assert not worse_than("lsd", 1.004, 1.0)  # LSD's threshold is 0.5 % of the other's value
    assert worse_than("lsd", 1.006, 1.0)
    assert not worse_than("si_sdr_db", 20.995, 21.0) and worse_than("si_sdr_db", 20.9, 21.0)
    assert not worse_than("lsd", float("nan"), 1.0)  # n/a never blocks


def test_a_challenger_worse_on_one_preset_is_not_promoted_and_the_reason_names_the_metric():
    champion = {"vorbis-160": summary(GOOD, LOSSY), "mp3-128": summary(GOOD, LOSSY)}
    worse_lsd = {**GOOD, "lsd": 1.05}  # 5 % worse than the champion, still better than the input
    challenger = {"vorbis-160": summary(GOOD, LOSSY), "mp3-128": summary(worse_lsd, LOSSY)}
    decision = decide(challenger, champion)
    assert not decision.promoted and decision.verdict == "rejected"
    ((b),) = decision.blockers
    assert (b.preset, b.metric, b.against) == ("mp3-128", "lsd", CHAMPION)
    assert "worse than the champion on mp3-128: LSD 1.05 vs 1 (+5.0%, noise threshold 0.005)" in decision.reason
    text = decision_markdown(decision, "runs/nightly/v2", "v1", "v2")
    assert text.startswith("# Champion kept: challenger trained on v2")
    assert "| mp3-128 | LSD | champion | 1.05 | 1 |" in text


def test_not_worse_than_the_champion_is_promoted_and_worse_than_the_input_never_is():
    champion = {"vorbis-160": summary(GOOD, LOSSY)}
    same = {**GOOD, "lsd": 1.004}  # within the noise
    assert decide({"vorbis-160": summary(same, LOSSY)}, champion).promoted
    bad = {**GOOD, "mse": 2.5e-4}  # worse than the input (and the champion)
    decision = decide({"vorbis-160": summary(bad, LOSSY)}, champion)
    assert not decision.promoted
    assert {(b.metric, b.against) for b in decision.blockers} == {("mse", LOSSY_INPUT), ("mse", CHAMPION)}


def test_the_first_champion_must_beat_the_lossy_input():
    assert decide({"vorbis-160": summary(GOOD, LOSSY)}, None).promoted
    decision = decide({"vorbis-160": summary(LOSSY, LOSSY)}, None)  # the same as its input: nothing gained
    assert not decision.promoted and "does not beat its lossy input" in decision.reason
    assert decision_markdown(decision, "runs/nightly/v1", None, "v1").count("champion before: none") == 1
