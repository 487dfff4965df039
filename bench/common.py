"""What every benchmark shares: the machine, a timer, and appending a table to its log, bench/log/NAME.md.

    rows = [{"what": "FFmpeg alone", "audio s / wall s": 41.2}, ...]
    report("corpus", "python -m bench.corpus --preset vorbis-160", rows, notes=["..."])

Every speed is reported next to a reference measured in the same run, because these machines are
noisy: the ratio is the number to read, not the absolute speed. A log keeps every run; BENCHMARKS.md
holds only each benchmark's current result, copied there by hand when a run supersedes it.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOG_DIR = REPO / "bench" / "log"


def machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()} × {cpu}, {gpu}, Python {platform.python_version()}, torch {torch.__version__}"


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


@contextmanager
def timed(result: dict, key: str = "seconds"):
    start = time.perf_counter()
    yield
    result[key] = time.perf_counter() - start


def markdown_table(rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in (row.get(c, "") for c in columns)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(
    name: str, command: str, rows: list[dict], notes: list[str] = (), write: bool = True, log_dir: Path = LOG_DIR
) -> str:
    """Print the table and (unless `write` is False) append it under a dated heading to `log_dir`/NAME.md."""
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join(
        [
            f"### {name} ({date})",
            "",
            f"Command: `{command}`  ",
            f"Machine: {machine()}; commit {commit()}",
            "",
            markdown_table(rows),
            "",
            *[f"- {n}" for n in notes],
            "",
        ]
    )
    print(text)
    if write:
        log = Path(log_dir) / f"{name.lower()}.md"
        log.parent.mkdir(parents=True, exist_ok=True)
        if not log.exists():
            log.write_text(f"# {name.lower()}: dated runs\n\nEach section is appended by the command it shows.\n\n")
        with open(log, "a") as f:
            f.write(text + "\n")
    return text


def command_line() -> str:
    return (
        "python -m "
        + Path(sys.argv[0]).with_suffix("").relative_to(REPO).as_posix().replace("/", ".")
        + (" " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else "")
    )
