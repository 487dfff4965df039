"""Dataset manifests: what one shard set (a dataset version) holds and how it was made.

A dataset version lives in `DATA/datasets/{version}/` as `manifest.json` plus `{split}-{000000}.tar`
shards. Each shard sample has the key `{track_id}_{offset_samples:09d}` (no dots: WebDataset splits
a member name at its first dot) and three members:

    {key}.lossless.npy   float32 (2, L), the lossless segment in [-1, 1]
    {key}.lossy.npy      float32 (2, L), the aligned lossy segment, same length
    {key}.json           SegmentMeta as a dict

    manifest = find_dataset("data", preset="vorbis-160")
    manifest.shard_paths("train")
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from storage.atomic import write_json_atomic

SPLITS = ("train", "val", "test")
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class SplitSummary:
    tracks: int
    segments: int
    shards: list[str]  # file names relative to the dataset folder, in order
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
    dataset_version: str


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
    folder: Path | None = field(default=None, compare=False)

    def shard_paths(self, split: str) -> list[Path]:
        if self.folder is None:
            raise ValueError("manifest was not read from a folder")
        summary = self.splits.get(split)
        return [self.folder / name for name in summary.shards] if summary else []

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("folder")
        return d


def write_manifest(folder: str | Path, manifest: DatasetManifest) -> Path:
    path = Path(folder) / MANIFEST_NAME
    write_json_atomic(path, manifest.to_dict())
    return path


def read_manifest(folder: str | Path) -> DatasetManifest:
    folder = Path(folder)
    d = json.loads((folder / MANIFEST_NAME).read_text())
    d["splits"] = {name: SplitSummary(**s) for name, s in d["splits"].items()}
    return DatasetManifest(**d, folder=folder)


def list_datasets(data_dir: str | Path) -> list[DatasetManifest]:
    """Every complete dataset version under `DATA/datasets`, sorted by version."""
    root = Path(data_dir) / "datasets"
    if not root.is_dir():
        return []
    return [read_manifest(p.parent) for p in sorted(root.glob(f"*/{MANIFEST_NAME}"))]


def find_dataset(
    data_dir: str | Path,
    version: str | None = None,
    preset: str | None = None,
    strategy: str | None = None,
    segment_seconds: float | None = None,
) -> DatasetManifest:
    """The one dataset matching every given field; a clear error when none or several match."""
    wanted = {"version": version, "preset": preset, "strategy": strategy, "segment_seconds": segment_seconds}
    wanted = {k: v for k, v in wanted.items() if v is not None}
    matches = [m for m in list_datasets(data_dir) if all(getattr(m, k) == v for k, v in wanted.items())]
    if not matches:
        raise FileNotFoundError(f"no dataset under {data_dir}/datasets matches {wanted or 'anything'}")
    if len(matches) > 1 and "version" not in wanted:
        described = ", ".join(f"{m.version} ({m.preset}, {m.strategy}, {m.segment_seconds} s)" for m in matches)
        raise ValueError(f"several datasets match {wanted or 'anything'}: {described}; pass a version or more fields")
    return matches[0]
