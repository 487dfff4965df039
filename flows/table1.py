"""The `table1` flow: the LadLe paper's Table I, its four preprocessing approaches trained and compared.

    ladle table1 library/ --out table1/ --steps 2000 --model ladle
    ladle table1 library/ --out table1-cpu/ --steps 50 --model drrn1d --overrides '{"feature_net_steps": 50}'

For each approach (1-s pad-edges, 0.01-s spread-zeros, 0.1-s spread-zeros, 0.1-s resample, all on
the paper's Vorbis 96 kbps at 32 kHz, preset paper-32k) it builds the dataset (`build-corpus`: the
encodes are shared, only the segmentation differs), trains the same model for the same number of
steps (`train-ladle`), and evaluates it on whole test tracks (`evaluate-ladle`). Every run's
perceptual loss is measured with one feature net, the resample run's (its lossless-vs-lossy pairs
are laid out as the evaluation's are), so the column compares across rows. OUT/table1.md and
OUT/table1.parquet hold the table: MSE and perceptual loss as in the paper, plus LSD, LSD above
the codec cutoff, ViSQOL and SI-SDR, and the untouched lossy input's row. Runs and data are cached:
re-running with more steps resumes each run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.build_corpus import build_corpus
from flows.evaluate_ladle import evaluate_ladle
from flows.train_ladle import train_ladle
from ladle_model.reports.table1 import table1_rows, write_table1
from ladle_model.runs.folder import RunDir
from ladle_model.training.config import TrainConfig
from tasks.training import artifact_slug

PRESET = "paper-32k"  # the LadLe paper's input: Vorbis at 32 kHz, ~96 kbps


@dataclass(frozen=True)
class Approach:
    label: str  # as the paper's Table I names it
    strategy: str
    segment_seconds: float

    @property
    def slug(self) -> str:
        return f"{self.strategy}-{self.segment_seconds:g}s"


APPROACHES = (
    Approach("1-s pad-edges", "pad-edges", 1.0),
    Approach("0.01-s spread-zeros", "spread-zeros", 0.01),
    Approach("0.1-s spread-zeros", "spread-zeros", 0.1),
    Approach("0.1-s resample", "resample", 0.1),
)


@flow(name="table1", log_prints=True)
def table1(
    sources: list[str],
    out: str,
    steps: int = 200,
    model: str = "ladle",
    batch_size: int = 4,
    overrides: dict | None = None,
    max_tracks: int | None = None,
    visqol_excerpts: int = 3,
    progress: bool = False,
) -> dict:
    """Build, train and evaluate the four approaches of Table I under `out`; write OUT/table1.{md,parquet}."""
    logger = get_run_logger()
    # every run trains for exactly `steps` optimizer steps: epochs never stop one early
    run_overrides = {
        **(overrides or {}),
        "model": model,
        "max_epochs": 10**6,
        "max_steps": steps,
        "batch_size": batch_size,
    }
    TrainConfig.from_recipe("paper", run_overrides)  # ConfigError before any work
    out_dir = Path(out)
    data = str(out_dir / "data")
    runs = {}
    for approach in APPROACHES:
        built = build_corpus(
            sources=list(sources),
            data=data,
            presets=[PRESET],
            strategy=approach.strategy,
            segment_seconds=approach.segment_seconds,
            progress=progress,
        )
        version = built["datasets"][0]["version"]
        run_dir = str(out_dir / "runs" / approach.slug)
        train_ladle(
            data=data,
            run_dir=run_dir,
            recipe="paper",
            overrides=run_overrides,
            dataset_version=version,
            progress=progress,
        )
        runs[approach] = run_dir
        logger.info("%s: trained %s for %d steps on dataset %s", approach.label, model, steps, version)

    phi = RunDir(runs[APPROACHES[-1]]).feature_net  # the resample run's
    evaluations = []
    for approach, run_dir in runs.items():
        result = evaluate_ladle(
            run_dir=run_dir,
            data=data,
            presets=[PRESET],
            max_tracks=max_tracks,
            visqol_excerpts=visqol_excerpts,
            feature_net=str(phi) if phi.is_file() else None,
            progress=progress,
        )
        evaluations.append((approach.label, result["presets"][PRESET]))

    rows = table1_rows(evaluations)
    first = evaluations[0][1]
    context = {"preset": PRESET, "model": model, "steps": steps, "n_tracks": first["n_tracks"], "split": first["split"]}
    paths = write_table1(out_dir, rows, context)
    create_markdown_artifact(
        markdown=Path(paths["markdown"]).read_text(),
        key=f"table1-{artifact_slug(str(out_dir))}",
        description=f"Table I of the LadLe paper, reproduced in {out_dir}",
    )
    return {"rows": rows, **paths, "runs": {a.label: r for a, r in runs.items()}}
