"""Evaluate a trained run on whole test tracks, against the lossless original and against its own input.

    report = evaluate_run("runs/ladle", "data", "paper-32k", EvalConfig(max_tracks=5))
    report["headline"]   # "worse than the lossy input on MSE: 2.3e-04 vs 2.1e-04 (+9.5 %)", ...
    ladle evaluate --run runs/ladle --data data --preset paper-32k     # the same through the flow

For each test track of the catalog (the val split when the test split is empty, with a warning) the
lossless audio and its lossy encode are decoded and aligned as the corpus builder does
(storage.segment.load_pair), the model restores the whole lossy track in crossfaded windows
(ladle_model/enhance.py), and every metric of ladle_model/metrics.py is computed twice: for the
model's output and for the untouched lossy input, the baseline every model must beat (DESIGN.md).
The report goes to RUN_DIR/eval/{preset}/:

    report.md, report.html      mean and per-track tables, model vs input, the verdict in words
    tracks.parquet              one row per (track, system) with every metric
    spectrograms/{track}.png    lossless / lossy / restored over one excerpt (as Fig. 3 of the residual-unit paper)
    eval.json                   the summary and the content key; written last

A finished evaluation is reused while its key (checkpoint bytes, feature net bytes, the tracks and
their encodes, the config) is unchanged.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import html
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ladle_model import metrics as M
from ladle_model.enhance import Enhancer, enhance_array, load_enhancer, resolve_checkpoint
from storage import catalog
from storage.align import Alignment, resample
from storage.atomic import atomic_path, write_bytes_atomic, write_json_atomic
from storage.config import ConfigError, SegmentConfig, code_version, config_from_dict, stable_hash
from storage.encode import Encoded
from storage.ingest import Track
from storage.segment import load_pair

log = logging.getLogger(__name__)

EVAL_VERSION = 1  # bump when a metric or the report changes what it writes: cached evaluations are redone
BASELINE = "lossy input"
MODEL = "model"

# (column, name in the report, which way is better)
METRICS: tuple[tuple[str, str, str], ...] = (
    ("mse", "MSE", "lower"),
    ("perceptual", "perceptual loss", "lower"),
    ("snr_db", "SNR (dB)", "higher"),
    ("si_sdr_db", "SI-SDR (dB)", "higher"),
    ("lsd", "LSD", "lower"),
    ("lsd_hf", "LSD above cutoff", "lower"),
    ("visqol", "ViSQOL MOS-LQO", "higher"),
)
METRIC_NAMES = {key: name for key, name, _ in METRICS}
HIGHER_IS_BETTER = {key: way == "higher" for key, _, way in METRICS}


@dataclass
class EvalConfig:
    split: str = "test"  # falls back to val (with a warning) when the test split has no track
    max_tracks: int | None = None  # the first N tracks by track id (None: all)
    checkpoint: str = "best"  # "best" (best.pt, else last.pt), "last", or a checkpoint path
    feature_net: str | None = None  # phi for the perceptual metric (None: RUN_DIR/feature_net.pt when there)
    batch_size: int = 8  # windows per forward pass
    window_seconds: float | None = None  # None: the training segment (see enhance.spec_from_checkpoint)
    visqol_excerpts: int = 3  # excerpts of active audio per track for ViSQOL (0: skip ViSQOL)
    visqol_excerpt_seconds: float = 5.0
    n_spectrograms: int = 3  # tracks with a spectrogram figure
    spectrogram_seconds: float = 5.0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.split not in ("train", "val", "test"):
            raise ConfigError(f"EvalConfig.split must be train, val or test, got {self.split!r}")
        if self.max_tracks is not None and self.max_tracks < 1:
            raise ConfigError(f"EvalConfig.max_tracks must be >= 1 or None, got {self.max_tracks}")
        if self.batch_size < 1 or self.visqol_excerpts < 0 or self.n_spectrograms < 0:
            raise ConfigError("batch_size must be >= 1; visqol_excerpts and n_spectrograms >= 0")
        if self.visqol_excerpt_seconds <= 0 or self.spectrogram_seconds <= 0:
            raise ConfigError("excerpt lengths must be > 0")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"EvalConfig.device must be auto, cpu or cuda, got {self.device!r}")

    @classmethod
    def from_dict(cls, d: dict) -> EvalConfig:
        return config_from_dict(cls, d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EvalTrack:
    track: Track
    encoded: Encoded
    alignment: Alignment


# ----------------------------------------------------------------------------- which tracks


def select_tracks(data_dir: str | Path, preset: str, split: str = "test", max_tracks: int | None = None) -> tuple[list[EvalTrack], str]:
    """The catalog's tracks of `split` that have an encode and a passing alignment for `preset`.

    From the latest ingest's tracks table (splits are stable: a hash of the track id). When `split` is
    "test" and it has none, the val split instead, with a warning. Returns (tracks by id, split used).
    """
    tracks = [Track(**row) for row in catalog.read_rows(data_dir, "tracks")]
    if not tracks:
        raise FileNotFoundError(f"no tracks in the catalog under {data_dir} (build the corpus first)")
    encodes = {row["track_id"]: Encoded(**row) for row in catalog.read_rows(data_dir, "encodes") if row["preset"] == preset}
    pairs = {row["track_id"]: Alignment(**row) for row in catalog.read_rows(data_dir, "pairs") if row["preset"] == preset and row["passed"]}
    if not encodes:
        raise FileNotFoundError(f"no {preset} encodes in the catalog under {data_dir} (build the corpus with --preset {preset})")

    def usable(name: str) -> list[EvalTrack]:
        found = [EvalTrack(t, encodes[t.track_id], pairs[t.track_id]) for t in sorted(tracks, key=lambda t: t.track_id)
                 if t.split == name and t.track_id in encodes and t.track_id in pairs]
        return found[:max_tracks] if max_tracks else found

    chosen, used = usable(split), split
    if not chosen and split == "test":
        log.warning("the test split of %s has no %s track: evaluating on the val split instead", data_dir, preset)
        chosen, used = usable("val"), "val"
    if not chosen:
        raise ValueError(f"no {used} track with a {preset} encode in {data_dir}")
    return chosen, used


def load_eval_pair(item: EvalTrack, spec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lossless, lossy baseline, model input): the first two (2, T) at the model's rate R, aligned; the
    model input laid out for its strategy (the aligned lossy at R, or at the codec rate it was trained on)."""
    pair = load_pair(item.track, item.encoded, item.alignment, SegmentConfig(strategy="resample", sample_rate=spec.sample_rate))
    if spec.strategy == "resample":
        return pair.lossless, pair.lossy, pair.lossy
    native = load_pair(item.track, item.encoded, item.alignment, SegmentConfig(strategy=spec.strategy, sample_rate=spec.sample_rate))
    return pair.lossless, pair.lossy, resample(native.lossy, native.lossy_rate, spec.input_rate)


