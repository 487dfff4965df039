"""Quality benchmark: does the default recipe restore music it never heard, at every bitrate, better than its input?

    python -m bench.quality                      # or: ladle bench quality
    python -m bench.quality --real ~/cd-rips     # also real lossless recordings, encoded at the same presets
    python -m bench.quality --pieces 24 --minutes 2 --preset mp3-24 --preset mp3-128 --out /tmp/q --no-write

It runs what a user runs, through the `ladle` command, end to end:

1. renders a training library (`ladle demo-corpus LIB --pieces N`, each work mixed like a record; with
   `--installed-soundfonts` / `--installed-drumkits` through every SoundFont and drum kit installed,
   docs/sources.md) and holds out whole pieces (every
   `--held-out-every`-th work of library.json, all its renders): they never enter the training data;
2. builds the training corpus for the trained presets (`ladle build-corpus`, default the `wideband`
   group: MP3, AAC, Vorbis and Opus from 24 to 320 kbps), and the held-out pieces' encodes for every
   scored preset (default: every preset) in a separate data folder; with `--real DIR`, DIR's
   recordings at the same presets in a third;
3. trains the default recipe on the trained presets as one model for `--minutes`;
4. restores every held-out (and real) encode with `ladle enhance`, at 44.1 kHz;
5. scores input and restored output against the lossless original: LSD, LSD above the codec's
   cutoff, SNR, SI-SDR and ViSQOL (ladle_model/evaluation/metrics.py), per preset and per bitrate band and
   codec (bench/bands.py); writes spectrogram PNGs (lossless / input / restored) and appends the
   band table to BENCHMARKS.md (bench/common.py). docs/presets.md says where to get real recordings.

Targets (issue 31, for 20 minutes on 2 CPU cores): in every band up to 160 kbps and every codec, LSD
at most 0.7x the input's, SNR at most 0.1 dB below it, ViSQOL at least the input's (+0.3 at <= 48
kbps, +0.15 on mp3-64); at >= 192 kbps nothing worse than the input.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bench.bands import (
    METRICS,  # noqa: F401  (the metrics scored: bench.bands owns the list)
    TRANSPARENT_BAND,
    group_of,
    group_table,
    group_verdicts,
    mean_row,
    verdict,
    visqol_gain_needed,
)
from storage.presets import PRESET_GROUPS, PRESETS

TRAINED_PRESETS = PRESET_GROUPS["wideband"]
OTHER_PRESETS = tuple(p for p in PRESETS if p not in TRAINED_PRESETS)
SAMPLE_RATE = 44100


@dataclass
class QualityConfig:
    out: str = "/tmp/ladle-quality"
    # 96 pieces, every 8th work held out: 12 held-out works, 69 training works and 7 val works per preset.
    # On 48 pieces (6 held-out, 4 val works) a preset's held-out mean swung on a single work, and 4 val
    # works could not tell vorbis-96's fill gains apart (BENCHMARKS.md, "Quality")
    pieces: int = 96
    seed: int = 0
    held_out_every: int = 8
    minutes: float = 20.0
    recipe: str | None = None  # None: `ladle train`'s default recipe
    trained_presets: tuple[str, ...] = TRAINED_PRESETS
    other_presets: tuple[str, ...] = OTHER_PRESETS  # scored, never trained on
    real: str | None = None  # a folder of real lossless recordings, scored at the same presets
    library_options: tuple[str, ...] = ()  # more `ladle demo-corpus` options: --installed-soundfonts, ...
    visqol_excerpts: int = (
        2  # 5-s excerpts of active audio per track, spread over it (ViSQOL refuses excerpts under ~2 s)
    )
    torch_threads: int | None = None  # OMP_NUM_THREADS for training; 1 helps on a machine shared with other jobs
    train: bool = True  # False: score the run folder as it is (a run this benchmark trained before)
    run: str | None = None  # the run folder; None: OUT/run
    extra: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- steps


def ladle(*args: str, threads: int | None = None) -> None:
    """Run one `ladle` command in a child process (as a user would), failing loudly."""
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    # A loaded machine can take longer than Prefect's default 20 s to start the temporary server.
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    command = [sys.executable, "-m", "flows.cli", *args]
    print("$ ladle " + " ".join(args), flush=True)
    subprocess.run(command, env=env, check=True)


def split_library(library: Path, every: int, train_dir: Path, held_out_dir: Path) -> list[str]:
    """Hard-link the library's files into a training folder and a held-out folder, whole works at a time.

    Works come from library.json in render order; work i is held out when i % every == every // 2.
    Returns the held-out work ids.
    """
    pieces = json.loads((library / "library.json").read_text())["pieces"]
    held_out = []
    for i, piece in enumerate(pieces):
        keep_out = i % every == every // 2
        if keep_out:
            held_out.append(piece["work"])
        for rel in piece["files"]:
            target = (held_out_dir if keep_out else train_dir) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                os.link(library / rel, target)
    return held_out


def held_out_items(data_dir: Path, preset: str) -> list[tuple]:
    """(track, encoded, alignment) of every held-out track with a passing alignment for `preset`."""
    from storage import catalog
    from storage.align import Alignment
    from storage.encode import Encoded
    from storage.ingest import Track

    tracks = {row["track_id"]: Track(**row) for row in catalog.read_rows(data_dir, "tracks")}
    encodes = {
        row["track_id"]: Encoded(**row) for row in catalog.read_rows(data_dir, "encodes") if row["preset"] == preset
    }
    pairs = {
        row["track_id"]: Alignment(**row)
        for row in catalog.read_rows(data_dir, "pairs")
        if row["preset"] == preset and row["passed"]
    }
    return [(tracks[t], encodes[t], pairs[t]) for t in sorted(tracks) if t in encodes and t in pairs]


def score(reference: np.ndarray, estimate: np.ndarray, cutoff_hz: float, visqol_excerpts: int) -> dict[str, float]:
    from ladle_model.evaluation import metrics as M

    return {
        "lsd": M.lsd(reference, estimate),
        "lsd_hf": M.lsd_hf(reference, estimate, cutoff_hz, SAMPLE_RATE),
        "snr_db": M.snr_db(reference, estimate),
        "si_sdr_db": M.si_sdr_db(reference, estimate),
        "visqol": M.visqol_moslqo(reference, estimate, SAMPLE_RATE, n_excerpts=visqol_excerpts)
        if visqol_excerpts
        else float("nan"),
    }


def score_preset(data_dir: Path, restored_dir: Path, preset: str, figure_dir: Path, visqol_excerpts: int) -> list[dict]:
    """Per held-out track: every metric of the lossy input and of its restoration; one spectrogram PNG."""
    import soundfile as sf

    from ladle_model.evaluation import metrics as M
    from ladle_model.reports.evaluation import plot_spectrograms
    from storage.align import shift_to
    from storage.config import SegmentConfig
    from storage.segment import load_pair

    rows = []
    for k, (track, encoded, alignment) in enumerate(held_out_items(data_dir, preset)):
        pair = load_pair(track, encoded, alignment, SegmentConfig(strategy="resample", sample_rate=SAMPLE_RATE))
        audio, rate = sf.read(
            restored_dir / preset / f"{Path(encoded.path).stem}.flac", dtype="float32", always_2d=True
        )
        if rate != SAMPLE_RATE:
            raise RuntimeError(f"ladle enhance wrote {rate} Hz for {preset}, expected {SAMPLE_RATE}")
        restored = audio.T if audio.shape[1] == 2 else np.repeat(audio.T, 2, axis=0)  # (2, T)
        # The restored file follows the decoded bitstream; shift it exactly as load_pair shifted the input.
        restored = shift_to(
            restored, round(alignment.lag_samples * SAMPLE_RATE / track.sample_rate), pair.lossless.shape[-1]
        )
        cutoff_hz = M.estimate_cutoff_hz(pair.lossless, pair.lossy, SAMPLE_RATE)
        for system, estimate in (("input", pair.lossy), ("restored", restored)):
            rows.append(
                {
                    "preset": preset,
                    "track": track.track_id,
                    "system": system,
                    "cutoff_hz": cutoff_hz,
                    **score(pair.lossless, estimate, cutoff_hz, visqol_excerpts),
                }
            )
        if k == 0:  # one figure per preset: the first held-out track, 5 s of its most active part
            start, stop = (
                M.active_excerpts(pair.lossless, SAMPLE_RATE, 1, 5.0)
                or [(0, min(5 * SAMPLE_RATE, pair.lossless.shape[-1]))]
            )[0]
            plot_spectrograms(
                figure_dir / f"{preset}.png",
                {"lossless": pair.lossless, f"{preset} input": pair.lossy, "restored": restored},
                SAMPLE_RATE,
                start,
                stop,
                f"{preset}: held-out {track.track_id}",
                cutoff_hz,
            )
    return rows


def summarise(rows: list[dict], presets: tuple[str, ...]) -> list[dict]:
    """One row per preset (rows of one set): the mean of each metric for input and restored, and their ratio/delta."""
    return [{"preset": p, **mean_row([r for r in rows if r["preset"] == p])} for p in presets]


def verdicts(table: list[dict], trained: tuple[str, ...]) -> list[str]:
    """The issue's targets per preset, each said plainly as met or missed: the restoration targets on a
    trained preset below the near-transparent band, "not worse" on the rest."""
    lines = []
    for row in table:
        p = row["preset"]
        band, codec = group_of(p)
        if p in trained and band != TRANSPARENT_BAND:
            lines.append(verdict(p, row, band, visqol_gain_needed(band, codec, p)))
        else:
            lines.append(verdict(p, row, TRANSPARENT_BAND, 0.0))
    return lines


def run(cfg: QualityConfig) -> dict:
    out = Path(cfg.out)
    library, train_lib, held_lib = out / "library", out / "train-library", out / "held-out-library"
    data, held_data = out / "data", out / "held-out-data"
    run_dir = Path(cfg.run) if cfg.run else out / "run"
    restored = out / "restored" if not cfg.run else run_dir / "held-out-restored"
    figures = out / "spectrograms"

    ladle("demo-corpus", str(library), "--pieces", str(cfg.pieces), "--seed", str(cfg.seed), *cfg.library_options)
    held_out = split_library(library, cfg.held_out_every, train_lib, held_lib)
    print(f"held out {len(held_out)} works: {', '.join(held_out)}", flush=True)
    presets = [a for p in cfg.trained_presets for a in ("--preset", p)]
    ladle("build-corpus", str(train_lib), "--data", str(data), *presets, "--group-by-album")
    others = [a for p in (*cfg.trained_presets, *cfg.other_presets) for a in ("--preset", p)]
    ladle("build-corpus", str(held_lib), "--data", str(held_data), *others)
    recipe = ["--recipe", cfg.recipe] if cfg.recipe else []
    if cfg.train:
        ladle(
            "train",
            "--data",
            str(data),
            "--run",
            str(run_dir),
            *presets,
            *recipe,
            "--max-minutes",
            f"{cfg.minutes:g}",
            threads=cfg.torch_threads,
        )

    scored = (*cfg.trained_presets, *cfg.other_presets)
    rows = restore_and_score(held_data, restored, scored, run_dir, figures, cfg.visqol_excerpts, "held-out")
    if cfg.real:
        real_data = out / "real-data"
        ladle("build-corpus", cfg.real, "--data", str(real_data), *(a for p in scored for a in ("--preset", p)))
        real_restored = (out if not cfg.run else run_dir) / "real-restored"
        rows += restore_and_score(
            real_data, real_restored, scored, run_dir, figures / "real", cfg.visqol_excerpts, "real"
        )
    table = summarise([r for r in rows if r["set"] == "held-out"], scored)
    groups = group_table(rows)
    result = {
        "config": asdict(cfg),
        "held_out_works": held_out,
        "table": table,
        "verdicts": verdicts(table, cfg.trained_presets),
        "groups": groups,
        "group_verdicts": group_verdicts(groups),
        "tracks": rows,
        "run": str(run_dir),
        "calibration": calibration_note(run_dir),
        "spectrograms": sorted(str(p) for p in figures.rglob("*.png")),
    }
    (out / "quality.json").write_text(json.dumps(result, indent=2, default=float))
    return result


def restore_and_score(
    data_dir: Path, restored: Path, presets: tuple[str, ...], run_dir: Path, figures: Path, visqol_excerpts: int,
    set_name: str,
) -> list[dict]:  # fmt: skip
    """`ladle enhance` every encode of each preset in `data_dir`, then score input and output per track."""
    rows = []
    for preset in presets:
        ladle("enhance", str(data_dir / "encodes" / preset), "-o", str(restored / preset),
              "--run", str(run_dir), "--sample-rate", str(SAMPLE_RATE))  # fmt: skip
        rows += [{"set": set_name, **r} for r in score_preset(data_dir, restored, preset, figures, visqol_excerpts)]
    return rows


def calibration_note(run_dir: Path) -> str:
    """What the run's calibration chose for the fill gain (ladle_model/calibration/calibrate.py), in words."""
    from ladle_model.calibration.record import calibration_text
    from ladle_model.runs.checkpoint import load_checkpoint
    from ladle_model.runs.folder import RunDir

    return calibration_text(load_checkpoint(RunDir(run_dir).checkpoint("best")).get("calibration"))


