"""Dataset versions over time: the newest per preset, and retention (prune) of old ones.

    latest_version("data", "vorbis-160")                      # the preset's newest DatasetManifest
    protected = run_dataset_versions(["runs/champion", "runs/a"])   # ladle_model/runs/checkpoint.py
    report = prune("data", keep=3, protected=protected)       # PruneReport: versions, shards, bytes freed
    prune("s3://corpus/data", keep=3)                         # the same on a data folder in object storage

"Newest" is by the creation time each manifest records (storage.manifest.created_key), never a file's
mtime. Retention keeps the `keep` newest versions of each preset plus every protected one, like
Iceberg's `expireSnapshots().retainLast(n)` and Lance's `cleanup_old_versions`, which never removes a
tagged version. It deletes in the order that keeps every crash safe: a version's manifest first (it
is no longer listed), then its folder and catalog rows, and only then the pooled shards that no
remaining manifest lists, so no manifest ever names a deleted shard. One code path, over fsspec, serves
a local folder and an `s3://` URL; docs/dataset-versions.md ("Latest and retention") states the rule
that keeps a prune of a URL from racing a build.
"""

from __future__ import annotations

import posixpath
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import fsspec

from storage import catalog
from storage.fs import filesystem, is_remote, join, mirror_folder, pull, push
from storage.lock import data_lock
from storage.manifest import LATEST, MANIFEST_NAME, DatasetManifest, created_key, find_dataset, list_datasets
from storage.pool import POOL_DIR

# Catalog tables with rows per dataset version, and the column naming it.
VERSION_TABLES = {"datasets": "version", "shards": "dataset_version", "segments": "dataset_version"}
# Object storage has no lock a build on another machine would take: a pooled shard or an unfinished
# version folder younger than this may be a build's upload in progress (shards go before the manifest
# that lists them, storage/fs.py push), so a prune of a URL leaves it to a later prune.
REMOTE_GRACE_MINUTES = 60.0


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


