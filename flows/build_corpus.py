"""The `build-corpus` flow: lossless library → lossy encodes → aligned pairs → WebDataset shards.

    ladle build-corpus library/ --data data --preset vorbis-160
    prefect deployment run build-corpus/default        (nightly/nightly runs it as its first stage)

Each stage is a task per group of tracks (ingest, encode, align) or per shard; all are cached by
content and retried on transient failure. Bad inputs land in the quarantine table with a reason and
the run goes on. The outer flow checks the config, picks the task runner (threads, processes or
Dask) and works in the data folder's local mirror (`storage.fs.local_mirror`: the folder itself, or
a synced copy of an s3:// URL) under its lock; the stages run in the subflow `build-corpus-stages`.
The catalog row types and the summary's shape belong to storage/catalog.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from prefect import flow, get_run_logger, unmapped
from prefect.futures import PrefectFuture, as_completed
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
from tqdm import tqdm

from storage import catalog, fs
from storage.align import Alignment
from storage.atomic import remove_stale_temporaries
from storage.config import ConfigError, CorpusConfig, EncodePreset, code_version, expand_presets, get_preset
from storage.corpus import SHARD_GLOBS, dataset_version, existing_manifest, finish_dataset
from storage.encode import Encoded
from storage.ingest import Duplicate, Quarantined, Track, resolve_tracks, scan_sources
from storage.manifest import DatasetManifest
from storage.partition import partition
from storage.pool import POOL_DIR, manifest_name, plan_pool_shards, pool_folder
from storage.shards import PairInputs
from storage.sources.split import DiscRecord, find_cue_sheets
from storage.versions import forget_removed_versions
from tasks.corpus import align_pairs_task, encode_tracks_task, ingest_files_task, write_shard_task
from tasks.disc import split_disc_task

TASK_RUNNERS = ("threads", "processes", "dask")
REFUSED_KEY_REASON = "object key escapes its folder (`..` or an absolute path): refused, nothing written"


def _gather(
    futures: list[PrefectFuture], stage: str, labels: list[list[str]], progress: bool
) -> tuple[list, list[bool]]:
    """Flattened results of group tasks in input order, and per item whether its group was a cache hit.

    A group whose task failed after its retries becomes one Quarantined per member.
    """
    if progress and futures:
        for _ in tqdm(as_completed(futures), total=len(futures), desc=stage, unit="group", leave=False):
            pass
    results, cached = [], []
    for future, group_labels in zip(futures, labels):
        result = future.result(raise_on_failure=False)
        if isinstance(result, BaseException):
            reason = f"failed after retries: {type(result).__name__}: {result}"
            result = [Quarantined(label, stage, reason) for label in group_labels]
        result = result if isinstance(result, list) else [result]
        results += result
        cached += [future.state.name == "Cached"] * len(result)
    return results, cached


def corpus_config(
    presets: list[str],
    strategy: str,
    segment_seconds: float,
    hop_seconds: float | None,
    sample_rate: int,
    group_by_album: bool,
    shard_target_mb: float,
    group_size: int = 32,
) -> CorpusConfig:
    """The validated config of a build, preset groups (`wideband`) expanded to their members as the CLI does;
    ConfigError on anything impossible, before any work starts."""
    cfg = CorpusConfig.from_dict(
        {
            "presets": list(expand_presets(presets)),
            "segment": {
                "strategy": strategy,
                "segment_seconds": segment_seconds,
                "hop_seconds": hop_seconds,
                "sample_rate": sample_rate,
            },
            "group_by_album": group_by_album,
            "shard_target_mb": shard_target_mb,
            "group_size": group_size,
        }
    )
    return cfg  # CorpusConfig checks itself, the strategy's rate limits included


@dataclass
class PresetBuild:
    """What building one preset's dataset produced."""

    manifest: DatasetManifest
    encoded: list[Encoded]
    alignments: list[Alignment]
    quarantined: list[Quarantined]
    n_encoded: int
    n_reused: int
    n_shards_written: int


@dataclass
class Ingested:
    tracks: list[Track]
    duplicates: list[Duplicate]
    quarantined: list[Quarantined]
    discs: list[DiscRecord]


