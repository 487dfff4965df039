"""Soak: build a hostile generated library while killing the build, then prove nothing was lost.

    python -m bench.soak --tracks 2000 --kills 3 --seed 0        # or: ladle bench soak ...

It writes a library of short tracks with about 5 % bad files of every kind and a few CUE images
(bench/soak_library.py), builds it once uninterrupted into a fresh data folder (the reference), then
runs `ladle build-corpus` on a second data folder and kills it with SIGKILL (its whole process
group) at `--kills` points drawn from the seed, re-running each time, and lets a last run finish.
A kill point is a number of finished files in the data folder, drawn from the seed and the clean
build's writes: the first kills at moments of the clean build spread over disc splits, ingest,
encodes and alignments; the last among the dataset's shards, sidecars and manifest (the catalog's
update after the manifest included). Then bench/soak_checks.py compares the
catalog with the disk and the library, reads every shard sample, looks for orphans and compares the
shards with the reference byte for byte. After every kill and every run it looks for processes the
build left behind (anything carrying this soak's tag in its environment: the Prefect server,
workers), reports and ends them. The summary goes to stdout and `--json`, the figures to
bench/log/soak.md; the exit status is 1 on any lost file or inconsistency.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bench.common import command_line, report
from bench.soak_checks import TMP_MARKER, Findings, check_data_folder, relative_files
from bench.soak_library import BAD_KINDS, NOT_TRACKS, file_digests, write_soak_library

TAG = "LADLE_SOAK_TAG"  # set in every build's environment; every process it starts inherits it
POLL_S = 0.1
GRACE_S = 10.0  # how long processes get to exit after their parent ended


@dataclass
class RunOutcome:
    label: str
    exit_code: int | None
    seconds: float
    killed: bool = False
    trigger: str | None = None  # the newest file seen when it was killed (which stage it was in)
    leftovers: list[str] = field(default_factory=list)  # processes still alive after the run ended
    hung: bool = False  # ran past --run-timeout and was killed for it


def ladle_command(library: Path, data: Path, args: argparse.Namespace) -> list[str]:
    ladle = Path(sys.executable).with_name("ladle")
    prefix = [str(ladle)] if ladle.is_file() else [sys.executable, "-m", "flows.cli"]
    return prefix + [
        "build-corpus",
        str(library),
        "--data",
        str(data),
        "--preset",
        args.preset,
        "--workers",
        str(args.workers),
        "--task-runner",
        args.task_runner,
        "--segment-seconds",
        str(args.segment_seconds),
        "--hop-seconds",
        str(args.hop_seconds),
        "--shard-size-mb",
        str(args.shard_size_mb),
    ]


def tagged_processes(tag: str) -> list:
    """Live processes whose environment carries this soak's tag (zombies are dead already)."""
    import psutil

    found = []
    for p in psutil.process_iter(["pid"]):
        try:
            if p.pid != os.getpid() and p.environ().get(TAG) == tag and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def reap_leftovers(tag: str) -> list[str]:
    """Wait up to GRACE_S for the build's processes to end; describe and SIGKILL the ones that did not."""
    deadline = time.monotonic() + GRACE_S
    while (alive := tagged_processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.5)
    described = []
    for p in alive:
        try:
            described.append(f"pid {p.pid}: {' '.join(p.cmdline())[:200]}")
            p.kill()  # ours: started by this soak's build, found by its tag
        except Exception:  # noqa: BLE001 - it may have ended meanwhile
            continue
    return described


def count_files(data: Path, seen: set[str], prefix: str = "") -> tuple[int, str | None]:
    """Finished (non-temporary) files under `data/prefix`, and the newest file of any kind not in `seen` (added to it)."""
    n_finished, added = 0, []
    for parent, _, names in os.walk(data):
        for name in names:
            rel = os.path.relpath(os.path.join(parent, name), data)
            n_finished += TMP_MARKER not in name and rel.startswith(prefix)
            if rel not in seen:
                seen.add(rel)
                added.append(rel)

    def mtime(rel: str) -> float:
        try:
            return os.stat(data / rel).st_mtime
        except OSError:  # a temporary renamed meanwhile
            return 0.0

    return n_finished, max(added, key=mtime, default=None)


def run_build(
    label: str,
    command: list[str],
    env: dict,
    log: Path,
    data: Path,
    kill_at: tuple[str, int] | None,
    timeout_s: float,
    parent_only: bool = False,
) -> RunOutcome:
    """Run one build; SIGKILL its process group (or only `ladle`) once `data/prefix` holds `n` finished files.

    `kill_at` is (prefix, n); None lets the build finish.
    """
    seen = set(relative_files(data)) if data.exists() else set()
    trigger = None
    started = time.perf_counter()
    with open(log, "a") as log_file:
        log_file.write(f"\n===== {label}: {' '.join(command)}\n")
        log_file.flush()
        process = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        killed = False
        while process.poll() is None:
            time.sleep(POLL_S)
            if kill_at is not None and data.exists():
                n_finished, newest = count_files(data, seen, kill_at[0])
                trigger = newest or trigger
                if n_finished >= kill_at[1]:
                    if parent_only:  # as the OOM killer would: what `ladle` started must end by itself
                        os.kill(process.pid, signal.SIGKILL)
                    else:
                        os.killpg(process.pid, signal.SIGKILL)
                    killed = True
                    break
            if time.perf_counter() - started > timeout_s:  # hung: end it, and say so
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return RunOutcome(
                    label, None, round(time.perf_counter() - started, 2), hung=True, leftovers=reap_leftovers(env[TAG])
                )
        exit_code = process.wait()
    seconds = time.perf_counter() - started
    leftovers = reap_leftovers(env[TAG])
    return RunOutcome(label, exit_code, round(seconds, 2), killed, trigger if killed else None, leftovers)


