"""Peak resident memory of build-corpus as the corpus grows: it must stay flat, not grow with it.

    python -m bench.memory --sizes 4 16 64

Each size is built from scratch in its own process (synthetic 30-s stereo tracks, one preset); the
peak RSS of that process (the flow and its task threads; the embedded Prefect server and FFmpeg run
as child processes and are not counted) is reported. The reference is the same process importing
everything and starting the embedded server without building anything.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import command_line, report

CHILD = r"""
import json, os, resource, sys
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
from flows.build_corpus import build_corpus
library, data, preset = sys.argv[1:4]
summary = build_corpus(sources=[library], data=data, presets=[preset]) if library != "-" else None
print(json.dumps({"self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "tracks": summary["n_tracks"] if summary else 0}))
"""


def write_tracks(folder: Path, n: int, seconds: float = 30.0) -> None:
    import numpy as np
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * 44100)) / 44100
    for i in range(n):
        if (folder / f"{i:03d}.flac").exists():
            continue
        f0 = 110 * 2 ** (i % 24 / 12)
        x = 0.3 * np.stack([np.sin(2 * np.pi * f0 * t), np.sin(2 * np.pi * 1.5 * f0 * t)]) + 0.02 * rng.standard_normal(
            (2, len(t))
        )
        sf.write(str(folder / f"{i:03d}.flac"), x.T.astype(np.float32), 44100, subtype="PCM_16")


def measure(library: str, data: str, preset: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, library, data, preset], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--preset", default="mp3-128")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="ladle-bench-memory-"))
    baseline = measure("-", str(work / "none"), args.preset)
    rows = [{"tracks": 0, "audio min": 0.0, "peak RSS MB": baseline["self_mb"], "vs no build": 1.0}]
    for n in args.sizes:
        write_tracks(work / f"lib{n}", n)
        result = measure(str(work / f"lib{n}"), str(work / f"data{n}"), args.preset)
        assert result["tracks"] == n
        rows.append(
            {
                "tracks": n,
                "audio min": n * 0.5,
                "peak RSS MB": result["self_mb"],
                "vs no build": result["self_mb"] / baseline["self_mb"],
            }
        )
    notes = [
        f"Synthetic 30-s stereo 44.1 kHz tracks, preset {args.preset}, threads runner, default group size and shard size.",
        "Reference row: the same process importing the pipeline and starting the embedded Prefect server, building nothing.",
    ]
    report("memory", command_line(), rows, notes, write=not args.no_write)


if __name__ == "__main__":
    main()