def ingest_sources(
    sources: list[str], data_dir: Path, cfg: CorpusConfig, progress: bool, min_groups: int = 1
) -> Ingested:
    """Stage 1: split disc images (CUE sheets), ingest every file in groups, then duplicates and splits."""
    logger = get_run_logger()
    sheets, referenced = find_cue_sheets([Path(s) for s in sources])
    files, missing = scan_sources(sources, exclude=[data_dir])
    files = [f for f in files if f not in referenced]  # a disc image is ingested through its sheet, not whole
    for q in missing:
        logger.warning("source %s does not exist; skipped", q.path)

    futures = split_disc_task.map([str(s) for s in sheets], unmapped(str(data_dir / "discs")))
    split, _ = _gather(futures, "disc", [[str(s)] for s in sheets], progress)
    discs = [d for d in split if isinstance(d, DiscRecord)]
    quarantined = [q for q in split if isinstance(q, Quarantined)]
    for disc in discs:
        for note in disc.notes:
            logger.info("%s: %s", disc.cue_path, note)

    # Two copies of one disc share their split files: each path is ingested once.
    paths = [str(f) for f in files] + sorted({t.path for d in discs for t in d.tracks})
    groups = partition(paths, key=str, target_size=cfg.group_size, min_groups=min_groups)
    ingested, _ = _gather(ingest_files_task.map(groups, unmapped(str(data_dir))), "ingest", groups, progress)
    tracks, duplicates, bad = resolve_tracks(ingested + missing, cfg)
    quarantined += bad

    # A track whose CRC disagrees with its rip log is not the audio the ripper verified.
    mismatched = {t.path: (d, t) for d in discs for t in d.tracks if t.crc_matches_log is False}
    for track in [t for t in tracks if t.path in mismatched]:
        disc, info = mismatched[track.path]
        reason = f"CRC32 {info.crc32} disagrees with the rip log's {info.log_crc32} ({Path(disc.cue_path).name})"
        quarantined.append(Quarantined(track.path, "verify", reason, track.track_id))
    tracks = [t for t in tracks if t.path not in mismatched]
    return Ingested(tracks, duplicates, quarantined, discs)


def stored_shard_sizes(location: str, preset: str) -> dict[str, int]:
    """Sizes of the preset's pooled shards in object storage (a mirrored data folder keeps them only there)."""
    if not fs.is_remote(location):
        return {}
    remote, root = fs.filesystem(fs.join(location, POOL_DIR, preset))
    if not remote.exists(root):
        return {}
    return {path.rsplit("/", 1)[-1]: info.get("size") for path, info in remote.find(root, detail=True).items()}


def build_dataset(
    preset: EncodePreset,
    tracks: list[Track],
    cfg: CorpusConfig,
    data_dir: Path,
    location: str,
    progress: bool,
    min_groups: int = 1,
    sources: list[str] | None = None,
    ingest_quarantined: list[Quarantined] | None = None,
) -> PresetBuild:
    """Stages 2-5 for one preset: encode, then align, segment and shard in one pass unless this version exists.

    Shards go to the preset's pool (storage/pool.py), named by content: a shard an earlier version
    already wrote is reused as it is, so a night's shard work follows what changed in the library.
    """
    quarantined: list[Quarantined] = []
    # 2. Encode
    groups = partition(tracks, key=lambda t: t.track_id, target_size=cfg.group_size, min_groups=min_groups)
    tracks = [t for g in groups for t in g]  # the order results come back in
    futures = encode_tracks_task.map(groups, unmapped(preset), unmapped(str(data_dir)))
    encodes, cached = _gather(futures, f"encode {preset.name}", [[t.path for t in g] for g in groups], progress)
    good = [(t, e) for t, e in zip(tracks, encodes) if isinstance(e, Encoded)]
    quarantined += [e for e in encodes if isinstance(e, Quarantined)]
    n_encoded = sum(isinstance(e, Encoded) and not (e.reused or hit) for e, hit in zip(encodes, cached))

    # 3-5. Align, segment and shard, one task per planned shard. Each decodes its pairs once, measures
    # their alignment on that audio (the quality gate) and writes the segments of the pairs that pass.
    # The version names the encoded pairs and the align config: the gate's outcome follows from them.
    candidates = [PairInputs(track, encoded) for track, encoded in good]
    version = dataset_version(preset, cfg, candidates)
    manifest = existing_manifest(data_dir, version)
    if manifest is not None and not catalog.dataset_recorded(data_dir, manifest):
        manifest = None  # killed between the manifest and the catalog: the shards are reused, the rows written again
    n_shards_written = 0
    if manifest is None:
        plans = plan_pool_shards(candidates, preset, cfg)
        stored = stored_shard_sizes(location, preset.name)
        by_id = {p.track.track_id: p for p in candidates}
        futures = write_shard_task.map(
            plans,
            [{item.track_id: by_id[item.track_id] for item in plan.items} for plan in plans],  # only what each needs
            unmapped(cfg.segment),
            unmapped(preset.name),
            unmapped(str(pool_folder(data_dir, preset.name))),
            [plan.key for plan in plans],  # a pooled sample records its shard's key: the shard is in many versions
            unmapped(cfg.align),
            unmapped(str(data_dir)),
            [stored.get(plan.name) for plan in plans],
        )
        results, _ = _gather(futures, f"shard {preset.name}", [[p.name] for p in plans], progress)
        failed = [r for r in results if isinstance(r, Quarantined)]
        if failed:  # a shard is not bad input: without all of them the dataset is incomplete
            raise RuntimeError(f"{len(failed)} shard(s) of dataset {version} failed: {failed[0].reason}")
        n_shards_written = sum(not r.reused for r in results)

    # The alignments the shard tasks measured, read back from their records (measured here only for
    # pairs no shard holds, such as tracks shorter than one segment).
    groups = partition(good, key=lambda pair: pair[0].track_id, target_size=cfg.group_size, min_groups=min_groups)
    good = [pair for g in groups for pair in g]
    futures = align_pairs_task.map(groups, unmapped(cfg.align), unmapped(str(data_dir)))
    alignments, _ = _gather(futures, f"align {preset.name}", [[t.path for t, _ in g] for g in groups], progress)
    pairs = []
    for (track, encoded), alignment in zip(good, alignments):
        if isinstance(alignment, Quarantined):
            quarantined.append(dataclasses.replace(alignment, track_id=track.track_id, preset=preset.name))
        elif not alignment.passed:
            reason = f"failed the quality gate: {alignment.reason}"
            quarantined.append(Quarantined(track.path, "align", reason, track.track_id, preset.name))
        else:
            pairs.append(PairInputs(track, encoded, alignment))
    if manifest is None:
        prefix = manifest_name(preset.name, plans[0]).rsplit("/", 1)[0] + "/" if plans else ""
        manifest = finish_dataset(
            data_dir,
            version,
            preset,
            cfg,
            pairs,
            results,
            code_version(),
            location,
            shard_prefix=prefix,
            quarantined=[*(ingest_quarantined or []), *quarantined],
            sources=sources,
        )
    return PresetBuild(
        manifest,
        [e for _, e in good],
        [a for a in alignments if isinstance(a, Alignment)],
        quarantined,
        n_encoded,
        len(good) - n_encoded,
        n_shards_written,
    )


