"""Prefect task around `storage.sources.split.split_disc`: retries, and a cache keyed by the disc's content.

    record = split_disc_task(str(cue_path), str(data_dir / "discs"))    # a DiscRecord

The cache key is offered only while the split is complete on disk (every track file and `disc.json`),
so a deleted track is rebuilt rather than served from a stale record. It covers the sheet's path (the
record names it), the disc's content key (sheet text, image bytes, DISC_STAGE_VERSION) and the bytes
of the rip logs beside the sheet (the record's log comparison depends on them).
"""

from __future__ import annotations

from pathlib import Path

from prefect import task

from storage.config import stable_hash
from storage.fs import file_sha256
from storage.sources.cue import CueError
from storage.sources.image import DiscError
from storage.sources.riplog import rip_log_candidates
from storage.sources.split import DiscRecord, disc_key, find_split, split_disc
from tasks.corpus import RETRIES


def split_cache_key(context, parameters) -> str | None:
    cue_path, out_dir = Path(parameters["cue_path"]), Path(parameters["out_dir"])
    try:
        if find_split(cue_path, out_dir) is None:
            return None
        key = disc_key(cue_path)
    except (CueError, DiscError, OSError):
        return None  # a bad sheet is not cached: the task reports it each run
    logs = [(p.name, file_sha256(p)) for p in rip_log_candidates(cue_path)]
    return stable_hash(["split-disc", str(cue_path), key, logs, str(out_dir.resolve())])


def retry_unless_bad_input(task, task_run, state) -> bool:
    """Retry I/O trouble; a malformed sheet or unreadable image fails the same way every time."""
    return not isinstance(state.data, (CueError, DiscError))


@task(name="split-disc", cache_key_fn=split_cache_key, retry_condition_fn=retry_unless_bad_input, **RETRIES)
def split_disc_task(cue_path: str, out_dir: str) -> DiscRecord:
    """Split one CUE-sheet disc image into tagged FLAC tracks, with its disc IDs and checksums."""
    return split_disc(Path(cue_path), Path(out_dir))
