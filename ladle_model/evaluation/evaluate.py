"""Evaluate a trained run on whole tracks, against the lossless original and against its own input.

    report = evaluate_run("runs/ladle", "data", "paper-32k", EvalConfig(max_tracks=5))
    report["headline"]   # "The model is worse than its lossy input on MSE: 2.3e-04 vs 2.1e-04 (+9.5%); ..."
    ladle evaluate --run runs/ladle --data data --preset paper-32k     # the same through the flow
    ladle evaluate --run runs/ladle --data other-library --split all   # every track of another library

For each test track of the catalog (or of the split named; an empty split is an error, never another
split; "all": every track of any data folder built with the run's preset) the lossless audio and its
lossy encode are decoded and aligned as the corpus builder does (storage.segment.load_pair), the
model restores the whole lossy track in crossfaded windows (ladle_model/inference/windows.py), and every metric
of the registry in ladle_model/evaluation/metrics.py is computed twice: for the model's output and for the
untouched lossy input, the baseline every model must beat (docs/design.md). A metric a track is too
short for is n/a for that track with the reason; a track that cannot be evaluated at all is listed
with its reason; only when every track fails does the evaluation fail. The report says which tracks
the model was trained on. It goes to RUN_DIR/eval/{preset}/ (ladle_model/runs/checkpoint.py's EvalFiles;
written by ladle_model/reports/evaluation.py):

    report.md, report.html      mean and per-track tables, model vs input, the verdict in words
    tracks.parquet              one row per (track, system) with every metric and the n/a reasons
    spectrograms/{track}.png    lossless / lossy / restored over one excerpt (as Fig. 3 of the residual-unit paper)
    eval.json                   the summary and the content key; written last

A finished evaluation is reused while its key is unchanged (ladle_model/evaluation/cache.py).
"""

from __future__ import annotations

import datetime
import logging
import time
from pathlib import Path

import numpy as np
import torch

from ladle_model.evaluation import metrics as M
from ladle_model.evaluation.cache import cached_report, evaluation_key, json_safe
from ladle_model.evaluation.tracks import EvalConfig, EvalTrack, EvaluationError, load_eval_pair, select_tracks
from ladle_model.evaluation.verdict import BASELINE, MODEL, headline, summarise
from ladle_model.inference.enhance import Enhancer, enhance_track, load_enhancer
from ladle_model.reports.evaluation import plot_spectrograms, write_evaluation_report
from ladle_model.runs.folder import EvalFiles, RunDir, resolve_checkpoint
from storage import catalog
from storage.atomic import write_json_atomic
from storage.config import code_version
from storage.presets import preset_lowest_cut_hz

__all__ = ["BASELINE", "MODEL", "EvalConfig", "EvalTrack", "evaluate_run", "load_eval_pair", "score", "select_tracks"]

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- metrics of one track


def score(
    lossless: np.ndarray,
    estimate: np.ndarray,
    sample_rate: int,
    cutoff_hz: float,
    feature_net,
    cfg: EvalConfig,
    device: torch.device | str = "cpu",
) -> tuple[dict[str, float], dict[str, str]]:
    """Every registered metric of `estimate` against `lossless`, both (2, T) at `sample_rate`: (values, n/a reasons) by key."""
    ctx = M.ScoreContext(
        sample_rate=sample_rate,
        cutoff_hz=cutoff_hz,
        feature_net=feature_net,
        device=device,
        visqol_excerpts=cfg.visqol_excerpts,
        visqol_excerpt_seconds=cfg.visqol_excerpt_seconds,
    )
    return M.score_all(lossless, estimate, ctx)


