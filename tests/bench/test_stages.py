"""Stage timing of a flow run (bench/stages.py): interval arithmetic, CPU interpolation, Prefect's records."""

import pytest

from bench.stages import (
    SERIAL,
    STAGES,
    CpuSampler,
    Span,
    covered_seconds,
    read_spans,
    serial_seconds,
    stage_breakdown,
    stage_windows,
)


def test_covered_seconds_counts_overlaps_once_and_gaps_not_at_all():
    assert covered_seconds([]) == 0.0
    assert covered_seconds([(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)]) == pytest.approx(4.0)
    assert covered_seconds([(0.0, 10.0), (2.0, 3.0)]) == pytest.approx(10.0)  # nested


def test_stage_windows_span_first_start_to_last_end_in_start_order():
    spans = [
        Span("encode", 12.0, 15.0),
        Span("ingest", 10.0, 11.0),
        Span("encode", 11.5, 14.0),
        Span("ingest", 10.2, 11.2),
    ]
    windows = stage_windows(spans)
    assert list(windows) == ["ingest", "encode"]
    assert windows == {"ingest": (10.0, 11.2), "encode": (11.5, 15.0)}
    assert serial_seconds(spans, wall_s=6.0) == pytest.approx(6.0 - 1.2 - 3.5)


def _sampler(times, cpu):
    sampler = CpuSampler(clock=lambda: 0.0)
    sampler.times, sampler.cpu = list(times), list(cpu)
    return sampler


def test_cpu_sampler_interpolates_between_samples_and_clamps_outside():
    sampler = _sampler([0.0, 1.0, 2.0], [10.0, 11.0, 13.0])
    assert sampler.at(0.5) == pytest.approx(10.5)
    assert sampler.at(1.5) == pytest.approx(12.0)
    assert sampler.at(-1.0) == 10.0 and sampler.at(5.0) == 13.0
    assert sampler.between(0.5, 1.5) == pytest.approx(1.5)


def test_cpu_sampler_samples_its_clock_while_open():
    ticks = iter(range(1_000_000))
    with CpuSampler(clock=lambda: float(next(ticks)), period_s=0.001) as sampler:
        pass
    assert len(sampler.times) >= 2 and sampler.cpu == sorted(sampler.cpu)
    assert sampler.times == sorted(sampler.times)


def test_breakdown_rows_add_up_to_the_run():
    spans = [Span("ingest", 1.0, 2.0), Span("shard", 3.0, 5.0), Span("shard", 3.5, 6.0)]
    sampler = _sampler([0.0, 10.0], [0.0, 20.0])  # 2 CPU-s per wall second throughout
    rows = stage_breakdown(spans, 0.0, 10.0, sampler)
    assert list(rows) == ["ingest", "shard", SERIAL]
    assert rows["ingest"] == pytest.approx((1.0, 2.0))
    assert rows["shard"] == pytest.approx((3.0, 6.0))
    assert rows[SERIAL] == pytest.approx((6.0, 12.0))
    assert sum(w for w, _ in rows.values()) == pytest.approx(10.0)
    assert stage_breakdown(spans, 0.0, 10.0)["shard"] == (3.0, None)


@pytest.mark.slow
def test_read_spans_finds_the_task_runs_of_a_flow_and_its_subflow(prefect_harness):
    from prefect import flow, task
    from prefect.task_runners import ThreadPoolTaskRunner

    names = {stage: name for name, stage in STAGES.items()}
    ingest = task(name=names["ingest"])(lambda i: i)
    shard = task(name=names["shard (decode, align, segment, write)"])(lambda i: -i)
    other = task(name="not-a-stage")(lambda i: i)

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def stages(n: int) -> int:
        first = sum(f.result() for f in ingest.map(range(n)))  # each stage waits for all of its runs
        return first + sum(f.result() for f in shard.map(range(n - 1)))

    @flow
    def outer(n: int) -> int:
        other(0)
        return stages(n)

    state = outer(4, return_state=True)
    assert state.result() == 6 - 3
    spans = read_spans(state.state_details.flow_run_id)
    assert sorted(s.stage for s in spans) == ["ingest"] * 4 + ["shard (decode, align, segment, write)"] * 3
    windows = stage_windows(spans)
    assert windows["ingest"][1] <= windows["shard (decode, align, segment, write)"][0]
    assert all(s.start <= s.end for s in spans)