def draw_kill_points(clean_data: Path, n_kills: int, rng: np.random.Generator) -> list[tuple[str, int]]:
    """Where each kill falls, as (folder prefix, finished files under it), drawn from the clean build's writes.

    The first kills fall in equal stretches of the clean build's time before its first dataset file
    (disc splits, ingest caches, encodes, alignments: the moment the data folder holds as many files
    as the clean build's did then). The last falls among the dataset's own files (shards, their
    sidecars, the manifest), the catalog's update after the manifest included.
    """
    files = {rel: p for rel, p in relative_files(clean_data).items() if TMP_MARKER not in rel}
    times = sorted(p.stat().st_mtime for p in files.values()) or [0.0]
    n_dataset_files = sum(rel.startswith("datasets/") for rel in files)
    first_dataset_file = min(
        (files[rel].stat().st_mtime for rel in files if rel.startswith("datasets/")), default=times[-1]
    )
    points = []
    for k in range(n_kills - 1):
        when = times[0] + rng.uniform(k, k + 1) / (n_kills - 1) * (first_dataset_file - times[0])
        points.append(("", max(1, int(np.searchsorted(times, when, side="right")))))
    if n_kills:
        points.append(("datasets/", int(rng.integers(1, n_dataset_files + 1)) if n_dataset_files else 1))
    return points


