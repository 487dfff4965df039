"""Which challengers' run folders the nightly loop keeps: the newest `keep` in the registry and the champion's.

    removed = prune_runs("data", keep=2)                 # the older challengers' folders, deleted
    removed = prune_runs("data", keep=2, protect=["runs/nightly/3f2a…"])   # tonight's, whatever the registry says

Every night trains a challenger in a folder of its own (flows/nightly.py), with a 13-MB checkpoint every
`checkpoint_every_steps` and at each epoch's end: left alone, a year of nights is a year of folders. The
registry's row of a challenger stays (its metrics and verdict are the loop's history), and the champion
serves from DATA/models/champion/, a copy, so the folder of a challenger that is neither among the newest
`keep` nor the one the champion was promoted from serves nothing. Seeding a challenger from the newest
candidate (tasks/nightly.py) skips a folder that is gone.

Only a folder laid out as a run (its `checkpoints/` folder there) and holding no data folder is deleted: a
registry row naming anything else (a hand-edited row, a run folder moved) is skipped with a warning, never
followed into someone's files. A local folder is first renamed to a hidden name beside it, then deleted, so a crash midway never leaves a
folder that looks like a run with checkpoints missing; a run folder in object storage (`s3://`) is deleted
object by object (a re-run finishes what a crash left) and so is its local mirror (storage/fs.py).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

from ladle_model.runs.champion import champion_record
from ladle_model.runs.registry import read_candidates
from storage import fs

REMOVING_PREFIX = ".removing-"  # a local run folder renamed for deletion

log = logging.getLogger(__name__)


def looks_like_run(run_dir: str, data_dir: str | Path) -> bool:
    """Whether `run_dir` is laid out as a run folder (ladle_model/runs/folder.py: its `checkpoints/`) and neither is
    nor holds the data folder `data_dir`."""
    if fs.is_remote(run_dir):
        remote, root = fs.filesystem(run_dir)
        return bool(root) and remote.isdir(f"{root}/checkpoints")
    if not run_dir.strip():
        return False
    folder, data = Path(run_dir).resolve(), Path(data_dir).resolve()
    return (folder / "checkpoints").is_dir() and not data.is_relative_to(folder)


def remove_run_folder(run_dir: str) -> bool:
    """Delete one run folder (local, or a URL and its local mirror); False when there was none."""
    if fs.is_remote(run_dir):
        mirror = fs.mirror_folder(run_dir)
        if mirror.exists():
            shutil.rmtree(mirror)
        remote, root = fs.filesystem(run_dir)
        if not remote.exists(root):
            return False
        remote.rm(root, recursive=True)
        return True
    folder = Path(run_dir)
    if not folder.is_dir():
        return False
    doomed = folder.with_name(REMOVING_PREFIX + folder.name)
    if doomed.exists():  # a crash midway through an earlier deletion
        shutil.rmtree(doomed)
    folder.rename(doomed)
    shutil.rmtree(doomed)
    return True


def prune_runs(data_dir: str | Path, keep: int, protect: Iterable[str] = ()) -> list[str]:
    """Delete the run folders of every registered challenger but the newest `keep`, the one the champion was
    promoted from and those in `protect`; returns the folders deleted (oldest first). Rows stay in the registry."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1 (the newest challenger's folder), got {keep}")
    rows = read_candidates(data_dir)
    kept = {row["run_dir"] for row in rows[-keep:]} | set(protect)
    champion = (champion_record(data_dir) or {}).get("run_dir")
    if champion:
        kept.add(champion)
    removed = []
    for run_dir in dict.fromkeys(row["run_dir"] for row in rows[:-keep]):  # each folder once, oldest first
        if run_dir in kept or not fs.exists(run_dir):
            continue
        if not looks_like_run(run_dir, data_dir):
            log.warning("not deleting %s: the registry names it, but it is not a run folder", run_dir)
            continue
        if remove_run_folder(run_dir):
            removed.append(run_dir)
    return removed
