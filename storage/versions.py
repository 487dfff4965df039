"""Dataset versions over time: the newest per preset, and retention (prune) of old ones.

    latest_version("data", "vorbis-160")                      # the preset's newest DatasetManifest
    protected = run_dataset_versions(["runs/champion", "runs/a"])   # ladle_model/runs/checkpoint.py
    report = prune("data", keep=3, protected=protected)       # PruneReport: versions, shards, bytes freed

"Newest" is by the creation time each manifest records (storage.manifest.created_key), never a file's
mtime. Retention keeps the `keep` newest versions of each preset plus every protected one, like
Iceberg's `expireSnapshots().retainLast(n)` and Lance's `cleanup_old_versions`, which never removes a
tagged version. It deletes in the order that keeps every crash safe: a version's manifest first (it
is no longer listed), then its folder and catalog rows, and only then the pooled shards that no
remaining manifest lists, so no manifest ever names a deleted shard.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from storage import catalog
from storage.fs import is_remote
from storage.lock import data_lock
from storage.manifest import LATEST, MANIFEST_NAME, DatasetManifest, created_key, find_dataset, list_datasets
from storage.pool import POOL_DIR

# Catalog tables with rows per dataset version, and the column naming it.
VERSION_TABLES = {"datasets": "version", "shards": "dataset_version", "segments": "dataset_version"}


def versions_by_preset(data_dir: str | Path) -> dict[str, list[DatasetManifest]]:
    """Every complete version, grouped by preset, newest first."""
    grouped: dict[str, list[DatasetManifest]] = {}
    for manifest in list_datasets(data_dir):
        grouped.setdefault(manifest.preset, []).append(manifest)
    return {p: sorted(ms, key=created_key, reverse=True) for p, ms in sorted(grouped.items())}


def latest_version(data_dir: str | Path, preset: str, segment_seconds: float | None = None) -> DatasetManifest:
    """The preset's newest version (of that segment length, if given); FileNotFoundError when it has none."""
    return find_dataset(data_dir, version=LATEST, preset=preset, segment_seconds=segment_seconds)


@dataclass
class PruneReport:
    removed: list[str] = field(default_factory=list)  # versions deleted
    kept: list[str] = field(default_factory=list)  # versions left, protected ones included
    protected: list[str] = field(default_factory=list)  # kept only because something names them
    n_shards_removed: int = 0
    bytes_freed: int = 0
    n_unfinished_removed: int = 0  # folders without a manifest (a build or prune that crashed)

    def summary(self) -> str:
        return (
            f"removed {len(self.removed)} version(s) and {self.n_shards_removed} shard(s), "
            f"freed {self.bytes_freed / 2**20:.1f} MiB; kept {len(self.kept)} version(s)"
            + (f", {len(self.protected)} of them protected" if self.protected else "")
        )


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def _remove_tree(path: Path) -> int:
    size = _size(path)
    shutil.rmtree(path, ignore_errors=True)
    return size


def prune(
    data_dir: str | Path, keep: int, protected: Iterable[str] = (), wait_for_lock_seconds: float = 0.0
) -> PruneReport:
    """Keep each preset's `keep` newest versions and every protected one; delete the rest and unlisted shards.

    Holds the data folder's lock, so it never races a build. Works on a local data folder.
    """
    if keep < 1:
        raise ValueError(f"--keep must be at least 1 (the newest version of each preset), got {keep}")
    if is_remote(data_dir):
        raise ValueError(f"prune works on a local data folder, not {data_dir}: run it where the bucket is mounted")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"no data folder at {data_dir}")
    protected = set(protected)
    report = PruneReport()
    with data_lock(data_dir, wait_seconds=wait_for_lock_seconds):
        doomed: list[DatasetManifest] = []
        for manifests in versions_by_preset(data_dir).values():
            for rank, m in enumerate(manifests):
                if rank < keep or m.version in protected:
                    report.kept.append(m.version)
                    report.protected += [m.version] if rank >= keep else []
                else:
                    doomed.append(m)
        # 1. Manifests first: from here on no reader or build lists these versions.
        for m in doomed:
            report.bytes_freed += _size(Path(m.folder) / MANIFEST_NAME)
            (Path(m.folder) / MANIFEST_NAME).unlink()
            report.removed.append(m.version)
        # 2. Their folders (in-folder shards of versions built before the pool go with them), and any
        # folder a crash left without a manifest, then their catalog rows.
        for folder in sorted((data_dir / "datasets").glob("*")):
            if folder.is_dir() and not (folder / MANIFEST_NAME).is_file():
                report.n_shards_removed += sum(1 for _ in folder.glob("*.tar"))
                report.bytes_freed += _remove_tree(folder)
                report.n_unfinished_removed += folder.name not in report.removed
        for table, column in VERSION_TABLES.items():
            catalog.remove_rows(data_dir, table, column, set(report.removed))
        # 3. Pooled shards no remaining manifest lists (and the sidecar each carries).
        listed = {Path(p).resolve() for m in list_datasets(data_dir) for p in m.all_shard_paths()}
        for shard in sorted((data_dir / POOL_DIR).glob("*/*.tar")):
            if shard.resolve() not in listed:
                sidecar = shard.with_suffix(".json")
                report.bytes_freed += shard.stat().st_size + (sidecar.stat().st_size if sidecar.is_file() else 0)
                shard.unlink()
                sidecar.unlink(missing_ok=True)
                report.n_shards_removed += 1
    report.removed.sort()
    report.kept.sort()
    report.protected.sort()
    return report