def evaluate_track(
    item: EvalTrack,
    enhancer: Enhancer,
    phi,
    cfg: EvalConfig,
    context: dict,
    files: EvalFiles,
    figure: bool = False,
    trained_on: bool = False,
) -> tuple[list[dict], dict | None]:
    """Restore one track and score the output and the input: ([input row, model row], spectrogram figure or None).

    Each row holds every metric, and `notes`: why a metric is n/a for this track (too short, failed).
    """
    spec = enhancer.spec_for(context["preset"])  # a multi-preset model: this preset's codec rate
    device = next(iter(enhancer.model.parameters()), torch.empty(0)).device
    lossless, lossy, model_input = load_eval_pair(item, spec)
    restored = enhance_track(
        enhancer.model,
        model_input,
        spec,
        cfg.batch_size,
        n_output=lossless.shape[-1],
        lowest_cut_hz=preset_lowest_cut_hz(context["preset"]),
    )
    cutoff_hz = M.estimate_cutoff_hz(lossless, lossy, spec.sample_rate)
    title = item.track.title or Path(item.track.path).stem
    context = {
        "track_id": item.track.track_id,
        "title": title,
        "split": item.track.split,
        "preset": context["preset"],
        "duration_s": lossless.shape[-1] / spec.sample_rate,
        "cutoff_hz": cutoff_hz,
        "trained_on": trained_on,
        **context,
    }
    rows = []
    for system, estimate in ((BASELINE, lossy), (MODEL, restored)):
        values, reasons = score(lossless, estimate, spec.sample_rate, cutoff_hz, phi, cfg, device)
        rows.append({**context, "system": system, **values, "notes": "; ".join(reasons.values())})
    excerpts = M.active_excerpts(lossless, spec.sample_rate, 3, cfg.spectrogram_seconds) if figure else []
    if not excerpts:
        return rows, None
    start, stop = excerpts[len(excerpts) // 2]
    name = files.spectrogram_name(item.track.track_id)
    caption = f"{title} ({context['preset']}, {start / spec.sample_rate:.1f}-{stop / spec.sample_rate:.1f} s)"
    plot_spectrograms(
        files.root / name,
        {"lossless": lossless, "lossy input": lossy, "restored": restored},
        spec.sample_rate,
        start,
        stop,
        caption,
        cutoff_hz,
    )
    return rows, {"track_id": item.track.track_id, "path": name, "title": caption}


# ----------------------------------------------------------------------------- what the run was trained on


def training_tracks(data_dir: str | Path, enhancer: Enhancer) -> tuple[set[str], str]:
    """(ids of DATA's tracks the model was trained on, that in words).

    A dataset's train split is the catalog's train tracks (splits are a hash of the track id), so when
    DATA holds the run's dataset version its train-split tracks were trained on; when it does not,
    DATA is another library and none were.
    """
    from storage.manifest import list_datasets

    versions = enhancer.dataset_versions
    here = [m for m in list_datasets(str(data_dir)) if m.version in versions]
    if not here:
        named = ", ".join(versions) or "unrecorded"
        return set(), f"none of these tracks: its training dataset ({named}) is not in this data folder"
    presets = {m.preset for m in here}
    passed = {
        row["track_id"] for row in catalog.read_rows(data_dir, "pairs") if row["preset"] in presets and row["passed"]
    }
    ids = {
        row["track_id"]
        for row in catalog.read_rows(data_dir, "tracks")
        if row["split"] == "train" and row["track_id"] in passed
    }
    return ids, f"the train split of dataset {', '.join(m.version for m in here)} in this data folder"


# ----------------------------------------------------------------------------- the feature net


def feature_net_path(run_dir: str | Path, cfg: EvalConfig) -> Path | None:
    """phi for the perceptual metric: the configured file, else the run's own when it has one."""
    if cfg.feature_net:
        if not Path(cfg.feature_net).is_file():
            raise FileNotFoundError(f"no feature net at {cfg.feature_net}")
        return Path(cfg.feature_net)
    path = RunDir(run_dir).feature_net
    return path if path.is_file() else None


# ----------------------------------------------------------------------------- the whole evaluation


def run_checkpoint(run_dir: str | Path, which: str) -> Path:
    """The checkpoint an evaluation scores: "best" / "last" of the run folder, or a checkpoint file's path."""
    return RunDir(run_dir).checkpoint(which) if which in ("best", "last") else resolve_checkpoint(which)


def check_run_checkpoint(run_dir: str, which: str = "best") -> str:
    """The checkpoint `run_dir` (a folder or an s3:// URL) would be evaluated with; FileNotFoundError (one line) when none.

    For the CLI, before any flow run: a run folder without a checkpoint is a usage error, not a traceback.
    """
    from storage import fs

    if which not in ("best", "last") or not fs.is_remote(run_dir):
        return str(run_checkpoint(run_dir, which))
    layout = RunDir("")  # the relative names of a run folder's checkpoints
    names = [layout.best, layout.last] if which == "best" else [layout.last]
    remote, root = fs.filesystem(run_dir)
    for name in names:
        if remote.exists(f"{root}/{name.as_posix()}"):
            return fs.join(run_dir, name.as_posix())
    raise FileNotFoundError(
        f"no checkpoint in run folder {run_dir} (looked for {' / '.join(n.name for n in names)} in checkpoints/)"
    )


def presets_missing(data_dir: str | Path, presets: list[str]) -> list[str]:
    """The `presets` DATA's catalog has no encode of (an evaluation of them there has nothing to score)."""
    found = {row["preset"] for row in catalog.read_rows(data_dir, "encodes")}
    return [p for p in presets if p not in found]


def run_presets(run_dir: str | Path, which: str = "best") -> list[str]:
    """The presets the run's checkpoint was trained on (several for a multi-preset model)."""
    from ladle_model.runs.checkpoint import checkpoint_presets, load_checkpoint

    return checkpoint_presets(load_checkpoint(run_checkpoint(run_dir, which)))


def evaluate_tracks(
    tracks: list[EvalTrack],
    enhancer: Enhancer,
    phi,
    cfg: EvalConfig,
    context: dict,
    files: EvalFiles,
    trained_ids: set[str],
    progress: bool = False,
) -> tuple[list[dict], list[dict], list[dict]]:
    """(rows, figures, failed): every track restored and scored; a track that fails is noted and the others go on."""
    rows, figures, failed = [], [], []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tracks), unit="track", desc=f"evaluate {context['preset']}", dynamic_ncols=True)
    for item in tracks:
        try:
            track_rows, figure = evaluate_track(
                item,
                enhancer,
                phi,
                cfg,
                context,
                files,
                figure=len(figures) < cfg.n_spectrograms,
                trained_on=item.track.track_id in trained_ids,
            )
        except Exception as e:  # noqa: BLE001  one unreadable or odd track must never sink the evaluation
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            log.warning("could not evaluate %s: %s", item.track.path, reason)
            failed.append(
                {
                    "track_id": item.track.track_id,
                    "title": item.track.title or Path(item.track.path).stem,
                    "reason": f"{type(e).__name__}: {reason}",
                }
            )
        else:
            rows += track_rows
            figures += [figure] if figure else []
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if not rows:
        raise EvaluationError(
            f"none of the {len(tracks)} track(s) could be evaluated; the first: "
            f"{failed[0]['title']}: {failed[0]['reason']}"
        )
    return rows, figures, failed


