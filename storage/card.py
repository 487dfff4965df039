"""Dataset cards: each version's `README.md` and the facts behind it, after Hugging Face dataset cards
and Datasheets for Datasets (Gebru et al., 2021).

    tracks = track_listing(pairs)                            # {track_id: {split, path, duration_s}}
    changes = version_changes(previous, read_tracks(previous), tracks)
    write_card(folder, manifest, tracks, quarantined, sources)

The card is for people; the same facts are kept as data: the manifest's `changes` block and
`created_at`, the version's `tracks.json` (what the next version is compared with), and the catalog.
A track is "replaced" when its file now holds other audio (a new master: a new track id at the same
path); "added" and "removed" count the other new and vanished track ids.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from storage.atomic import write_bytes_atomic, write_json_atomic
from storage.fs import join, open_file
from storage.manifest import SPLITS, DatasetManifest

TRACKS_NAME = "tracks.json"
CARD_NAME = "README.md"
LICENCE_NOTE = (
    "Corpora made from commercial CD rips are for internal research use only: the audio stays under its "
    "rights holders' copyright, and neither the shards nor models that could reproduce them may be "
    "published or shared outside the organisation that owns the discs."
)


def track_listing(pairs: list) -> dict[str, dict]:
    """The version's tracks (PairInputs), by id: split, source path and duration."""
    return {
        p.track.track_id: {"split": p.track.split, "path": p.track.path, "duration_s": p.track.duration_s}
        for p in sorted(pairs, key=lambda p: p.track.track_id)
    }


def write_tracks(folder: str | Path, tracks: dict[str, dict]) -> Path:
    path = Path(folder) / TRACKS_NAME
    write_json_atomic(path, tracks)
    return path


def read_tracks(manifest: DatasetManifest | None) -> dict[str, dict] | None:
    """A version's track listing; None for none, or a version built before listings were kept."""
    if manifest is None or manifest.folder is None:
        return None
    try:
        with open_file(join(manifest.folder, TRACKS_NAME)) as f:
            return json.loads(f.read())
    except FileNotFoundError:
        return None


def version_changes(
    previous: DatasetManifest | None, previous_tracks: dict[str, dict] | None, tracks: dict[str, dict]
) -> dict:
    """What changed against `previous` (the preset's newest version before this one): ids per kind.

    Without a previous version (or its listing) only counts are given: every track is new.
    """
    if previous is None or previous_tracks is None:
        return {
            "previous": previous.version if previous else None,
            "n_added": len(tracks),
            "n_removed": 0,
            "n_replaced": 0,
            "added": [],
            "removed": [],
            "replaced": [],
        }
    added = sorted(set(tracks) - set(previous_tracks))
    removed = sorted(set(previous_tracks) - set(tracks))
    old_at = {previous_tracks[t]["path"]: t for t in removed}
    replaced = [
        {"path": tracks[t]["path"], "old": old_at[tracks[t]["path"]], "new": t}
        for t in added
        if tracks[t]["path"] in old_at
    ]
    added = [t for t in added if t not in {r["new"] for r in replaced}]
    removed = [t for t in removed if t not in {r["old"] for r in replaced}]
    return {
        "previous": previous.version,
        "n_added": len(added),
        "n_removed": len(removed),
        "n_replaced": len(replaced),
        "added": added,
        "removed": removed,
        "replaced": replaced,
    }


def _split_rows(manifest: DatasetManifest, tracks: dict[str, dict]) -> list[str]:
    rows = ["| split | tracks | hours | segments | shards |", "|---|---|---|---|---|"]
    for split in SPLITS:
        summary = manifest.splits.get(split)
        hours = sum(t["duration_s"] for t in tracks.values() if t["split"] == split) / 3600
        if summary:
            rows.append(f"| {split} | {summary.tracks} | {hours:.2f} | {summary.segments} | {len(summary.shards)} |")
    return rows


def _change_lines(changes: dict) -> list[str]:
    if not changes.get("previous"):
        return [f"First version of this preset: {changes.get('n_added', 0)} tracks."]
    lines = [
        f"Against `{changes['previous']}`: {changes['n_added']} tracks added, {changes['n_removed']} removed, "
        f"{changes['n_replaced']} replaced by a new master."
    ]
    for kind in ("added", "removed"):
        ids = changes.get(kind) or []
        if ids:
            shown = ", ".join(f"`{t}`" for t in ids[:20])
            lines.append(f"- {kind}: {shown}" + (f" and {len(ids) - 20} more" if len(ids) > 20 else ""))
    for r in (changes.get("replaced") or [])[:20]:
        lines.append(f"- replaced: `{r['path']}` (`{r['old']}` → `{r['new']}`)")
    return lines


def card_text(manifest: DatasetManifest, tracks: dict[str, dict], quarantined: list, sources: list[str]) -> str:
    """The card's Markdown: YAML front matter (as the Hugging Face Hub reads it), then the datasheet."""
    m = manifest
    by_stage = Counter(q.stage for q in quarantined)
    quarantine = ", ".join(f"{n} at {stage}" for stage, n in sorted(by_stage.items())) or "none"
    lines = [
        "---",
        f"pretty_name: LadLe paired corpus {m.version} ({m.preset})",
        "license: other",
        "license_name: internal-research-only",
        "task_categories:",
        "- audio-to-audio",
        "tags:",
        "- webdataset",
        "- lossy-to-lossless restoration",
        "---",
        f"# Dataset `{m.version}`: {m.preset}",
        "",
        "Paired lossless/lossy music segments as WebDataset shards; the shard list of each split is in",
        "`manifest.json` and `{split}.wids.json` (webdataset's shard index).",
        "",
        "## Sources",
        *([f"- `{s}`" for s in sources] or ["- not recorded"]),
        "",
        "## Composition",
        *_split_rows(m, tracks),
        "",
        "## Preset and segmentation",
        f"- preset `{m.preset}`: lossy codec run at {m.lossy_sample_rate} Hz, pairs stored at {m.sample_rate} Hz",
        f"- segmentation: `{m.strategy}`, {m.segment_seconds} s segments, hop {m.hop_seconds} s",
        "",
        "## Quarantine",
        f"Inputs left out of this build: {quarantine} (`ladle catalog DATA` lists each with its reason).",
        "",
        "## Changes",
        *_change_lines(m.changes),
        "",
        "## Licence and intended use",
        LICENCE_NOTE,
        "",
        "## Provenance",
        f"- created {m.created_at} by `{m.code_version}`",
        "- the full build config is the manifest's `config`",
        "",
    ]
    return "\n".join(lines)


def write_card(
    folder: str | Path, manifest: DatasetManifest, tracks: dict[str, dict], quarantined: list, sources: list[str]
) -> Path:
    path = Path(folder) / CARD_NAME
    write_bytes_atomic(path, card_text(manifest, tracks, quarantined, sources).encode())
    return path
