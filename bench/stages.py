"""Where a build-corpus run spends its time, stage by stage, read from Prefect's own task-run records.

    with CpuSampler(cpu_seconds) as cpu:
        start = time.time()
        state = build_corpus(sources=[...], data="...", return_state=True)
        wall_s = time.time() - start
    spans = read_spans(state.state_details.flow_run_id)
    breakdown = stage_breakdown(spans, start, start + wall_s, cpu)   # {"ingest": (wall s, CPU s), ...}

The flow runs its stages one after another: each waits for all of its task runs (flows/build_corpus.py).
A stage's wall time is therefore the span from its first task run's start to its last one's end, and
what is left of the run is the build's serial part: the flow's start and end, the scan, planning,
catalog writes, the task runner's start (worker processes, a Dask cluster) and Prefect's bookkeeping
between task runs. Nothing in the flow is changed to measure this. CPU seconds per stage come from
sampling a CPU clock while the build runs (bench.corpus.cpu_seconds: this process and its reaped
children). That attributes all of a stage's CPU only with the threads runner, where every task runs
in this process and its FFmpeg children are reaped inside their stage.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

# Task names (tasks/corpus.py, tasks/disc.py) → the stage names the benchmarks print, in flow order.
STAGES = {
    "split-disc": "disc",
    "ingest-files": "ingest",
    "encode-tracks": "encode",
    "write-shard": "shard (decode, align, segment, write)",
    "align-pairs": "align (read records)",
}
SERIAL = "outside tasks (flow start, scan, planning, catalog, runner start)"


@dataclass(frozen=True)
class Span:
    """One task run that ran: its stage and its start and end (Unix seconds)."""

    stage: str
    start: float
    end: float


def read_spans(flow_run_id: UUID, timeout_s: float = 30.0) -> list[Span]:
    """The task runs of a flow run and its subflows that ran (cached ones did not), by stage.

    Task-run states reach the server as events, so a just-finished run may still be catching up:
    read until every task run that started has also ended.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterParentFlowRunId
    from prefect.client.schemas.sorting import TaskRunSort

    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            ids, frontier = [flow_run_id], [flow_run_id]
            while frontier:  # subflows of subflows
                children = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=frontier))
                )
                frontier = [c.id for c in children]
                ids += frontier
            runs, offset = [], 0
            while batch := client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)),
                sort=TaskRunSort.ID_DESC,
                limit=200,
                offset=offset,
            ):  # pages
                runs += batch
                offset += len(batch)
            staged = [r for r in runs if r.name.rsplit("-", 1)[0] in STAGES and r.start_time is not None]
            if all(r.end_time is not None for r in staged) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    return [
        Span(STAGES[r.name.rsplit("-", 1)[0]], r.start_time.timestamp(), r.end_time.timestamp())
        for r in staged
        if r.end_time is not None
    ]


def stage_windows(spans: list[Span]) -> dict[str, tuple[float, float]]:
    """Each stage's (first start, last end), in the order the stages started."""
    windows: dict[str, tuple[float, float]] = {}
    for span in sorted(spans, key=lambda s: s.start):
        first, last = windows.get(span.stage, (span.start, span.end))
        windows[span.stage] = (min(first, span.start), max(last, span.end))
    return windows


def covered_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of intervals: time during which at least one of them was open."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def serial_seconds(spans: list[Span], wall_s: float) -> float:
    """The part of a run's wall time during which no stage's task runs were under way."""
    return max(wall_s - covered_seconds(list(stage_windows(spans).values())), 0.0)


class CpuSampler:
    """Samples (Unix time, clock()) every `period_s` in a thread, to read the CPU seconds spent between two times."""

    def __init__(self, clock: Callable[[], float], period_s: float = 0.02):
        self.clock, self.period_s = clock, period_s
        self.times: list[float] = []
        self.cpu: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        self.times.append(time.time())
        self.cpu.append(self.clock())

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self._sample()

    def __enter__(self) -> CpuSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def at(self, t: float) -> float:
        """CPU seconds at time t, interpolated between the samples around it."""
        i = bisect.bisect_left(self.times, t)
        if i == 0:
            return self.cpu[0]
        if i == len(self.times):
            return self.cpu[-1]
        t0, t1, c0, c1 = self.times[i - 1], self.times[i], self.cpu[i - 1], self.cpu[i]
        return c0 + (c1 - c0) * (t - t0) / (t1 - t0) if t1 > t0 else c1

    def between(self, start: float, end: float) -> float:
        return self.at(end) - self.at(start)


def stage_breakdown(
    spans: list[Span], start: float, end: float, cpu: CpuSampler | None = None
) -> dict[str, tuple[float, float | None]]:
    """(wall s, CPU s) per stage and for the serial rest of the run between `start` and `end` (Unix seconds).

    CPU is None without a sampler. Stages do not overlap in this flow; if they did, the overlap would
    count in both, and the serial rest is still only the time no stage covered.
    """
    windows = stage_windows(spans)
    out = {stage: (last - first, cpu.between(first, last) if cpu else None) for stage, (first, last) in windows.items()}
    total_cpu = cpu.between(start, end) if cpu else None
    staged_cpu = sum(c for _, c in out.values()) if cpu else None
    out[SERIAL] = (serial_seconds(spans, end - start), total_cpu - staged_cpu if cpu else None)
    return out
