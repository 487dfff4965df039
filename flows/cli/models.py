"""`ladle models`: the model registry the nightly loop keeps, and the word `champion` other commands resolve.

ladle models --data data            # every candidate: dataset version, verdict, why, metrics
ladle models --data data --json
ladle enhance song.mp3 -o song.flac --run champion --data data
ladle evaluate --run champion --data data
"""

from __future__ import annotations

import json

from flows.cli.common import fail, fmt_number

HEADLINE_METRICS = ("mse", "lsd", "si_sdr_db")  # the columns the table shows; --json has every metric


def add_models(commands) -> None:
    p = commands.add_parser(
        "models", help="list the model registry: every challenger the nightly flow trained, its verdict and metrics"
    )
    p.add_argument(
        "--data", default="data", help="the data folder the nightly flow runs on (its catalog/models.parquet)"
    )
    p.add_argument("--json", action="store_true", help="print every row, every metric, as JSON")
    p.set_defaults(handler=_cmd_models)


def resolve_champion(value: str | None, data: str) -> str | None:
    """`value`, or for the word `champion` the champion's folder under DATA; none there is one line on stderr."""
    if value != "champion":
        return value
    from ladle_model.runs.champion import resolve_model

    try:
        return resolve_model(value, data)
    except FileNotFoundError as e:
        fail(str(e))


def _cmd_models(args) -> int:
    from pathlib import Path

    from ladle_model.runs.champion import champion_record
    from ladle_model.runs.registry import read_candidates
    from storage.fs import is_remote

    if not Path(args.data).is_dir():
        fail(f"no data folder at {args.data}")
    rows = read_candidates(args.data)
    champion = champion_record(args.data)
    if args.json:
        print(json.dumps({"champion": champion, "candidates": rows}, indent=2, default=str))
        return 0
    if not rows:
        print(f"no candidates in {args.data}: the nightly flow records one per new dataset version")
        return 0
    key = (champion or {}).get("registry_key")
    for r in rows:
        mark = "*" if r["dataset_version"] == key else " "
        gone = "" if is_remote(r["run_dir"]) or Path(r["run_dir"]).is_dir() else "  (folder removed)"  # retention
        print(
            f"{mark} {r['created_at']}  {r['dataset_version']}  {r['verdict']:<8}  step {r['step']}  {r['run_dir']}{gone}"
        )
        for preset, values in r["metrics"].items():
            shown = "  ".join(f"{m} {fmt_number(values.get(m))}" for m in HEADLINE_METRICS)
            print(f"    {preset}: {shown}")
        print(f"    {r['reason']}")
    if champion:
        print(
            f"* champion: {champion['run_dir']} (dataset {champion['dataset_version']}), promoted {champion['promoted_at']}"
        )
    return 0
