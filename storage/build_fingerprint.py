"""A no-op `ladle build-corpus` without Prefect: the last build's fingerprint, and whether it still holds.

    fingerprint = build_fingerprint(["library"], "data", params, hashed=recorded_hashed("data"))
    unchanged_summary("data", fingerprint)      # a summary: nothing changed since the last build; None: run the flow
    ...run the flow (with a fresh `build_fingerprint(["library"], "data", params)` taken before it)...
    record_build("data", fingerprint, summary)  # after it succeeded

A build's output follows from its sources' bytes, its parameters and the code. The fingerprint is
a hash of what stands for them cheaply: every file under the sources as (path, size, mtime_ns,
ctime_ns, inode), the build parameters with each preset's definition, the code and stage versions
and the FFmpeg version (part of every encode's cache key). The ctime catches a rewrite that kept
size, mtime and inode (a tagger told to keep the date): only the kernel sets it. A file changed
within `RACY_SECONDS` of the listing could change again within the same timestamp tick unseen (git's
"racy" files), so such a file stands in by the SHA-256 of its bytes instead, now and at every check
against this fingerprint.

The fingerprint is recorded in `DATA/last-build.json` with the build's summary and a listing (path,
size, mtime_ns, ctime_ns, inode) of what the build left in the data folder: the catalog, split disc
images, its presets' encodes and pair records, its datasets' manifests and shards. The next build
with the same fingerprint, finding every listed file as it was and no other there, has nothing to
do: it prints the summary a cached flow run would (nothing encoded, nothing written) without
starting Prefect.

Anything else runs the flow as before: a different fingerprint, a missing, changed or added artifact,
a source touched even without a change of bytes (the flow then finds everything in its caches),
data or sources in object storage (listing a bucket costs what the flow's own checks cost), a build
that quarantined something for a transient failure (the flow retries it), another build holding the
data folder's lock, or `--force`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

RECORD_NAME = "last-build.json"  # in the data folder; never one of the listed artifacts
RECORD_VERSION = 1
WHOLE_FOLDERS = ("catalog", "discs")  # every file under these is an artifact of the last build
# flows/build_corpus.py quarantines a group whose task failed after its retries with this reason:
# a transient failure the next flow run retries, so such a build is never skipped.
TRANSIENT_REASON = "failed after retries"
# The coarsest file timestamps in use (FAT's 2 s); ext4, XFS and tmpfs tick every few milliseconds.
RACY_SECONDS = 2.0


@dataclass(frozen=True)
class Fingerprint:
    """A build's fingerprint and the sources it identifies by their bytes (changed just before it)."""

    digest: str
    hashed: tuple[str, ...] = ()


def _file_identity(path: str) -> list[int]:
    """(size, mtime_ns, ctime_ns, inode) of what `path` names, through a symlink; the link's own when dangling."""
    try:
        st = os.stat(path)
    except OSError:
        try:
            st = os.lstat(path)
        except OSError:  # gone since it was listed
            return [-1, -1, -1, -1]
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _content_sha256(path: str) -> str:
    """The SHA-256 of a regular file's bytes; anything else (a FIFO, a socket, a device) is never opened:
    opening a FIFO with no writer would block the command forever."""
    digest = hashlib.sha256()
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return "not a regular file"
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except OSError as e:  # gone or unreadable: that is its identity now
        return f"unreadable: {type(e).__name__}"
    return digest.hexdigest()