def write_ingest_tables(data_dir: Path, ingested: Ingested) -> None:
    """The catalog tables one ingest replaces: tracks, duplicates, discs and their tracks."""
    logger = get_run_logger()
    logger.info(
        "%d tracks, %d duplicates, %d quarantined at ingest",
        len(ingested.tracks),
        len(ingested.duplicates),
        len(ingested.quarantined),
    )
    catalog.write_records(data_dir, "tracks", ingested.tracks, Track)
    catalog.write_records(data_dir, "duplicates", ingested.duplicates, Duplicate)
    discs, disc_tracks = catalog.disc_rows(ingested.discs, {t.path: t.track_id for t in ingested.tracks})
    catalog.write_records(data_dir, "discs", discs, catalog.DiscRow)
    catalog.write_records(data_dir, "disc_tracks", disc_tracks, catalog.DiscTrackRow)


def write_build_tables(data_dir: Path, ingested: Ingested, builds: list[PresetBuild]) -> list[Quarantined]:
    """Upsert encodes and pairs, replace the quarantine table; return everything quarantined this run."""
    logger = get_run_logger()
    quarantined = list(ingested.quarantined)
    for build in builds:
        splits = {s: v.segments for s, v in build.manifest.splits.items()}
        logger.info("dataset %s (%s): segments %s", build.manifest.version, build.manifest.preset, splits)
        quarantined += build.quarantined
    catalog.upsert_records(
        data_dir, "encodes", [e for b in builds for e in b.encoded], Encoded, key=("track_id", "preset")
    )
    catalog.upsert_records(
        data_dir, "pairs", [a for b in builds for a in b.alignments], Alignment, key=("track_id", "preset")
    )
    catalog.write_records(data_dir, "quarantine", quarantined, Quarantined)
    for q in quarantined:
        logger.warning("quarantined %s [%s]: %s", q.path, q.stage, q.reason)
    return quarantined


def record_run(
    data_dir: Path,
    location: str,
    seconds: float,
    ingested: Ingested,
    builds: list[PresetBuild],
    quarantined: list[Quarantined],
) -> dict:
    """Append this run to the `runs` table and return the build summary (storage.catalog.build_summary)."""
    run = catalog.RunRecord(
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        seconds=round(seconds, 2),
        n_tracks=len(ingested.tracks),
        n_encoded=sum(b.n_encoded for b in builds),
        n_encodes_reused=sum(b.n_reused for b in builds),
        n_shards_written=sum(b.n_shards_written for b in builds),
        n_quarantined=len(quarantined),
    )
    previous_runs = catalog.append_run(data_dir, run)
    manifests = [b.manifest for b in builds]
    return catalog.build_summary(
        run, len(ingested.duplicates), len(ingested.discs), quarantined, manifests, location, previous_runs
    )


