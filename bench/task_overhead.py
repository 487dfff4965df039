"""Prefect's cost per task run, in CPU seconds: the number that sizes a build's tasks.

    python -m bench.task_overhead --tasks 200

A flow maps a task that does nothing over N inputs, on the threads runner, against its own
temporary Prefect server; the same flow with no inputs is the reference. Each is run in a fresh
process, and that process's CPU time and its children's (the server's, counted once it has stopped)
are compared. CPU seconds, not wall time, so the number holds on a shared machine. Dividing a
build's work per task (BENCHMARKS.md, "Corpus") by this overhead says how large a task must be.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from bench.common import command_line, report

CHILD = r"""
import json, os, resource, sys, time
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.testing.utilities import prefect_test_harness

@task
def nothing(i: int) -> int:
    return i

@flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
def many(n: int) -> int:
    return sum(f.result() for f in nothing.map(range(n)))

def cpu():
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

n = int(sys.argv[1])
before = cpu()
start = time.perf_counter()
with prefect_test_harness(server_startup_timeout=120):
    many(0)  # warm the client and the server's first requests
    flow_start, flow_cpu = time.perf_counter(), cpu()
    assert many(n) == n * (n - 1) // 2
    flow_wall = time.perf_counter() - flow_start
    in_flow_cpu = cpu() - flow_cpu
print(json.dumps({"cpu_s": cpu() - before, "flow_wall_s": flow_wall, "client_cpu_s": in_flow_cpu}))
"""


def measure(n: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    empty, full = measure(0), measure(args.tasks)
    per_task_cpu = (full["cpu_s"] - empty["cpu_s"]) / args.tasks
    rows = [
        {
            "what": "flow with no task runs (reference)",
            "task runs": 0,
            "CPU s (process + server)": empty["cpu_s"],
            "flow wall s": empty["flow_wall_s"],
        },
        {
            "what": "flow mapping a no-op task",
            "task runs": args.tasks,
            "CPU s (process + server)": full["cpu_s"],
            "flow wall s": full["flow_wall_s"],
        },
        {
            "what": "per task run",
            "task runs": 1,
            "CPU s (process + server)": per_task_cpu,
            "flow wall s": (full["flow_wall_s"] - empty["flow_wall_s"]) / args.tasks,
        },
    ]
    notes = [
        f"Threads runner (2 threads), a temporary Prefect server per process; the server's CPU is counted "
        f"once it stops. Per task run, the client side alone: {(full['client_cpu_s'] - empty['client_cpu_s']) / args.tasks:.3f} CPU-s.",
        "A build's task does seconds to minutes of work (a 32-track group, a 256-MB shard), so this overhead is "
        "a small share of it; at 128 workers one API server must absorb every task run's bookkeeping.",
    ]
    report("task_overhead", command_line(), rows, notes, write=not args.no_write)


if __name__ == "__main__":
    main()
