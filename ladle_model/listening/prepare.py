"""Prepare a listening test: excerpts of the test split, every condition rendered, loudness-matched and written.

    test = prepare_test("runs/ladle", "data", ListenConfig(n_excerpts=8, compare=["runs/other"]))
    test.trials[0].stimuli["ladle"].file        # "stimuli/e01/ladle.wav": conditions are named after the run folders

For each preset (default: the one the run was trained on) the test split's whole tracks are read as
the evaluation reads them (ladle_model/evaluation/evaluate.py: `select_tracks`, `load_eval_pair`), N active
excerpts are chosen (excerpts.py), each run restores the whole lossy track (ladle_model/inference/windows.py,
so an excerpt's edges see the same context as in evaluation) and the excerpt is cut from:

    reference   the lossless original (hidden; also the labelled reference)
    lossy       the untouched lossy input, aligned: the anchor (also labelled on the ladle scale)
    RUN name    the run's restored output; one more condition per --compare run

Every stimulus of a trial gets the same short fade at its ends and then one gain to a common
BS.1770 loudness (loudness.py). LSD, SNR and (optionally) ViSQOL of each condition against the
reference are computed on the excerpt before fade and gain, as the evaluation would. test.json is
written last and keyed by the checkpoints, the tracks and the settings: preparing again with nothing
changed reuses it, so the stimulus ids (and a listener's progress) stay the same.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ladle_model.evaluation.tracks import load_eval_pair, select_tracks
from ladle_model.listening.blind import stimulus_id
from ladle_model.listening.excerpts import Excerpt, candidate_excerpts, check_excerpt_seconds, pick_excerpts
from ladle_model.listening.layout import (
    LOSSY,
    REFERENCE,
    SCALES,
    ListeningFiles,
    ListeningTest,
    Stimulus,
    Trial,
    read_test,
    write_test,
)
from ladle_model.listening.loudness import fade_edges, match_loudness
from storage.atomic import atomic_path
from storage.config import stable_hash
from storage.presets import preset_lowest_cut_hz

log = logging.getLogger(__name__)

# bump when what a stimulus holds changes: prepared tests are redone. 2: restored at the cut measured over the track;
# 3: SpecNeXt's noise fill follows each window's place in the track.
PREPARE_VERSION = 3


@dataclass
class ListenConfig:
    presets: list[str] = field(default_factory=list)  # empty: the preset the run was trained on
    compare: list[str] = field(default_factory=list)  # more run folders, one condition each
    n_excerpts: int = 8
    excerpt_seconds: float = 8.0
    scale: str = "ladle"  # ladle (-5..+5 against the lossy input) | mushra (0..100, ITU-R BS.1534)
    visqol: bool = True  # ViSQOL per excerpt and condition (about 0.7 s of CPU per second of audio)
    checkpoint: str = "best"
    device: str = "auto"
    batch_size: int = 8

    def __post_init__(self) -> None:
        check_excerpt_seconds(self.excerpt_seconds)
        if self.n_excerpts < 1:
            raise ValueError(f"need at least one excerpt, got {self.n_excerpts}")
        if self.scale not in SCALES:
            raise ValueError(f"unknown scale {self.scale!r}; known: {', '.join(SCALES)}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def condition_names(run_dirs: list[str | Path]) -> list[str]:
    """One condition name per run: its folder's name, made safe and unique (never "reference" or "lossy")."""
    names: list[str] = []
    for run in run_dirs:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(run).resolve().name).strip("-.") or "run"
        name, i = base, 2
        while name in names or name in (REFERENCE, LOSSY):
            name, i = f"{base}-{i}", i + 1
        names.append(name)
    return names


def write_stimulus(path: Path, audio: np.ndarray, sample_rate: int, seed: int) -> Path:
    """(C, T) float as 16-bit PCM WAV (what every browser decodes) with TPDF dither of ±1 LSB, written atomically."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    scaled = np.asarray(audio, np.float64).T * 32767.0  # (T, C)
    dither = rng.random(scaled.shape) - rng.random(scaled.shape)  # triangular, ±1 LSB: no quantisation distortion
    pcm = np.clip(np.round(scaled + dither), -32768, 32767).astype(np.int16)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), pcm, sample_rate, subtype="PCM_16", format="WAV")
    return path


def excerpt_metrics(
    reference: np.ndarray, estimate: np.ndarray, sample_rate: int, visqol: bool
) -> dict[str, float | None]:
    """LSD, SNR (dB) and ViSQOL MOS-LQO of one excerpt against the reference (None where not computed)."""
    from ladle_model.evaluation import metrics as M

    row = {"lsd": float(M.lsd(reference, estimate)), "snr_db": float(M.snr_db(reference, estimate)), "visqol": math.nan}
    if visqol:
        row["visqol"] = float(M.visqol_moslqo(reference, estimate, sample_rate, 1, reference.shape[-1] / sample_rate))
    return {k: (v if math.isfinite(v) else None) for k, v in row.items()}


def render_trial(
    files: ListeningFiles, seed: str, excerpt: str, audio: dict[str, np.ndarray], sample_rate: int, labelled: list[str]
) -> tuple[dict[str, Stimulus], dict[str, Stimulus]]:
    """Fade, loudness-match and write one trial's conditions (name -> (C, T) excerpt); returns (hidden, labelled) stimuli."""
    faded = {c: fade_edges(x, sample_rate) for c, x in audio.items()}
    matched, report = match_loudness(faded, sample_rate)
    hidden, shown = {}, {}
    for c, x in matched.items():
        path = files.stimulus(excerpt, c)
        write_stimulus(path, x, sample_rate, seed=int(stable_hash([seed, excerpt, c]), 16))
        rel = path.relative_to(files.root).as_posix()
        loud, gain = report["loudness_lufs"][c], report["gain_db"][c]
        hidden[c] = Stimulus(stimulus_id(seed, excerpt, c), rel, loud if math.isfinite(loud) else None, gain)
        if c in labelled:  # the labelled copy plays the same file under another opaque id
            shown[c] = Stimulus(stimulus_id(seed, excerpt, f"labelled:{c}"), rel, hidden[c].loudness_lufs, gain)
    return hidden, shown


