"""bench.common.report: each run's table is appended to its own log, bench/log/NAME.md, never to BENCHMARKS.md."""

from __future__ import annotations

from bench.common import LOG_DIR, REPO, report


def test_report_appends_each_run_to_the_benchmarks_log(tmp_path):
    rows = [{"what": "FFmpeg alone", "ratio": 1.0}, {"what": "build", "ratio": 0.71234}]
    first = report("Soak", "python -m bench.soak", rows, notes=["a note"], log_dir=tmp_path)
    report("Soak", "python -m bench.soak --tracks 2", rows[:1], log_dir=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["soak.md"]
    text = (tmp_path / "soak.md").read_text()
    assert text.startswith("# soak: dated runs") and first in text
    assert text.count("### Soak (") == 2 and "| build | 0.712 |" in text and "- a note" in text
    assert "Command: `python -m bench.soak --tracks 2`" in text


def test_report_writes_nothing_when_told_not_to(tmp_path):
    report("corpus", "python -m bench.corpus", [{"what": "x", "s": 1}], write=False, log_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_the_default_log_folder_is_bench_log_and_holds_every_benchmark():
    assert LOG_DIR == REPO / "bench" / "log"
    assert {"corpus", "quality", "scaling", "shards"} <= {p.stem for p in LOG_DIR.glob("*.md")}