# ----------------------------------------------------------------------------- metrics of one track


def score(lossless: np.ndarray, estimate: np.ndarray, sample_rate: int, cutoff_hz: float, feature_net, cfg: EvalConfig,
          device: torch.device | str = "cpu") -> dict[str, float]:
    """Every metric of `estimate` against `lossless`, both (2, T) at `sample_rate`."""
    row = {
        "mse": M.mse(lossless, estimate),
        "perceptual": M.perceptual_distance(lossless, estimate, feature_net, device=device) if feature_net is not None else float("nan"),
        "snr_db": M.snr_db(lossless, estimate),
        "si_sdr_db": M.si_sdr_db(lossless, estimate),
        "lsd": M.lsd(lossless, estimate),
        "lsd_hf": M.lsd_hf(lossless, estimate, cutoff_hz, sample_rate),
        "visqol": float("nan"),
    }
    if cfg.visqol_excerpts > 0:
        row["visqol"] = M.visqol_moslqo(lossless, estimate, sample_rate, cfg.visqol_excerpts, cfg.visqol_excerpt_seconds)
    return {k: float(v) for k, v in row.items()}


# ----------------------------------------------------------------------------- summary and verdict


def _finite(v) -> bool:
    return v is not None and math.isfinite(v)


def _finite_mean(values: list[float]) -> float:
    finite = [v for v in values if _finite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def verdict(metric: str, baseline: float, model: float) -> str:
    """"better than the input" / "worse than the input" / "same as the input" / "n/a" for one metric."""
    if not (_finite(baseline) and _finite(model)):
        return "n/a"
    if model == baseline:
        return "same as the input"
    better = model > baseline if HIGHER_IS_BETTER[metric] else model < baseline
    return "better than the input" if better else "worse than the input"


def summarise(rows: list[dict]) -> list[dict]:
    """Mean of each metric over tracks for the input and the model, their difference and the verdict."""
    summary = []
    for key, name, way in METRICS:
        base = _finite_mean([r[key] for r in rows if r["system"] == BASELINE])
        model = _finite_mean([r[key] for r in rows if r["system"] == MODEL])
        delta = model - base
        relative = delta / abs(base) if _finite(delta) and base != 0 else float("nan")
        summary.append({"metric": key, "name": name, "better_when": way, "lossy_input": base, "model": model,
                        "difference": delta, "relative": relative, "verdict": verdict(key, base, model)})
    return summary


def headline(summary: list[dict]) -> str:
    """One plain sentence: better or worse than the input on MSE, then the count over all metrics."""
    by_key = {s["metric"]: s for s in summary}
    mse = by_key["mse"]
    judged = [s for s in summary if s["verdict"] != "n/a"]
    better = [s["name"] for s in judged if s["verdict"].startswith("better")]
    worse = [s["name"] for s in judged if s["verdict"].startswith("worse")]
    first = (f"The model is {mse['verdict'].replace('the input', 'its lossy input')} on MSE: "
             f"{_fmt(mse['model'])} vs {_fmt(mse['lossy_input'])} ({_pct(mse['relative'])})")
    return f"{first}; better on {len(better)} of {len(judged)} metrics" + (f" ({', '.join(better)})" if better else "") + (
        f", worse on {', '.join(worse)}" if worse else "") + "."


def _fmt(v: float | None) -> str:
    if not _finite(v):
        return "n/a"
    if v == 0:
        return "0"
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.2e}"


