"""Prefect tasks of the `nightly` flow: thin wrappers around the registry, the champion and the promotion rule.

- `night_done_task`: the registry's row for a dataset version (a night that finished on it), or None;
- `seed_challenger_task`: a new challenger run folder starts from the champion's weights (before the first
  promotion: the newest candidate's);
- `decide_task`: the promotion rule on both evaluations, the promotion, and the registry row;
- `publish_decision_task`: the decision as a Markdown artifact, naming the preset and metric that blocked it;
- `prune_runs_task`: older challengers' run folders deleted, the newest `keep` and the champion's kept.
"""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from ladle_model.evaluation.promotion import decide, decision_markdown
from ladle_model.runs.champion import champion_record, champion_run, promote, seed_run
from ladle_model.runs.folder import RunDir
from ladle_model.runs.registry import Candidate, find_candidate, read_candidates, record_candidate
from ladle_model.runs.retention import prune_runs
from ladle_model.training.config import TrainConfig

DECISION_ARTIFACT = "nightly-decision"  # one key: Prefect keeps every night's version of it


@task(name="night-done", cache_policy=NO_CACHE)
def night_done_task(data: str, dataset_version: str) -> dict | None:
    """The registry row of a challenger trained on `dataset_version`, or None: that night has not finished."""
    return find_candidate(data, dataset_version)


@task(name="seed-challenger", cache_policy=NO_CACHE)
def seed_challenger_task(data: str, run_dir: str, config: dict) -> str:
    """Start a new challenger from the champion's best.pt, or before any promotion from the newest candidate's
    last.pt (so training adds up night after night until one beats the lossy input). Returns what it was seeded
    from: "champion", that candidate's run folder, or "" (from scratch, or a folder a killed night left)."""
    cfg = TrainConfig.from_dict(config)
    champion = champion_run(data)
    if champion is not None:
        return "champion" if seed_run(run_dir, champion.best, cfg.model, cfg.model_config()) else ""
    for row in reversed(read_candidates(data)):
        last = RunDir(row["run_dir"]).resume_checkpoint()
        if last is not None:
            return row["run_dir"] if seed_run(run_dir, last, cfg.model, cfg.model_config()) else ""
    return ""


def _means(evaluation: dict, column: str) -> dict:
    return {p: {s["metric"]: s[column] for s in r["summary"]} for p, r in evaluation["presets"].items()}


@task(name="decide-promotion", cache_policy=NO_CACHE)
def decide_task(
    data: str,
    dataset_version: str,
    challenger: dict,
    champion: dict | None,
    training: dict,
    recipe: str,
    seconds: float,
) -> dict:
    """Promote or keep the champion (ladle_model/evaluation/promotion.py) and record the candidate; returns its row."""
    summaries = {p: r["summary"] for p, r in challenger["presets"].items()}
    theirs = {p: r["summary"] for p, r in champion["presets"].items()} if champion else None
    decision = decide(summaries, theirs)
    record = champion_record(data) if champion else None
    before = (record.get("registry_key") or record.get("dataset_version")) if record else None
    candidate = Candidate(
        dataset_version=dataset_version,
        run_dir=challenger["run_dir"],
        verdict=decision.verdict,
        reason=decision.reason,
        presets=sorted(summaries),
        dataset_history=training.get("dataset_history", []),
        metrics=_means(challenger, "model"),
        champion_metrics=_means(champion, "model") if champion else {},
        lossy_metrics=_means(challenger, "lossy_input"),
        blockers=decision.to_dict()["blockers"],
        champion_before=before,
        model=training.get("model", ""),
        recipe=recipe,
        step=int(training.get("step", 0)),
        seconds=round(seconds, 1),
    )
    if decision.promoted:
        promote(data, challenger["run_dir"], {"reason": decision.reason, "registry_key": dataset_version})
    return record_candidate(data, candidate).__dict__


@task(name="publish-decision", cache_policy=NO_CACHE)
def publish_decision_task(row: dict) -> str:
    """The night's decision as a Markdown artifact; returns its key."""
    from ladle_model.evaluation.promotion import Blocker, Decision

    decision = Decision(row["verdict"] == "promoted", row["reason"], [Blocker(**b) for b in row["blockers"]])
    create_markdown_artifact(
        markdown=decision_markdown(decision, row["run_dir"], row["champion_before"], row["dataset_version"]),
        key=DECISION_ARTIFACT,
        description=f"Champion or challenger on dataset {row['dataset_version']}: {row['verdict']}",
    )
    return DECISION_ARTIFACT


@task(name="prune-runs", cache_policy=NO_CACHE)
def prune_runs_task(data: str, keep: int, tonight: str) -> list[str]:
    """The run folders of challengers older than the newest `keep` deleted, but the champion's and `tonight`'s
    (ladle_model/runs/retention.py); returns them."""
    return prune_runs(data, keep, protect=[tonight])