def prepare_test(run_dir: str | Path, data_dir: str | Path, cfg: ListenConfig | None = None) -> ListeningTest:
    """Prepare (or reuse) RUN/listening/ for `run_dir` on `data_dir`'s test split; returns the test."""
    from ladle_model.inference.enhance import enhance_track, load_enhancer
    from ladle_model.runs.folder import resolve_checkpoint
    from storage.align import resample

    cfg = cfg or ListenConfig()
    run_dirs = [Path(run_dir), *(Path(r) for r in cfg.compare)]
    for run in run_dirs:
        if not run.is_dir():
            raise FileNotFoundError(f"no run folder at {run}")
    checkpoints = [resolve_checkpoint(run, which=cfg.checkpoint) for run in run_dirs]
    enhancers = [load_enhancer(path, device=cfg.device) for path in checkpoints]
    names = condition_names(run_dirs)
    main = enhancers[0]
    sample_rate = main.spec.sample_rate
    presets = cfg.presets or [main.dataset.get("preset")]
    if not all(presets):
        raise ValueError(f"{checkpoints[0]} does not record its dataset's preset: name one with --preset")
    tracks = {p: select_tracks(data_dir, p, "test")[0] for p in presets}
    settings = {
        k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("device", "batch_size", "compare", "checkpoint")
    }
    key = stable_hash(
        [
            "listen",
            PREPARE_VERSION,
            [_sha256(c) for c in checkpoints],
            names,
            settings,
            {
                p: [(t.track.track_id, t.track.pcm_md5, t.encoded.encode_key, t.alignment.align_key) for t in ts]
                for p, ts in tracks.items()
            },
        ],
        n_chars=32,
    )
    files = ListeningFiles.of(run_dir)
    existing = read_test(files)
    if (
        existing is not None
        and existing.key == key
        and all((files.root / f).is_file() for f in existing.files_by_id().values())
    ):
        log.info("the listening test in %s is up to date", files.root)
        return existing

    seed = key
    labelled = [REFERENCE, LOSSY] if cfg.scale == "ladle" else [REFERENCE]
    trials: list[Trial] = []
    for preset in presets:
        items = {t.track.track_id: t for t in tracks[preset]}
        # first pass: candidate excerpts, one track in memory at a time
        candidates = {
            tid: candidate_excerpts(load_eval_pair(item, main.spec)[0], sample_rate, cfg.excerpt_seconds)
            for tid, item in items.items()
        }
        picks = pick_excerpts(candidates, cfg.n_excerpts)
        if not picks:
            raise ValueError(
                f"no {cfg.excerpt_seconds:g}-s excerpt of active audio in the {preset} test tracks of {data_dir}"
            )
        if len(picks) < cfg.n_excerpts:
            log.warning(
                "only %d excerpts of %g s in the %s test tracks (asked for %d)",
                len(picks),
                cfg.excerpt_seconds,
                preset,
                cfg.n_excerpts,
            )
        by_track: dict[str, list[Excerpt]] = {}
        for pick in picks:
            by_track.setdefault(pick.track_id, []).append(pick)
        for tid, excerpts in by_track.items():
            item = items[tid]
            lossless, lossy, _ = load_eval_pair(item, main.spec)
            restored = {}
            for name, enhancer in zip(names, enhancers):
                ref_k, _, model_input = load_eval_pair(item, enhancer.spec)
                out = enhance_track(
                    enhancer.model,
                    model_input,
                    enhancer.spec,
                    cfg.batch_size,
                    n_output=ref_k.shape[-1],
                    lowest_cut_hz=preset_lowest_cut_hz(preset),
                )
                out = resample(out, enhancer.spec.sample_rate, sample_rate)[:, : lossless.shape[-1]]
                restored[name] = np.pad(out, ((0, 0), (0, lossless.shape[-1] - out.shape[-1])))
            for ex in excerpts:
                excerpt = f"e{len(trials) + 1:02d}"
                cut = {REFERENCE: lossless, LOSSY: lossy, **restored}
                audio = {c: np.ascontiguousarray(x[:, ex.start : ex.stop]) for c, x in cut.items()}
                metrics = {
                    c: excerpt_metrics(audio[REFERENCE], x, sample_rate, cfg.visqol)
                    for c, x in audio.items()
                    if c != REFERENCE
                }
                hidden, shown = render_trial(files, seed, excerpt, audio, sample_rate, labelled)
                title = item.track.title or Path(item.track.path).stem
                trials.append(
                    Trial(
                        excerpt,
                        preset,
                        tid,
                        title,
                        ex.start / sample_rate,
                        (ex.stop - ex.start) / sample_rate,
                        hidden,
                        shown,
                        metrics,
                    )
                )
                log.info("prepared %s: %s %.1f-%.1f s", excerpt, title, ex.start / sample_rate, ex.stop / sample_rate)
    test = ListeningTest(
        key=key,
        scale=cfg.scale,
        sample_rate=sample_rate,
        seed=seed,
        run_dir=str(run_dir),
        runs={n: str(r) for n, r in zip(names, run_dirs)},
        conditions=[REFERENCE, LOSSY, *names],
        trials=trials,
        created_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    write_test(files, test)  # last: its key marks the stimuli complete
    return test