def source_listing(sources: list[str], exclude: list[str | Path] = ()) -> list[list]:
    """[path, size, mtime_ns, ctime_ns, inode] of every file under `sources` (hidden ones too), sorted.

    A superset of what the build scans: any file, not only audio (CUE sheets and rip logs included),
    and the insides of linked folders too (each real folder once), which the build does not enter
    today. Folders under `exclude` (the data folder, when it sits inside a source) are left out, as
    the build leaves them out.
    """
    seen = {os.path.realpath(p) for p in exclude}  # real folders walked already, or never to walk
    rows = []

    def walk(folder: str) -> None:
        seen.add(os.path.realpath(folder))
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as e:  # the build skips a folder it cannot read; a change of that is a change
            rows.append([folder, f"unreadable: {type(e).__name__}"])
            return
        for entry in entries:
            if entry.is_symlink() or not entry.is_dir(follow_symlinks=False):
                rows.append([entry.path, *_file_identity(entry.path)])  # a file, or a link (to its target)
            try:
                is_dir = entry.is_dir()  # follows links: a symlink loop raises ELOOP here
            except OSError:
                is_dir = False  # listed above by its link's identity; the build quarantines the loop
            if is_dir and os.path.realpath(entry.path) not in seen:
                walk(entry.path)

    for source in sources:
        root = os.path.abspath(source)
        if os.path.isdir(root):
            if os.path.realpath(root) not in seen:
                walk(root)
        else:
            rows.append([root, *_file_identity(root)])
    return sorted(rows)