def evaluate_run(
    run_dir: str | Path,
    data_dir: str | Path,
    preset: str | None = None,
    cfg: EvalConfig | None = None,
    progress: bool = False,
    enhancer: Enhancer | None = None,
) -> dict:
    """Evaluate RUN_DIR's checkpoint on whole tracks of `preset` (default: the run's own) and write the report.

    Returns the report as a dict (JSON-able): summary, per-track rows, headline, paths, tracks that
    failed. Raises EvaluationError only when every track failed.
    """
    from ladle_model.losses.perceptual import load_feature_net

    cfg = cfg or EvalConfig()
    run_dir, started = Path(run_dir), time.perf_counter()
    checkpoint = run_checkpoint(run_dir, cfg.checkpoint)
    enhancer = enhancer or load_enhancer(checkpoint, device=cfg.device, window_seconds=cfg.window_seconds)
    preset = preset or next(iter(enhancer.presets), None)
    if not preset:
        raise ValueError(f"{checkpoint} does not record its dataset's preset: name one")
    tracks, split = select_tracks(data_dir, preset, cfg.split, cfg.max_tracks)
    trained_ids, trained_on = training_tracks(data_dir, enhancer)
    phi_path = feature_net_path(run_dir, cfg)
    files = RunDir(run_dir).eval_files(preset)
    key = evaluation_key(checkpoint, phi_path, tracks, preset, cfg, sorted(trained_ids))
    cached = cached_report(files, key)
    if cached is not None:
        log.info("evaluation of %s on %s is up to date (%s)", run_dir, preset, files.root)
        # the folder as found now (a run folder moved, or mirrored on another machine), not as recorded
        return {
            **cached,
            "run_dir": str(run_dir),
            "folder": str(files.root),
            "reused": True,
            "paths": {name: str(path) for name, path in files.reports.items()},
        }

    device = next(iter(enhancer.model.parameters()), torch.empty(0)).device
    phi = load_feature_net(phi_path, map_location=device) if phi_path else None
    context = {
        "preset": preset,
        "model_name": enhancer.model_name,
        "step": enhancer.step,
        "dataset_version": enhancer.dataset_version,
    }
    rows, figures, failed = evaluate_tracks(tracks, enhancer, phi, cfg, context, files, trained_ids, progress)

    spec = enhancer.spec_for(preset)
    summary = summarise(rows)
    n_trained = len({r["track_id"] for r in rows if r["trained_on"]})
    report = {
        "key": key,
        "run_dir": str(run_dir),
        "preset": preset,
        "split": split,
        "checkpoint": str(checkpoint),
        "model_name": enhancer.model_name,
        "step": enhancer.step,
        "dataset_version": enhancer.dataset_version,
        "dataset": enhancer.dataset,
        "feature_net": str(phi_path) if phi_path else None,
        "sample_rate": spec.sample_rate,
        "window_seconds": spec.window_samples / spec.sample_rate,
        "hop_seconds": spec.hop_samples / spec.sample_rate,
        "n_tracks": len(rows) // 2,
        "n_trained_on": n_trained,
        "trained_on": trained_on,
        "failed": failed,
        "audio_seconds": float(sum(r["duration_s"] for r in rows if r["system"] == MODEL)),
        "config": cfg.to_dict(),
        "summary": summary,
        "headline": headline(summary),
        "rows": rows,
        "spectrograms": figures,
        "folder": str(files.root),
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "seconds": time.perf_counter() - started,
    }
    report["paths"] = write_evaluation_report(report)
    write_json_atomic(files.eval_json, json_safe(report))  # last: its key marks the evaluation complete
    return {**json_safe(report), "reused": False}