def _pct(v: float | None) -> str:
    return f"{v:+.1%}" if _finite(v) else "n/a"


# ----------------------------------------------------------------------------- figures


def excerpt_spectrogram_db(audio: np.ndarray, start: int, stop: int, n_fft: int = M.LSD_N_FFT, hop: int = M.LSD_HOP) -> np.ndarray:
    """(bins, frames) power in dB of the mono mix, frames centred on start, start + hop, ... < stop.

    Frames near the excerpt's edges read the audio around it (zeros only past the track's ends), so
    the edges show no false onset. The LSD's STFT: periodic Hann, power clamped at 1e-8.
    """
    mono = audio.mean(axis=0).astype(np.float64)
    half = n_fft // 2
    lo, hi = start - half, stop + half
    piece = np.zeros(hi - lo)
    piece[max(-lo, 0) : max(-lo, 0) + len(mono[max(lo, 0) : hi])] = mono[max(lo, 0) : hi]
    frames = np.lib.stride_tricks.sliding_window_view(piece, n_fft)[: stop - start : hop]  # (frames, n_fft)
    spectrum = np.fft.rfft(frames * M._periodic_hann(n_fft), axis=1)
    return 10 * np.log10(np.maximum(spectrum.real**2 + spectrum.imag**2, M.POWER_FLOOR)).T


