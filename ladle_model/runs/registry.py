"""The model registry: every candidate the nightly loop trained, with its metrics and verdict, as Parquet.

    record_candidate("data", Candidate(dataset_version="3f2a…", run_dir="runs/nightly/3f2a…", ...))
    find_candidate("data", "3f2a…")      # the row for that dataset version, or None: not trained yet
    read_candidates("data")              # every row, oldest first (`ladle models --data data`)

The table is DATA/catalog/models.parquet, beside the corpus catalog, readable by pandas or DuckDB
(dicts and lists as JSON text, as storage/catalog.py stores them). One row per dataset version: the
version a challenger was trained on is the night's idempotency key, so a row for it means that night
is done and a repeated trigger trains nothing. Writes are atomic and hold DATA/models/.lock, so two
nightly runs never lose each other's rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

from storage import catalog
from storage.lock import data_lock

TABLE = "models"
MODELS_DIR = "models"  # DATA/models/: the champion and the registry's lock


@dataclass
class Candidate:
    """One challenger: what it was trained on, where it is, how it scored and what was decided."""

    dataset_version: str  # the versions trained on ("v1+v2" for several presets): the night's key
    run_dir: str
    verdict: str  # "promoted" or "rejected" (ladle_model/evaluation/promotion.py)
    reason: str  # the decision in one sentence: which preset and metric blocked it
    presets: list = field(default_factory=list)
    dataset_history: list = field(default_factory=list)  # every version its weights trained on, in order
    metrics: dict = field(default_factory=dict)  # {preset: {metric: the challenger's mean}} on the test split
    champion_metrics: dict = field(default_factory=dict)  # the champion's, on the same tracks ({} on the first night)
    lossy_metrics: dict = field(default_factory=dict)  # the lossy input's, on the same tracks
    blockers: list = field(default_factory=list)  # promotion.Blocker dicts
    champion_before: str | None = None  # the dataset version of the champion it was compared with
    model: str = ""
    recipe: str = ""
    step: int = 0
    seconds: float = 0.0  # training and evaluation time of the night
    created_at: str = ""


_JSON_FIELDS = {f.name for f in fields(Candidate) if f.type in ("list", "dict")}  # stored as JSON text


def models_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / MODELS_DIR


def registry_path(data_dir: str | Path) -> Path:
    return catalog.table_path(data_dir, TABLE)


def record_candidate(data_dir: str | Path, candidate: Candidate, wait_seconds: float = 60.0) -> Candidate:
    """Add (or replace) the row of `candidate.dataset_version`, atomically under the registry's lock."""
    if not candidate.created_at:
        candidate.created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with data_lock(models_dir(data_dir), wait_seconds=wait_seconds):
        catalog.upsert_records(data_dir, TABLE, [candidate], Candidate, key=("dataset_version",))
    return candidate


def _decoded(row: dict) -> dict:
    return {k: json.loads(v) if k in _JSON_FIELDS and isinstance(v, str) else v for k, v in row.items()}


def read_candidates(data_dir: str | Path) -> list[dict]:
    """Every candidate, oldest first, with its JSON columns as dicts and lists."""
    return sorted((_decoded(r) for r in catalog.read_rows(data_dir, TABLE)), key=lambda r: r["created_at"])


def find_candidate(data_dir: str | Path, dataset_version: str) -> dict | None:
    """The row of the challenger trained on `dataset_version`, or None when no night has finished on it."""
    return next((r for r in read_candidates(data_dir) if r["dataset_version"] == dataset_version), None)
