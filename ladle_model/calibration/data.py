"""The music a restorer's fill gains are calibrated on, and the two ways in: after training and `ladle calibrate`.

    excerpts = val_track_excerpts("data", ["mp3-64"], 44100, layout=(1024, 256))   # [(preset, lossless, lossy, cut), ...]
    calibrate_on_data("runs/x", "data")                                             # ladle calibrate runs/x --data data

5-s excerpts of the val split's whole tracks, each with the codec cut of its whole lossy track
(ladle_model/models/bandwidth.py), decoded and aligned as evaluation does; where those cannot be read,
segments of the val shards. How they are scored: ladle_model/calibration/search.py; what is written: ladle_model/calibration/calibrate.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ladle_model.calibration.budget import excerpts_within
from ladle_model.calibration.calibrate import calibratable, calibrate_run, reuse_calibration
from ladle_model.calibration.record import Calibration
from ladle_model.evaluation.tracks import select_tracks
from ladle_model.models.bandwidth import stft_layout, track_bandwidth
from ladle_model.runs.checkpoint import load_checkpoint, model_from_checkpoint
from ladle_model.runs.folder import RunDir

if TYPE_CHECKING:
    from ladle_model.data.selection import TrainingData

log = logging.getLogger(__name__)

MAX_SEGMENTS = 24  # ~0.7 CPU-s of ViSQOL per segment-second and setting: a few minutes on 2 cores
# At most this many 5-s excerpts are scored per val track, spread over its active audio (its opening, middle
# and end). One, its opening alone, chose half of the fill on MP3 64 kbps where held-out music gained most from
# all of it (+0.036 ViSQOL against +0.114 when three chose it, same weights: BENCHMARKS.md, "Quality: variants left out").
EXCERPTS_PER_TRACK = 3
# 5-s excerpts scored per preset (the ViSQOL time), spread over as many of its val tracks as there are, up to
# one each: pieces differ more from each other than one piece's parts do (on the benchmark's 4 val and 6
# held-out works per preset, the two disagreed about the fill above the cut by more than the choice was worth).
EXCERPTS_PER_PRESET = 12


def excerpt_counts(
    n_tracks: int, per_preset: int = EXCERPTS_PER_PRESET, per_track: int = EXCERPTS_PER_TRACK
) -> list[int]:
    """Excerpts to score of each of a preset's `n_tracks` val tracks (in order; 0: not scored): `per_preset` in
    all (fewer where `per_track` each is less), spread as evenly as they go, the first tracks taking one more.

        excerpt_counts(4)  # [3, 3, 3, 3]       excerpt_counts(8)  # [2, 2, 2, 2, 1, 1, 1, 1]
    """
    if per_preset < 1 or per_track < 1:
        raise ValueError(f"excerpts per preset and per track must be at least 1, got {per_preset} and {per_track}")
    scored = min(n_tracks, per_preset)
    total = min(per_preset, per_track * scored)
    return [total // scored + (i < total % scored) if i < scored else 0 for i in range(n_tracks)]


def val_track_excerpts(
    data_dir,
    presets: list[str],
    sample_rate: int,
    per_preset: int = EXCERPTS_PER_PRESET,
    seconds: float = 5.0,
    layout: tuple[int, int] | None = None,
    per_track: int = EXCERPTS_PER_TRACK,
) -> list[tuple[str, torch.Tensor, torch.Tensor, float | None]]:
    """(preset, lossless, lossy, bandwidth) excerpts of `seconds` of active audio: `per_preset` per preset, spread
    over its val-split tracks (in track-id order) by `excerpt_counts`, at most `per_track` of each (evenly spread
    over its active audio, the first its first active excerpt; a track too short for them gives fewer);
    bandwidth: the codec cut of the excerpt's whole lossy track, measured with the
    model's STFT `layout` (n_fft, hop) as `ladle enhance` measures it (None without a layout).

    Decoded and aligned as evaluation does (ladle_model/evaluation/evaluate.py), so the gain is chosen on the
    excerpt length ViSQOL is reported on: one-second shard segments give it too few patches to rank gains.
    """
    from ladle_model.evaluation.visqol import active_excerpts
    from storage.config import SegmentConfig
    from storage.segment import load_pair

    excerpts = []
    for preset in presets:
        try:
            tracks, _ = select_tracks(data_dir, preset, "val", max_tracks=per_preset)  # more would score none
        except (FileNotFoundError, ValueError):  # no val track of this preset
            continue
        for item, count in zip(tracks, excerpt_counts(len(tracks), per_preset, per_track)):
            pair = load_pair(
                item.track, item.encoded, item.alignment, SegmentConfig(strategy="resample", sample_rate=sample_rate)
            )
            bandwidth = track_bandwidth(pair.lossy, *layout) if layout is not None else None
            for start, stop in active_excerpts(pair.lossless, sample_rate, count, seconds):
                excerpts.append(
                    (
                        preset,
                        torch.from_numpy(np.ascontiguousarray(pair.lossless[:, start:stop], np.float32)),
                        torch.from_numpy(np.ascontiguousarray(pair.lossy[:, start:stop], np.float32)),
                        bandwidth,
                    )
                )
    return excerpts


def pick_segments(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]], n_total: int, n_pick: int = MAX_SEGMENTS
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Up to `n_pick` (lossless, lossy) segments, (2, L) each, evenly spread over `n_total` of them (every preset's)."""
    stride = max(1, n_total // max(n_pick, 1))
    picked, index = [], 0
    for lossless, lossy in batches:
        for b in range(lossless.shape[0]):
            if index % stride == 0 and len(picked) < n_pick:
                picked.append((lossless[b].float().cpu(), lossy[b].float().cpu()))
            index += 1
    return picked


def calibrate_on_data(
    run_dir: str | Path,
    data_dir: str | Path,
    again: bool = False,
    per_track: int = EXCERPTS_PER_TRACK,
    per_preset: int = EXCERPTS_PER_PRESET,
) -> Calibration | None:
    """Calibrate the run's best.pt (`ladle calibrate`) on the val tracks of `data_dir` for the presets it was trained on,
    `per_preset` excerpts of each preset, at most `per_track` of each track (`val_track_excerpts`; more music scored:
    a steadier choice, for as many times the ViSQOL time).

    None for a model without fill gains. A best.pt this METHOD calibrated already is left as it is, and one
    an older method that scored alike calibrated gets only its table rebuilt, unless `again` (say, after
    more val music was added to the data folder). A ValueError says why nothing can be
    scored (no val track of those presets under `data_dir`).
    """
    from ladle_model.runs.checkpoint import checkpoint_datasets

    run = RunDir(run_dir)
    ckpt = load_checkpoint(run.checkpoint("best"))
    model = model_from_checkpoint(ckpt)
    if not calibratable(model):
        return None
    if not again and (reused := reuse_calibration(run, ckpt)) is not None:
        return reused  # nothing to score: no val music decoded
    datasets = checkpoint_datasets(ckpt)
    presets = [d["preset"] for d in datasets if d.get("preset")]
    sample_rate = int(datasets[0].get("sample_rate") or 0)
    if not presets or not sample_rate:
        raise ValueError(f"{run.root}'s checkpoint records no dataset (preset and rate) to calibrate on")
    segments, labels, bandwidths = unzip_excerpts(
        val_track_excerpts(
            data_dir, presets, sample_rate, layout=stft_layout(model), per_track=per_track, per_preset=per_preset
        )
    )
    if not segments:
        raise ValueError(f"no val-split track of {', '.join(presets)} under {data_dir} to calibrate on")
    return calibrate_run(
        run, segments, sample_rate, "val-track excerpts", labels=labels, bandwidths=bandwidths, again=True, ckpt=ckpt
    )  # `again`: reuse_calibration was asked above


def unzip_excerpts(
    excerpts: list[tuple[str, torch.Tensor, torch.Tensor, float | None]],
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[str], list[float] | None]:
    """`val_track_excerpts`' items as `calibrate_run` takes them: (segments, labels, bandwidths; None if unmeasured)."""
    bandwidths = [b for *_, b in excerpts]
    return (
        [(y, x) for _, y, x, _ in excerpts],
        [p for p, *_ in excerpts],
        None if any(b is None for b in bandwidths) else bandwidths,
    )


def calibrate_after_training(
    run_dir: str | Path,
    data_dir: str | Path,
    data: TrainingData,
    batch_size: int,
    crop_samples: int | None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.time,
) -> dict | None:
    """Choose the fill gains of a trained run's best.pt on its validation split; None when the model has none.

    `data` are the run's dataset versions; `batch_size` and `crop_samples` read the val shards as training did.
    Scored on 5-s excerpts of the val split's whole tracks, as many per preset as the time to `deadline` can score
    (`excerpts_within`); where those cannot be read (a data folder without its encodes), on the val shards' segments. No ViSQOL call is started that would end past `deadline` (on
    `clock`): the choice is made among what was scored by then (ladle_model/calibration/search.py).
    """
    from ladle_model.data.loader import make_loader

    run = RunDir(run_dir)
    ckpt = load_checkpoint(run.checkpoint("best"))
    model = model_from_checkpoint(ckpt)
    if not calibratable(model):
        return None
    if (reused := reuse_calibration(run, ckpt)) is not None:  # a re-run that trained no further: no val music decoded
        return asdict(reused)
    labels: list[str] | None = None
    bandwidths: list[float] | None = None
    per_preset = EXCERPTS_PER_PRESET
    if deadline is not None:  # as many as the time left can score: every preset gets a choice within the budget
        per_preset = excerpts_within(deadline - clock(), len(data.presets), most=EXCERPTS_PER_PRESET)
        log.info("calibration: %d val excerpts per preset fit the %.0f s left", per_preset, deadline - clock())
    try:
        excerpts = val_track_excerpts(
            data_dir, data.presets, data.sample_rate, per_preset=per_preset, layout=stft_layout(model)
        )
        source = "val-track excerpts"
        segments, labels, bandwidths = unzip_excerpts(excerpts)
    except (OSError, RuntimeError, ValueError) as e:
        log.info(
            "val tracks unreadable for calibration (%s): using the val shards' segments",
            str(e).splitlines()[0] if str(e) else type(e).__name__,
        )
        segments = []
    if not segments:
        val_shards = data.shard_paths("val")
        if not val_shards:
            return None
        batches = make_loader(val_shards, batch_size, train=False, crop_samples=crop_samples, num_workers=0)
        segments, source = pick_segments(batches, data.n_segments("val")), "val segments"
        labels, bandwidths = None, None  # presets unknown: one group; no whole tracks: each segment's own reading
    result = calibrate_run(  # `again`: reuse_calibration was asked above
        run, segments, data.sample_rate, source, labels, bandwidths, True, ckpt, deadline=deadline, clock=clock
    )
    return asdict(result) if result is not None else None