def plot_spectrograms(path: Path, tracks: dict[str, np.ndarray], sample_rate: int, start: int, stop: int, title: str,
                      cutoff_hz: float) -> Path:
    """Log-power spectrograms of one excerpt of each (C, T) track in `tracks` (name -> audio), stacked,
    on one colour scale that reaches down to the lossless track's noise floor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spectra = {name: excerpt_spectrogram_db(audio, start, stop) for name, audio in tracks.items()}
    first = next(iter(spectra.values()))
    vmax = max(float(s.max()) for s in spectra.values())
    vmin = float(np.clip(np.percentile(first, 5), vmax - 120, vmax - 60))
    extent = (start / sample_rate, stop / sample_rate, 0, sample_rate / 2000)
    fig, axes = plt.subplots(len(spectra), 1, figsize=(9, 2.6 * len(spectra) + 0.6), sharex=True, sharey=True, squeeze=False)
    for ax, (name, spectrum) in zip(axes[:, 0], spectra.items()):
        image = ax.imshow(spectrum, origin="lower", aspect="auto", extent=extent, vmin=vmin, vmax=vmax, cmap="magma",
                          interpolation="nearest")
        if cutoff_hz is not None and math.isfinite(cutoff_hz):
            ax.axhline(cutoff_hz / 1000, color="white", ls="--", lw=0.8)
        ax.set_title(name, fontsize=10, loc="left")
        ax.set_ylabel("kHz")
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(title, fontsize=11)
    fig.colorbar(image, ax=axes[:, 0].tolist(), label="power (dB)", shrink=0.8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- the report


def _track_label(row: dict) -> str:
    return row.get("title") or row["track_id"]


def report_markdown(report: dict, embed_images: bool = False) -> str:
    """The report as Markdown; images as relative links, or embedded as data: URIs (for a Prefect artifact)."""
    folder = Path(report["folder"])
    ds = report.get("dataset", {})
    lines = [
        f"# Evaluation of `{Path(report['run_dir']).name}` on {report['preset']}",
        "",
        f"**{report['headline']}**",
        "",
        f"- model: {report['model_name']} at step {report['step']}, checkpoint `{report['checkpoint']}`",
        f"- trained on dataset `{report['dataset_version']}` ({ds.get('preset')}, {ds.get('strategy')}, {ds.get('segment_seconds')} s segments)",
        f"- evaluated on {report['n_tracks']} whole track(s) of the **{report['split']}** split, {report['audio_seconds']:.1f} s of audio"
        + (f" (the test split had none: {report['note']})" if report.get("note") else ""),
        f"- windows of {report['window_seconds']:g} s at {report['sample_rate']} Hz, hop {report['hop_seconds']:g} s, Hann crossfade",
        "- baseline: the untouched lossy input, decoded and aligned to the lossless track (what the model was given)",
        f"- {report['finished_at']}, {report['code_version']}, {report['seconds']:.1f} s",
        "",
        "## Mean over tracks",
        "",
        "| metric | better when | lossy input | model | model − input | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for s in report["summary"]:
        lines.append(f"| {s['name']} | {s['better_when']} | {_fmt(s['lossy_input'])} | {_fmt(s['model'])} | "
                     f"{_fmt(s['difference'])} ({_pct(s['relative'])}) | {s['verdict']} |")
    lines += ["", "## Per track", "", "Each cell: lossy input → model.", ""]
    shown = [k for k, _, _ in METRICS if any(_finite(r[k]) for r in report["rows"])]
    lines.append("| track | seconds | cutoff (kHz) | " + " | ".join(METRIC_NAMES[k] for k in shown) + " | MSE verdict |")
    lines.append("|---|---|---|" + "---|" * len(shown) + "---|")
    by_track: dict[str, dict[str, dict]] = {}
    for r in report["rows"]:
        by_track.setdefault(r["track_id"], {})[r["system"]] = r
    for systems in by_track.values():
        base, model = systems[BASELINE], systems[MODEL]
        cells = [f"{_fmt(base[k])} → {_fmt(model[k])}" for k in shown]
        cutoff = f"{base['cutoff_hz'] / 1000:.1f}" if _finite(base["cutoff_hz"]) else "none"
        lines.append(f"| {_track_label(base)} | {base['duration_s']:.1f} | {cutoff} | " + " | ".join(cells)
                     + f" | {verdict('mse', base['mse'], model['mse'])} |")
    if report["spectrograms"]:
        lines += ["", "## Spectrograms", "",
                  "Lossless, lossy input and restored output over one excerpt; the dashed line is the estimated codec cutoff.", ""]
        for spec in report["spectrograms"]:
            png = folder / spec["path"]
            src = f"data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}" if embed_images else spec["path"]
            lines += [f"![{spec['title']}]({src})", ""]
    lines += [
        "", "## How the metrics are computed", "",
        "- MSE over every sample; SNR and SI-SDR (Le Roux et al. 2019) per channel, capped at 100 dB.",
        "- LSD: STFT n_fft 2048, hop 512, periodic Hann, power clamped at 1e-8, mean over frames of the RMS over bins of the log10 power difference.",
        "- LSD above cutoff: the same over the bins above the codec's low-pass, estimated per track from the long-term lossless and lossy spectra "
        "(the highest frequency where the lossy is within 6 dB of the lossless; ladle_model/metrics.py); `none` when no low-pass was found.",
        "- Perceptual loss: mean squared difference of the run's feature net phi (the LadLe paper's perceptual term).",
        f"- ViSQOL v3 audio mode (visqol-python) at 48 kHz on up to {report['config']['visqol_excerpts']} excerpts of "
        f"{report['config']['visqol_excerpt_seconds']:g} s of active audio per track, mono mix; n/a when skipped or not installed.",
        "",
    ]
    return "\n".join(lines)


HTML_STYLE = """body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;line-height:1.45}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}img{max-width:100%}code{background:#f4f4f4;padding:0 .2rem}"""


def report_html(markdown_text: str, title: str) -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown_text)
    return (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{HTML_STYLE}</style></head>\n<body>\n{body}</body></html>\n")


def write_rows_parquet(path: Path, rows: list[dict]) -> Path:
    import pandas as pd

    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_parquet(tmp, index=False)
    return path


# ----------------------------------------------------------------------------- the whole evaluation


def _sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def eval_folder(run_dir: str | Path, preset: str) -> Path:
    return Path(run_dir) / "eval" / preset


def feature_net_path(run_dir: str | Path, cfg: EvalConfig) -> Path | None:
    from ladle_model.train import FEATURE_NET

    if cfg.feature_net:
        if not Path(cfg.feature_net).is_file():
            raise FileNotFoundError(f"no feature net at {cfg.feature_net}")
        return Path(cfg.feature_net)
    path = Path(run_dir) / FEATURE_NET
    return path if path.is_file() else None


def evaluation_key(checkpoint: Path, phi: Path | None, tracks: list[EvalTrack], preset: str, cfg: EvalConfig) -> str:
    """What an evaluation depends on: the weights, phi, the tracks and their encodes/alignments, the config."""
    settings = {k: v for k, v in cfg.to_dict().items() if k not in ("device", "checkpoint", "feature_net")}
    return stable_hash(["evaluate", EVAL_VERSION, _sha256(checkpoint), _sha256(phi) if phi else None, preset, settings,
                        [(t.track.track_id, t.track.pcm_md5, t.encoded.encode_key, t.alignment.align_key) for t in tracks]])


def cached_report(folder: Path, key: str) -> dict | None:
    try:
        report = json.loads((folder / "eval.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if report.get("key") != key or not all((folder / name).is_file() for name in ("report.md", "report.html", "tracks.parquet")):
        return None
    return report


def evaluate_run(run_dir: str | Path, data_dir: str | Path, preset: str | None = None, cfg: EvalConfig | None = None,
                 progress: bool = False, enhancer: Enhancer | None = None) -> dict:
    """Evaluate RUN_DIR's checkpoint on whole tracks of `preset` (default: the run's own) and write the report.

    Returns the report as a dict (JSON-able): summary, per-track rows, headline, paths.
    """
    from ladle_model.losses import load_feature_net

    cfg = cfg or EvalConfig()
    run_dir, started = Path(run_dir), time.perf_counter()
    checkpoint = resolve_checkpoint(cfg.checkpoint if cfg.checkpoint not in ("best", "last") else run_dir, which=cfg.checkpoint)
    enhancer = enhancer or load_enhancer(checkpoint, device=cfg.device, window_seconds=cfg.window_seconds)
    preset = preset or enhancer.dataset.get("preset")
    if not preset:
        raise ValueError(f"{checkpoint} does not record its dataset's preset: name one")
    tracks, split = select_tracks(data_dir, preset, cfg.split, cfg.max_tracks)
    phi_path = feature_net_path(run_dir, cfg)
    folder = eval_folder(run_dir, preset)
    key = evaluation_key(checkpoint, phi_path, tracks, preset, cfg)
    cached = cached_report(folder, key)
    if cached is not None:
        log.info("evaluation of %s on %s is up to date (%s)", run_dir, preset, folder)
        return {**cached, "reused": True}

    device = next(iter(enhancer.model.parameters()), torch.empty(0)).device
    phi = load_feature_net(phi_path, map_location=device) if phi_path else None
    spec = enhancer.spec
    rows, figures = [], []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tracks), unit="track", desc=f"evaluate {preset}", dynamic_ncols=True)
    for i, item in enumerate(tracks):
        lossless, lossy, model_input = load_eval_pair(item, spec)
        restored = enhance_array(enhancer.model, model_input, spec, cfg.batch_size, n_output=lossless.shape[-1])
        cutoff_hz = M.estimate_cutoff_hz(lossless, lossy, spec.sample_rate)
        context = {"track_id": item.track.track_id, "title": item.track.title or Path(item.track.path).stem, "split": split,
                   "preset": preset, "duration_s": lossless.shape[-1] / spec.sample_rate, "cutoff_hz": cutoff_hz,
                   "model_name": enhancer.model_name, "step": enhancer.step, "dataset_version": enhancer.dataset_version}
        rows.append({**context, "system": BASELINE, **score(lossless, lossy, spec.sample_rate, cutoff_hz, phi, cfg, device)})
        rows.append({**context, "system": MODEL, **score(lossless, restored, spec.sample_rate, cutoff_hz, phi, cfg, device)})
        if i < cfg.n_spectrograms:
            excerpts = M.active_excerpts(lossless, spec.sample_rate, 3, cfg.spectrogram_seconds)
            if excerpts:
                start, stop = excerpts[len(excerpts) // 2]
                name = f"spectrograms/{item.track.track_id}.png"
                title = f"{context['title']} ({preset}, {start / spec.sample_rate:.1f}-{stop / spec.sample_rate:.1f} s)"
                plot_spectrograms(folder / name, {"lossless": lossless, "lossy input": lossy, "restored": restored},
                                  spec.sample_rate, start, stop, title, cutoff_hz)
                figures.append({"track_id": item.track.track_id, "path": name, "title": title})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()

    summary = summarise(rows)
    report = {
        "key": key,
        "run_dir": str(run_dir),
        "preset": preset,
        "split": split,
        "note": f"evaluated on {split}" if split != cfg.split else "",
        "checkpoint": str(checkpoint),
        "model_name": enhancer.model_name,
        "step": enhancer.step,
        "dataset_version": enhancer.dataset_version,
        "dataset": enhancer.dataset,
        "feature_net": str(phi_path) if phi_path else None,
        "sample_rate": spec.sample_rate,
        "window_seconds": spec.window_samples / spec.sample_rate,
        "hop_seconds": spec.hop_samples / spec.sample_rate,
        "n_tracks": len(tracks),
        "audio_seconds": float(sum(r["duration_s"] for r in rows if r["system"] == MODEL)),
        "config": cfg.to_dict(),
        "summary": summary,
        "headline": headline(summary),
        "rows": rows,
        "spectrograms": figures,
        "folder": str(folder),
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "seconds": time.perf_counter() - started,
    }
    markdown_text = report_markdown(report)
    write_bytes_atomic(folder / "report.md", markdown_text.encode())
    write_bytes_atomic(folder / "report.html", report_html(markdown_text, f"Evaluation on {preset}").encode())
    write_rows_parquet(folder / "tracks.parquet", rows)
    report["paths"] = {name: str(folder / name) for name in ("report.md", "report.html", "tracks.parquet")}
    write_json_atomic(folder / "eval.json", _json_safe(report))  # last: its key marks the evaluation complete
    return {**_json_safe(report), "reused": False}


def _json_safe(obj):
    """NaN and inf as None: JSON (and Prefect's result store) has no NaN."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------- Table I of the LadLe paper


def table1_rows(evaluations: list[tuple[str, dict]]) -> list[dict]:
    """One row per preprocessing approach (the model's means) and one for the lossy input (the baseline).

    `evaluations` pairs an approach's label with its evaluation report. Every approach is evaluated on
    the same tracks and preset, so the baseline is the same for all; it is taken from the first.
    """
    columns = ("mse", "perceptual", "lsd", "lsd_hf", "visqol", "si_sdr_db")
    rows = []
    for label, report in evaluations:
        means = {s["metric"]: s["model"] for s in report["summary"]}
        rows.append({"approach": label, "strategy": report["dataset"].get("strategy"), "segment_seconds": report["dataset"].get("segment_seconds"),
                     "steps": report["step"], **{c: means.get(c) for c in columns}})
    if evaluations:
        base = {s["metric"]: s["lossy_input"] for s in evaluations[0][1]["summary"]}
        rows.append({"approach": f"{BASELINE} (identity)", "strategy": None, "segment_seconds": None, "steps": 0,
                     **{c: base.get(c) for c in columns}})
    return rows


def table1_markdown(rows: list[dict], context: dict) -> str:
    """Table I as the LadLe paper lays it out (approach, MSE, perceptual loss), plus LSD, ViSQOL and the baseline row."""
    lines = [
        "# Table I: preprocessing approaches (LadLe paper), on whole test tracks",
        "",
        f"- preset {context.get('preset')}, model {context.get('model')}, {context.get('steps')} training steps each, "
        f"{context.get('n_tracks')} {context.get('split')} track(s)",
        "- perceptual loss: every row scored with the same feature net phi (the resample run's), so the column compares",
        "- lower is better for MSE, perceptual loss and LSD; higher for ViSQOL and SI-SDR",
        "",
        "| approach | MSE | perceptual loss | LSD | LSD above cutoff | ViSQOL | SI-SDR (dB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['approach']} | {_fmt(r['mse'])} | {_fmt(r['perceptual'])} | {_fmt(r['lsd'])} | {_fmt(r['lsd_hf'])} | "
                     f"{_fmt(r['visqol'])} | {_fmt(r['si_sdr_db'])} |")
    return "\n".join(lines) + "\n"


def write_table1(out_dir: str | Path, rows: list[dict], context: dict) -> dict[str, str]:
    out_dir = Path(out_dir)
    markdown_text = table1_markdown(rows, context)
    write_bytes_atomic(out_dir / "table1.md", markdown_text.encode())
    write_rows_parquet(out_dir / "table1.parquet", rows)
    return {"markdown": str(out_dir / "table1.md"), "parquet": str(out_dir / "table1.parquet")}