def report_rows(table: list[dict]) -> list[dict]:
    """The results table: input -> restored per metric, per preset."""

    def arrow(row: dict, m: str, fmt: str) -> str:
        return f"{row[f'{m} in']:{fmt}} → {row[f'{m} out']:{fmt}}"

    return [
        {
            "preset": r["preset"],
            "held-out tracks": r["tracks"],
            "LSD": arrow(r, "lsd", ".3f"),
            "LSD ratio": f"{r['LSD ratio']:.2f}",
            "LSD above cutoff": arrow(r, "lsd_hf", ".3f"),
            "SNR dB": arrow(r, "snr_db", ".2f"),
            "ΔSNR dB": f"{r['dSNR dB']:+.2f}",
            "SI-SDR dB": arrow(r, "si_sdr_db", ".2f"),
            "ViSQOL": arrow(r, "visqol", ".3f"),
            "ΔViSQOL": f"{r['dViSQOL']:+.3f}",
        }
        for r in table
    ]


def main(argv: list[str] | None = None) -> None:
    from storage.config import ConfigError, expand_presets

    p = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n")[0])
    d = QualityConfig()
    p.add_argument("--out", default=d.out, help="work folder (library, data, run, restored audio, results)")
    p.add_argument("--pieces", type=int, default=d.pieces, help="works in the rendered library")
    p.add_argument("--seed", type=int, default=d.seed, help="draws the library's works and how they are played")
    p.add_argument("--held-out-every", type=int, default=d.held_out_every, help="hold out every N-th work")
    p.add_argument("--minutes", type=float, default=d.minutes, help="training budget (ladle train --max-minutes)")
    p.add_argument("--recipe", default=None, help="default: ladle train's default recipe")
    p.add_argument(
        "--train-preset", action="append", default=None, help="repeatable, groups allowed; default: wideband"
    )
    p.add_argument(
        "--preset", action="append", default=None, help="repeatable, groups allowed: also score these (default: all)"
    )
    p.add_argument("--real", default=None, help="a folder of real lossless recordings to score at the same presets")
    p.add_argument(
        "--installed-soundfonts", action="store_true", help="render the library through every GM SoundFont installed"
    )
    p.add_argument(
        "--installed-drumkits", action="store_true", help="give half the library's works drums from installed kits"
    )
    p.add_argument("--visqol-excerpts", type=int, default=d.visqol_excerpts, help="0 skips ViSQOL")
    p.add_argument("--torch-threads", type=int, default=None, help="OMP_NUM_THREADS for training")
    p.add_argument("--fresh", action="store_true", help="delete the work folder first")
    p.add_argument("--run", default=None, help="the run folder to train and score (default: OUT/run)")
    p.add_argument(
        "--no-train", action="store_true", help="score OUT/run as it is (a re-run of `ladle train` would continue it)"
    )
    p.add_argument(
        "--no-write", action="store_true", help="print the tables without appending them to bench/log/quality.md"
    )
    a = p.parse_args(argv)
    if a.real and not Path(a.real).is_dir():
        p.error(f"--real: no folder at {a.real}")
    try:
        trained = expand_presets(a.train_preset) if a.train_preset else d.trained_presets
        scored = expand_presets(a.preset) if a.preset else tuple(PRESETS)
    except ConfigError as e:
        p.error(str(e))
    cfg = QualityConfig(
        out=a.out,
        pieces=a.pieces,
        seed=a.seed,
        held_out_every=a.held_out_every,
        minutes=a.minutes,
        recipe=a.recipe,
        trained_presets=trained,
        other_presets=tuple(x for x in scored if x not in trained),
        real=a.real,
        library_options=tuple(
            flag
            for flag, on in (
                ("--installed-soundfonts", a.installed_soundfonts),
                ("--installed-drumkits", a.installed_drumkits),
            )
            if on
        ),
        visqol_excerpts=a.visqol_excerpts,
        torch_threads=a.torch_threads,
        train=not a.no_train,
        run=a.run,
    )
    if a.fresh and Path(cfg.out).exists():
        shutil.rmtree(cfg.out)
    result = run(cfg)

    from bench import bands
    from bench.common import command_line, report

    notes = [
        f"held-out works (never trained on): {', '.join(result['held_out_works'])}",
        *([f"real recordings: {cfg.real}"] if cfg.real else []),
        result["calibration"],
        *result["group_verdicts"],
    ]
    write = not a.no_write
    report("quality by band", command_line(), bands.report_rows(result["groups"]), notes=notes, write=write)
    notes = [
        *result["verdicts"],
        f"spectrograms (lossless / input / restored): {', '.join(result['spectrograms'])}",
    ]
    report("quality per preset", command_line(), report_rows(result["table"]), notes=notes, write=write)


if __name__ == "__main__":
    main()