def build_fingerprint(sources: list[str], data: str, params: dict, hashed: tuple[str, ...] = ()) -> Fingerprint | None:
    """What decides a build's output, hashed; None for remote sources or data (never skipped).

    `params` are the build's parameters that change what it writes (presets, segmenting, splits,
    shard size), as given; the task runner and worker count are left out: the shards do not depend
    on them. Files in `hashed` (a recorded fingerprint's) and files changed within `RACY_SECONDS`
    of now are identified by their bytes.
    """
    from storage.config import STAGE_VERSIONS, code_version, get_preset
    from storage.ffmpeg import ffmpeg_version
    from storage.fs import is_remote

    if is_remote(data) or any(is_remote(s) for s in sources):
        return None
    listed_at_ns = time.time_ns()
    files = source_listing(sources, exclude=[data])
    racy_since_ns = listed_at_ns - RACY_SECONDS * 1e9
    racy = {row[0] for row in files if len(row) == 5 and row[3] >= racy_since_ns}  # [path, size, mtime, ctime, inode]
    by_content = racy | set(hashed)
    files = [[row[0], _content_sha256(row[0])] if row[0] in by_content else row for row in files]
    identity = {
        "record_version": RECORD_VERSION,
        "sources": list(sources),  # as given: the catalog records paths as given
        "data": data,
        "data_real": os.path.realpath(data),
        "params": params,
        "presets": {name: dataclasses.asdict(get_preset(name)) for name in params.get("presets", [])},
        "code_version": code_version(),
        "stage_versions": STAGE_VERSIONS,
        "ffmpeg": ffmpeg_version(),
        "files": files,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    return Fingerprint(digest, tuple(sorted(by_content)))


def _summary_folders(data_dir: Path, summary: dict) -> list[Path]:
    """The folders whose every file the build described by `summary` wrote or relies on."""
    folders = [data_dir / name for name in WHOLE_FOLDERS]
    for dataset in summary["datasets"]:
        folders += [data_dir / "datasets" / dataset["version"], data_dir / "encodes" / dataset["preset"],
                    data_dir / "pairs" / dataset["preset"], data_dir / "shards" / dataset["preset"]]  # fmt: skip
    return sorted(set(folders))


def artifact_listing(data_dir: str | Path, summary: dict) -> dict[str, list[int]]:
    """{path relative to `data_dir`: [size, mtime_ns, ctime_ns, inode]} of every file the build left behind."""
    data_dir = Path(data_dir)
    listing = {}
    for folder in _summary_folders(data_dir, summary):
        for parent, _, files in os.walk(folder):
            for name in files:
                path = os.path.join(parent, name)
                listing[os.path.relpath(path, data_dir)] = _file_identity(path)
    return listing


def _missing_dataset_files(data_dir: Path, summary: dict) -> list[Path]:
    """The manifests and shards `summary` names that are not in the data folder."""
    from storage.manifest import MANIFEST_NAME, read_manifest

    missing = []
    for dataset in summary["datasets"]:
        folder = data_dir / "datasets" / dataset["version"]
        if not (folder / MANIFEST_NAME).is_file():
            missing.append(folder / MANIFEST_NAME)
            continue
        # The manifest names its shards: pooled ones lie outside the version's folder (storage/pool.py).
        missing += [Path(p) for p in read_manifest(folder).all_shard_paths() if not Path(p).is_file()]
    return missing


def _last_run_is(data_dir: Path, summary: dict) -> bool:
    """Whether the catalog's latest run is the one `summary` reports (no other build ran since)."""
    from storage.catalog import read_rows

    runs = read_rows(data_dir, "runs")
    return bool(runs) and all(runs[-1].get(k) == summary.get(k) for k in ("finished_at", "seconds", "n_tracks"))


def record_build(data: str, fingerprint: Fingerprint | None, summary: dict, wait_seconds: float = 5.0) -> Path | None:
    """Record a successful build's fingerprint, summary and artifacts; the record's path, or None.

    Nothing is recorded (and an older record is removed) without a fingerprint, for a transient
    failure in the quarantine, when a manifest or shard the summary names is missing, or when
    another build has run or holds the lock since this one finished.
    """
    from storage.atomic import write_json_atomic
    from storage.fs import is_remote
    from storage.lock import LockHeld, data_lock

    data_dir = Path(data)
    record_path = data_dir / RECORD_NAME
    if is_remote(data) or not data_dir.is_dir():
        return None
    try:
        with data_lock(data_dir, wait_seconds=wait_seconds):
            record_path.unlink(missing_ok=True)
            transient = any(q["reason"].startswith(TRANSIENT_REASON) for q in summary["quarantine"])
            incomplete = bool(_missing_dataset_files(data_dir, summary))
            if fingerprint is None or transient or incomplete or not _last_run_is(data_dir, summary):
                return None
            record = {"version": RECORD_VERSION, "fingerprint": fingerprint.digest, "hashed": list(fingerprint.hashed),
                      "summary": summary, "artifacts": artifact_listing(data_dir, summary)}  # fmt: skip
            write_json_atomic(record_path, record)
    except LockHeld:
        return None
    return record_path


def read_record(data: str) -> dict | None:
    """The data folder's build record, or None when there is none (or it is unreadable)."""
    try:
        record = json.loads((Path(data) / RECORD_NAME).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("version") == RECORD_VERSION else None


def recorded_hashed(data: str) -> tuple[str, ...]:
    """The sources the recorded build identified by their bytes: a check against it must do the same."""
    record = read_record(data)
    return tuple(record.get("hashed", [])) if record else ()


def unchanged_summary(data: str, fingerprint: Fingerprint | None) -> dict | None:
    """What a flow run would report when nothing changed since the recorded build; None: run the flow.

    The summary is the recorded one as a fully cached run reports it (`noop_summary`), its
    `seconds` zero for the caller to fill in.
    """
    from storage.lock import LockHeld, data_lock

    record = read_record(data) if fingerprint is not None else None
    if record is None or record.get("fingerprint") != fingerprint.digest:
        return None
    try:
        with data_lock(data, wait_seconds=0.0):  # another build writing here: let the flow deal with it
            if artifact_listing(data, record["summary"]) != record["artifacts"]:
                return None
    except LockHeld:
        return None
    return noop_summary(record["summary"], 0.0)


def noop_summary(recorded: dict, seconds: float) -> dict:
    """The summary a fully cached rerun of the build that returned `recorded` reports.

    Nothing encoded, every encode reused, no shard written, `seconds` this command's, and
    `unchanged_since` when the recorded build finished.
    """
    last_encoding = recorded["seconds"] if recorded["n_encoded"] > 0 else recorded.get("last_encoding_run_seconds")
    return {
        **recorded,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 2),
        "n_encoded": 0,
        "n_encodes_reused": recorded["n_encoded"] + recorded["n_encodes_reused"],
        "n_shards_written": 0,
        "last_encoding_run_seconds": last_encoding,
        "unchanged_since": recorded["finished_at"],
    }