def _object_time(info: dict) -> float | None:
    """An object's or file's last-modified time in epoch seconds (s3fs: LastModified; local: mtime)."""
    for key in ("LastModified", "mtime", "last_modified", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
    return None


def _files(fs: fsspec.AbstractFileSystem, folder: str) -> dict[str, dict]:
    """Every file (object) under `folder` with its info; symlinks are left out of sizes, as `du` does."""
    if not fs.isdir(folder):
        return {}
    return {
        p: i for p, i in fs.find(folder, detail=True).items() if i.get("type") != "directory" and not i.get("islink")
    }


def forget_removed_versions(mirror: str | Path, url: str) -> list[str]:
    """Drop from a local mirror of `url` every finished version folder the bucket no longer has; their names.

    A push uploads whatever the bucket lacks, so a version pruned in the bucket would come back, naming
    deleted shards, from any mirror that still holds its folder. Builds and prunes of a URL call this
    after their pull. A version finished here but never pushed (a crashed build) is dropped too: its
    shards stay in the mirror's pool, so the next build writes its manifest again at little cost.
    """
    fs, root = filesystem(url)
    fs.invalidate_cache()
    in_bucket = {posixpath.basename(posixpath.dirname(p)) for p in fs.glob(f"{root}/datasets/*/{MANIFEST_NAME}")}
    dropped = []
    for folder in sorted((Path(mirror) / "datasets").glob("*")):
        if (folder / MANIFEST_NAME).is_file() and folder.name not in in_bucket:
            shutil.rmtree(folder)
            dropped.append(folder.name)
    return dropped


def prune(
    data_dir: str | Path,
    keep: int,
    protected: Iterable[str] = (),
    wait_for_lock_seconds: float = 0.0,
    grace_minutes: float | None = None,
) -> PruneReport:
    """Keep each preset's `keep` newest versions and every protected one; delete the rest and unlisted shards.

    `data_dir` is a local folder or a URL (`s3://bucket/prefix`). Concurrency: a local prune holds the
    folder's lock (storage/lock.py), as every build on it does. A prune of a URL holds the lock of that
    URL's local mirror on this machine (storage/fs.py mirror_folder), as a build of the URL here does,
    so the two never overlap on one machine; it updates the catalog through the mirror and drops pruned
    folders from it. Against a build on another machine it keeps, for `grace_minutes` (default
    REMOTE_GRACE_MINUTES for a URL, 0 for a local folder), every pooled shard and unfinished folder
    that young. Builds and prunes of one URL belong on one machine (docs/dataset-versions.md).
    """
    if keep < 1:
        raise ValueError(f"--keep must be at least 1 (the newest version of each preset), got {keep}")
    remote = is_remote(data_dir)
    fs, root = filesystem(str(data_dir))
    if remote:
        fs.invalidate_cache()  # a long-lived process must see what other machines wrote since
    if not fs.isdir(root):
        raise FileNotFoundError(f"no data folder at {data_dir}")
    local = mirror_folder(str(data_dir)) if remote else Path(data_dir)  # holds the lock and the catalog
    grace_s = 60.0 * (grace_minutes if grace_minutes is not None else REMOTE_GRACE_MINUTES if remote else 0.0)
    with data_lock(local, wait_seconds=wait_for_lock_seconds):
        if remote:
            forget_removed_versions(local, str(data_dir))
            # the catalog's tables are rewritten in place, often at the same size: copied whole, both ways
            pull(join(str(data_dir), catalog.CATALOG_DIR), local / catalog.CATALOG_DIR, force=True)
        cutoff = time.time() - grace_s if grace_s > 0 else None
        report = _prune_versions(fs, root, data_dir, keep, set(protected), cutoff)
        for table, column in VERSION_TABLES.items():
            catalog.remove_rows(local, table, column, set(report.removed))
        if remote:
            push(local / catalog.CATALOG_DIR, join(str(data_dir), catalog.CATALOG_DIR), force=True)
            forget_removed_versions(local, str(data_dir))
    report.removed.sort()
    report.kept.sort()
    report.protected.sort()
    return report


def _prune_versions(
    fs: fsspec.AbstractFileSystem,
    root: str,
    data_dir: str | Path,
    keep: int,
    protected: set[str],
    cutoff: float | None,
) -> PruneReport:
    """The deletions of `prune`, in their crash-safe order; a shard or unfinished folder modified after
    `cutoff` (epoch seconds; None: no grace) is too young to go."""

    def young(info: dict) -> bool:
        if cutoff is None:
            return False
        modified = _object_time(info)
        return modified is None or modified > cutoff  # unknown age: assume an upload in progress

    report = PruneReport()
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
        manifest = fs._strip_protocol(join(m.folder, MANIFEST_NAME))  # the path fsspec's own listings use
        report.bytes_freed += fs.size(manifest)
        fs.rm_file(manifest)
        report.removed.append(m.version)
    # 2. Their folders (in-folder shards of versions built before the pool go with them), and any
    # folder a crash left without a manifest (unless young: a build elsewhere may be uploading it).
    for folder in sorted(fs.ls(f"{root}/datasets", detail=False) if fs.isdir(f"{root}/datasets") else []):
        if not fs.isdir(folder) or fs.exists(f"{folder}/{MANIFEST_NAME}"):
            continue
        name, files = posixpath.basename(folder.rstrip("/")), _files(fs, folder)
        if name not in report.removed and any(young(info) for info in files.values()):
            continue
        report.n_shards_removed += sum(posixpath.dirname(p) == folder.rstrip("/") and p.endswith(".tar") for p in files)
        report.bytes_freed += sum(info.get("size") or 0 for info in files.values())
        fs.rm(folder, recursive=True)
        report.n_unfinished_removed += name not in report.removed
    # 3. Pooled shards no remaining manifest lists, and the sidecar each carries.
    fs.invalidate_cache()
    listed = {fs._strip_protocol(str(p)) for m in list_datasets(data_dir) for p in m.all_shard_paths()}
    pool = _files(fs, f"{root}/{POOL_DIR}")
    for shard, info in sorted(pool.items()):
        in_pool = posixpath.dirname(posixpath.dirname(shard)) == f"{root}/{POOL_DIR}"
        if not in_pool or not shard.endswith(".tar") or shard in listed or young(info):
            continue
        sidecar = shard.removesuffix(".tar") + ".json"
        report.bytes_freed += (info.get("size") or 0) + (pool[sidecar].get("size") or 0 if sidecar in pool else 0)
        fs.rm_file(shard)
        if sidecar in pool:
            fs.rm_file(sidecar)
        report.n_shards_removed += 1
    return report
