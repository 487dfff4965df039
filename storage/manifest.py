"""Dataset manifests: what one shard set (a dataset version) holds and how it was made.

A dataset version lives in `DATA/datasets/{version}/` as `manifest.json`, a `wids` shard index per
split (`{split}.wids.json`) and its card (`README.md`, storage/card.py). The manifest lists each
split's shards relative to that folder: pooled shards shared with other versions
(`../../shards/{preset}/{split}-{key}.tar`, storage/pool.py), or, in versions built before the
pool, `{split}-{000000}.tar` files inside the folder. Each shard sample holds a lossless and a lossy
segment and its `SegmentMeta`, in the format storage/sample_format.py owns (keys, members, encoding).

    manifest = find_dataset("data", preset="vorbis-160")
    manifest.shard_paths("train")
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import posixpath
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from storage.atomic import write_json_atomic
from storage.fs import filesystem, is_remote, join, open_file

SPLITS = ("train", "val", "test")
MANIFEST_NAME = "manifest.json"
LATEST = "latest"  # the version name that means "the newest version of the preset named"


@dataclass(frozen=True)
class SplitSummary:
    tracks: int
    segments: int
    shards: list[str]  # paths relative to the dataset folder, in order
    silent_skipped: int = 0


@dataclass(frozen=True)
class SegmentMeta:
    """The json member of each shard sample."""

    track_id: str
    offset_samples: int  # start of the segment in the lossless track, at `sample_rate`
    segment_index: int
    preset: str
    strategy: str
    sample_rate: int  # rate of both arrays in the sample
    lossy_sample_rate: int  # rate the lossy codec ran at (32000 for paper-32k)
    segment_seconds: float
    split: str
    source_channels: int  # 1 when a mono source was duplicated to (2, L)
    dataset_version: str  # a pooled shard, shared by many versions: its content key (storage/pool.py)


@dataclass(frozen=True)
class DatasetManifest:
    version: str
    preset: str
    strategy: str
    segment_seconds: float
    hop_seconds: float
    sample_rate: int
    lossy_sample_rate: int
    splits: dict[str, SplitSummary]
    config: dict = field(default_factory=dict)  # the resolved corpus config that produced it
    code_version: str = ""
    created_at: str = ""  # UTC ISO-8601 time the version was finished: what "latest" orders by
    changes: dict = field(default_factory=dict)  # against the previous version of the preset (storage/card.py)
    folder: Path | str | None = field(default=None, compare=False)  # a local Path, or a URL in object storage

    def shard_paths(self, split: str) -> list[Path | str]:
        """The split's shards: local Paths, or URLs that webdataset opens through fsspec."""
        if self.folder is None:
            raise ValueError("manifest was not read from a folder")
        summary = self.splits.get(split)
        if not summary:
            return []
        return [resolve_shard(self.folder, name) for name in summary.shards]

    def all_shard_paths(self) -> list[Path | str]:
        return [path for split in SPLITS for path in self.shard_paths(split)]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("folder")
        return d


def resolve_shard(folder: str | Path, name: str) -> Path | str:
    """A shard the manifest in `folder` names (relative, `..` allowed), as a normalised local Path or URL."""
    if is_remote(folder):
        scheme, rest = str(folder).split("://", 1)
        return f"{scheme}://{posixpath.normpath(posixpath.join(rest, name))}"
    return Path(os.path.normpath(Path(folder) / name))


def write_manifest(folder: str | Path, manifest: DatasetManifest) -> Path:
    path = Path(folder) / MANIFEST_NAME
    write_json_atomic(path, manifest.to_dict())
    return path


def read_manifest(folder: str | Path) -> DatasetManifest:
    """The manifest in a dataset folder (a local path or a URL)."""
    with open_file(join(folder, MANIFEST_NAME)) as f:
        d = json.loads(f.read())
    d["splits"] = {name: SplitSummary(**s) for name, s in d["splits"].items()}
    d.setdefault("created_at", "")  # versions built before it was recorded
    d.setdefault("changes", {})
    return DatasetManifest(**d, folder=str(folder).rstrip("/") if is_remote(folder) else Path(folder))


def list_datasets(data_dir: str | Path) -> list[DatasetManifest]:
    """Every complete dataset version under `DATA/datasets` (local or in object storage), sorted by version."""
    if is_remote(data_dir):
        fs, root = filesystem(join(data_dir, "datasets"))
        scheme = str(data_dir).split("://", 1)[0]
        found = sorted(fs.glob(f"{root}/*/{MANIFEST_NAME}"))
        return [read_manifest(f"{scheme}://{p.rsplit('/', 1)[0]}") for p in found]
    root = Path(data_dir) / "datasets"
    if not root.is_dir():
        return []
    return [read_manifest(p.parent) for p in sorted(root.glob(f"*/{MANIFEST_NAME}"))]


def created_key(manifest: DatasetManifest) -> tuple[str, str]:
    """What orders versions by age: the creation time the manifest records, then the version.

    A version built before manifests recorded it ranks by its manifest file's time (local folders).
    """
    created = manifest.created_at
    if not created and manifest.folder is not None and not is_remote(manifest.folder):
        with contextlib.suppress(OSError):
            mtime = (Path(manifest.folder) / MANIFEST_NAME).stat().st_mtime
            created = datetime.fromtimestamp(mtime, timezone.utc).isoformat()
    return created, manifest.version


def find_dataset(
    data_dir: str | Path,
    version: str | None = None,
    preset: str | None = None,
    strategy: str | None = None,
    segment_seconds: float | None = None,
) -> DatasetManifest:
    """The one dataset matching every given field; a clear error when none or several match.

    `version="latest"`: the newest (`created_key`) of the matches, which must all be of one preset.
    """
    latest = version == LATEST
    wanted = {"version": None if latest else version, "preset": preset, "strategy": strategy}
    wanted = {**wanted, "segment_seconds": segment_seconds}
    wanted = {k: v for k, v in wanted.items() if v is not None}
    matches = [m for m in list_datasets(data_dir) if all(getattr(m, k) == v for k, v in wanted.items())]
    if not matches:
        raise FileNotFoundError(f"no dataset under {data_dir}/datasets matches {wanted or 'anything'}")
    if latest:
        presets = sorted({m.preset for m in matches})
        if len(presets) > 1:
            raise ValueError(f"'latest' is per preset, and {', '.join(presets)} all have versions: name one preset")
        return max(matches, key=created_key)
    if len(matches) > 1 and "version" not in wanted:
        described = ", ".join(f"{m.version} ({m.preset}, {m.strategy}, {m.segment_seconds} s)" for m in matches)
        raise ValueError(
            f"several datasets match {wanted or 'anything'}: {described}; pass a version, "
            "or a preset (its newest version is taken)"
        )
    return matches[0]
