"""The scaling benchmark's arithmetic (bench/scaling.py): Amdahl's law and the cluster prediction."""

import math

import pytest

from bench.scaling import (
    TASK_RUN_CLIENT_CPU_S,
    TASK_RUN_CPU_S,
    StageCost,
    amdahl_speedup,
    library_stages,
    predict_seconds,
)


def test_amdahl_speedup():
    assert amdahl_speedup(0.0, 10.0, 4) == pytest.approx(4.0)  # all parallel
    assert amdahl_speedup(10.0, 0.0, 4) == pytest.approx(1.0)  # all serial
    assert amdahl_speedup(5.0, 10.0, 2) == pytest.approx(15.0 / 10.0)
    assert amdahl_speedup(5.0, 10.0, 2, base_workers=2) == pytest.approx(1.0)  # the base itself


def test_library_stages_size_group_and_shard_tasks():
    rates = {"ingest": 0.01, "shard (decode, align, segment, write)": 0.02}
    stages = library_stages(rates, n_tracks=100, audio_s=20_000.0, group_size=32, shard_audio_s=750.0)
    assert stages["ingest"] == StageCost(4, pytest.approx(32 * 200.0 * 0.01))
    assert stages["shard (decode, align, segment, write)"] == StageCost(27, pytest.approx(750.0 * 0.02))


def test_predict_seconds_counts_waves_task_overhead_and_the_server_floor():
    stages = {"a": StageCost(10, 2.0), "b": StageCost(3, 1.0)}
    one = predict_seconds(5.0, stages, 1)
    assert one == pytest.approx(5.0 + 10 * (2.0 + TASK_RUN_CLIENT_CPU_S) + 3 * (1.0 + TASK_RUN_CLIENT_CPU_S))
    four = predict_seconds(5.0, stages, 4)  # a: 3 waves, b: 1 wave
    assert four == pytest.approx(5.0 + 3 * (2.0 + TASK_RUN_CLIENT_CPU_S) + 1 * (1.0 + TASK_RUN_CLIENT_CPU_S))
    # Tiny tasks on many workers: one server's share of each task run's bookkeeping is the floor.
    tiny = {"a": StageCost(100_000, 0.0)}
    server_s = 100_000 * (TASK_RUN_CPU_S - TASK_RUN_CLIENT_CPU_S)
    assert predict_seconds(0.0, tiny, 10_000) == pytest.approx(server_s)
    assert math.isclose(predict_seconds(1.0, tiny, 1), 1.0 + 100_000 * TASK_RUN_CLIENT_CPU_S)