def soak(args: argparse.Namespace, work: Path) -> dict:
    """Generate, build clean, build with kills, check; the summary as a dict."""
    started = time.perf_counter()
    lib = write_soak_library(work / "library", n_tracks=args.tracks, seed=args.seed, leave_out=tuple(args.leave_out))
    lib.save(work / "library.json")
    sources_before = file_digests(lib.root)
    generated_s = time.perf_counter() - started
    tag = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}  # Prefect's embedded server
    env.update({TAG: tag, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONUNBUFFERED": "1"})
    log = work / "builds.log"
    clean_data, data = work / "clean" / "data", work / "soak" / "data"
    runs: list[RunOutcome] = []

    for home in (work / "clean" / "prefect", work / "soak" / "prefect"):
        home.mkdir(parents=True, exist_ok=True)  # Prefect makes only the last level
    clean_env = {**env, "PREFECT_HOME": str(work / "clean" / "prefect")}
    runs.append(
        run_build(
            "clean build", ladle_command(lib.root, clean_data, args), clean_env, log, clean_data, None, args.run_timeout
        )
    )
    kill_points = draw_kill_points(clean_data, args.kills, np.random.default_rng([args.seed, 1]))

    soak_env = {**env, "PREFECT_HOME": str(work / "soak" / "prefect")}
    labels = [
        f"run {k + 1}, killed at {n} files in {prefix or 'DATA/'}" for k, (prefix, n) in enumerate(kill_points)
    ] + ["final run"]
    for label, target in zip(labels, [*kill_points, None]):
        if runs[-1].hung or runs[0].exit_code != 0:
            break  # the next build would fail or hang the same way
        runs.append(
            run_build(
                label,
                ladle_command(lib.root, data, args),
                soak_env,
                log,
                data,
                target,
                args.run_timeout,
                args.kill_parent_only,
            )
        )

    findings = Findings()
    for run in runs:
        findings.inconsistent += [f"{run.label}: process left running: {p}" for p in run.leftovers]
        if run.hung:
            findings.inconsistent.append(f"{run.label}: hung, killed after {run.seconds:.0f} s (see {log})")
        elif not run.killed and run.exit_code != 0:
            findings.inconsistent.append(f"{run.label}: exit status {run.exit_code} (see {log})")
    if runs[0].exit_code == 0 and runs[-1].label == "final run" and runs[-1].exit_code == 0:
        checked = check_data_folder(lib, data, clean_data, args.preset)
        findings.lost += checked.lost
        findings.inconsistent += checked.inconsistent
        findings.notes += checked.notes
        findings.figures.update(checked.figures)
    sources_after = file_digests(lib.root)
    findings.lost += [
        f"source file {p!r} changed or vanished"
        for p in sorted(sources_before)
        if sources_after.get(p) != sources_before[p]
    ]

    kills = [r for r in runs if r.killed]
    survived = len(kills) if not findings.lost and not findings.inconsistent else 0
    return {
        "tracks": len(lib.good),
        "audio_files": lib.n_audio_files,
        "bad_files": len(lib.bad),
        "duplicates": len(lib.duplicates()),
        "disc_images": len(lib.good_cues),
        "kills": len(kills),
        "kills_survived": survived,
        "files_lost": len(findings.lost),
        "inconsistencies": len(findings.inconsistent),
        "wall_s": round(time.perf_counter() - started, 1),
        "generate_s": round(generated_s, 1),
        "runs": [asdict(r) for r in runs],
        "lost": findings.lost,
        "inconsistent": findings.inconsistent,
        "notes": lib.notes + findings.notes,
        "figures": findings.figures,
        "work": str(work),
        "log": str(log),
    }


def print_summary(summary: dict) -> None:
    print(
        f"soak: {summary['tracks']} good tracks from {summary['audio_files']} audio files "
        f"({summary['bad_files']} bad, {summary['duplicates']} duplicates, {summary['disc_images']} disc images)"
    )
    for run in summary["runs"]:
        what = (
            f"killed at {run['trigger']!r}" if run["killed"] else "HUNG" if run["hung"] else f"exit {run['exit_code']}"
        )
        print(
            f"  {run['label']}: {run['seconds']:.1f} s, {what}"
            + (f", {len(run['leftovers'])} processes left" if run["leftovers"] else "")
        )
    for note in summary["notes"]:
        print(f"  note: {note}")
    for line in summary["lost"]:
        print(f"  LOST: {line}")
    for line in summary["inconsistent"][:200]:
        print(f"  INCONSISTENT: {line}")
    print(
        f"kills survived: {summary['kills_survived']} of {summary['kills']}; files lost: {summary['files_lost']}; "
        f"inconsistencies: {summary['inconsistencies']}; wall time {summary['wall_s']:.0f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=2000, help="audio files in the generated library")
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs, each followed by a re-run")
    parser.add_argument("--seed", type=int, default=0, help="draws the library and the kill points")
    parser.add_argument("--preset", default="vorbis-160")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--task-runner", default="threads", choices=["threads", "processes"], help="processes: see README"
    )
    parser.add_argument("--segment-seconds", type=float, default=0.25)
    parser.add_argument("--hop-seconds", type=float, default=1.0, help="a window a second keeps the shards small")
    parser.add_argument("--shard-size-mb", type=float, default=8.0, help="small shards: many files to kill amid")
    parser.add_argument(
        "--kill-parent-only",
        action="store_true",
        help="SIGKILL only the `ladle` process, not its process group (its children must end by themselves)",
    )
    parser.add_argument(
        "--run-timeout", type=float, default=1800.0, help="seconds one build may take before it counts as hung"
    )
    parser.add_argument(
        "--leave-out",
        action="append",
        default=[],
        choices=[*BAD_KINDS, *NOT_TRACKS],
        metavar="KIND",
        help="do not write this kind of bad input (repeatable), to soak the rest while it is a known bug",
    )
    parser.add_argument(
        "--work", type=Path, default=None, help="folder for library and data (default: a new temporary one)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder even when the soak passes")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here")
    parser.add_argument("--no-write", action="store_true", help="print only, do not append to bench/log/soak.md")
    args = parser.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="ladle-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    summary = soak(args, work.absolute())
    print_summary(summary)
    (work / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    passed = summary["files_lost"] == 0 and summary["inconsistencies"] == 0
    row = {
        "tracks": summary["tracks"],
        "kills survived": f"{summary['kills_survived']} of {summary['kills']}",
        "files lost": summary["files_lost"],
        "inconsistencies": summary["inconsistencies"],
        "wall s": summary["wall_s"],
    }
    runs = ", ".join(
        f"{r['label'].split(',')[0]} {r['seconds']:.0f} s"
        + (f" (killed in {r['trigger'].split('/')[0]}/)" if r["killed"] and r["trigger"] else "")
        for r in summary["runs"]
    )
    notes = [
        f"tracks: the distinct good tracks, each of which must be in exactly one split of the dataset. "
        f"{summary['audio_files']} audio files: {summary['bad_files']} bad (every kind of issue 13), "
        f"{summary['duplicates']} duplicates, hostile and 255-byte names; {summary['disc_images']} CUE disc images and 3 broken sheets.",
        f"Preset {args.preset}, {args.workers} workers ({args.task_runner}), {args.segment_seconds} s segments every "
        f"{args.hop_seconds} s, {args.shard_size_mb} MB shards; SIGKILL to {'the `ladle` process only' if args.kill_parent_only else 'the whole process group'}.",
        f"Builds: {runs}.",
        *summary["notes"],
        *(
            [f"Left out of the library (known open bugs, see the soak's findings): {', '.join(args.leave_out)}."]
            if args.leave_out
            else []
        ),
    ]
    report("Soak", command_line(), [row], notes, write=not args.no_write)
    if passed and not args.keep and args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    elif not passed:
        print(f"work folder kept for inspection: {work}", file=sys.stderr)
        raise SystemExit(1)  # `ladle bench` ignores a benchmark's return value
    return 0


if __name__ == "__main__":
    sys.exit(main())