def make_task_runner(name: str, workers: int | None = None, dask_address: str | None = None):
    """threads (default), processes, or dask: prefect-dask's DaskTaskRunner on a local cluster or `dask_address`."""
    n_workers = workers or os.cpu_count() or 1
    if name == "threads":
        return ThreadPoolTaskRunner(max_workers=n_workers)
    if name == "processes":
        return ProcessPoolTaskRunner(max_workers=n_workers)
    if name == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": n_workers, "threads_per_worker": 1, "processes": True})
    raise ConfigError(f"unknown task runner {name!r}; known: {', '.join(TASK_RUNNERS)}")


@flow(name="build-corpus", log_prints=True)
def build_corpus(
    sources: list[str],
    data: str = "data",
    presets: list[str] = ["vorbis-160"],  # noqa: B006 - Prefect parameters are JSON, never mutated here
    strategy: str = "resample",
    segment_seconds: float = 1.0,
    hop_seconds: float | None = None,
    sample_rate: int = 44100,
    group_by_album: bool = False,
    shard_target_mb: float = 256.0,
    group_size: int = 32,
    task_runner: str = "threads",
    workers: int | None = None,
    dask_address: str | None = None,
    wait_for_lock_seconds: float = 0.0,
    progress: bool = False,
) -> dict:
    """Build (or bring up to date) one dataset version per preset from the lossless files in `sources`."""
    cfg = corpus_config(
        presets, strategy, segment_seconds, hop_seconds, sample_rate, group_by_album, shard_target_mb, group_size
    )
    runner = make_task_runner(task_runner, workers, dask_address)
    logger = get_run_logger()
    refused: list[str] = []  # object keys that would land outside their mirror: never written
    with contextlib.ExitStack() as stack:
        local_sources = [
            str(stack.enter_context(fs.local_mirror(s, log=logger.info, refused=refused))) for s in sources
        ]
        # Metadata and encodes are mirrored; shards of finished datasets stay in the bucket.
        local_data = stack.enter_context(
            fs.local_mirror(
                data,
                push=True,
                exclude=SHARD_GLOBS,
                lock_wait_seconds=wait_for_lock_seconds,
                log=logger.info,
                refused=refused,
            )
        )
        if fs.is_remote(data):  # a version pruned in the bucket must not come back with this mirror's push
            for version in forget_removed_versions(local_data, data):
                logger.info("dataset %s was pruned from %s: dropped from the local mirror", version, data)
        stages = build_corpus_stages.with_options(task_runner=runner)
        summary = stages(
            sources=local_sources,
            data=str(local_data),
            config=cfg.to_dict(),
            location=data,
            min_groups=2 * (workers or os.cpu_count() or 1),
            progress=progress,
            refused_keys=refused,
        )
    return summary


@flow(name="build-corpus-stages", log_prints=True)
def build_corpus_stages(
    sources: list[str],
    data: str,
    config: dict,
    location: str | None = None,
    min_groups: int = 1,
    progress: bool = False,
    refused_keys: list[str] | None = None,
) -> dict:
    """The pipeline itself, on whichever task runner the parent flow chose; the caller holds the lock.

    `data` is a local folder; `location` is where it is published (a URL), used in recorded paths.
    `min_groups` keeps every worker busy on a small library (groups change caching, never the shards).
    `refused_keys` are object keys the mirrors refused (they escape their folder): quarantined.
    """
    logger = get_run_logger()
    started = time.perf_counter()
    cfg = CorpusConfig.from_dict(config)
    data_dir = Path(data)
    n_stale = remove_stale_temporaries(data_dir)
    if n_stale:
        logger.warning("removed %d unfinished temporary files left by an interrupted run", n_stale)

    ingested = ingest_sources(sources, data_dir, cfg, progress, min_groups)
    ingested.quarantined += [Quarantined(key, "scan", REFUSED_KEY_REASON) for key in refused_keys or []]
    write_ingest_tables(data_dir, ingested)
    location = location or data
    builds = [
        build_dataset(
            get_preset(name),
            ingested.tracks,
            cfg,
            data_dir,
            location,
            progress,
            min_groups,
            sources,
            ingested.quarantined,
        )
        for name in cfg.presets
    ]
    quarantined = write_build_tables(data_dir, ingested, builds)
    return record_run(data_dir, location, time.perf_counter() - started, ingested, builds, quarantined)
