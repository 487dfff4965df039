"""The evaluation report: Markdown and HTML tables, spectrogram figures and the per-track Parquet.

    paths = write_evaluation_report(report)     # report: the dict ladle_model.evaluation.evaluate.evaluate_run builds
    text = evaluation_report_markdown(report, embed_images=True)   # for a Prefect artifact

Every table loops over the metric registry (ladle_model/evaluation/metrics.py), so a new metric shows up here
without an edit. Figures are drawn while evaluating (`plot_spectrograms`), the text at the end.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import numpy as np

from ladle_model.evaluation import metrics as M
from ladle_model.evaluation.verdict import BASELINE, HEADLINE_METRIC, MODEL, fmt_relative, fmt_value, is_finite, verdict
from ladle_model.runs.folder import EvalFiles
from storage.atomic import atomic_path, write_bytes_atomic

# ----------------------------------------------------------------------------- figures


def excerpt_spectrogram_db(
    audio: np.ndarray, start: int, stop: int, n_fft: int = M.LSD_N_FFT, hop: int = M.LSD_HOP
) -> np.ndarray:
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


def plot_spectrograms(
    path: Path, tracks: dict[str, np.ndarray], sample_rate: int, start: int, stop: int, title: str, cutoff_hz: float
) -> Path:
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
    fig, axes = plt.subplots(
        len(spectra), 1, figsize=(9, 2.6 * len(spectra) + 0.6), sharex=True, sharey=True, squeeze=False
    )
    for ax, (name, spectrum) in zip(axes[:, 0], spectra.items()):
        image = ax.imshow(
            spectrum,
            origin="lower",
            aspect="auto",
            extent=extent,
            vmin=vmin,
            vmax=vmax,
            cmap="magma",
            interpolation="nearest",
        )
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


# ----------------------------------------------------------------------------- text


def _track_label(row: dict) -> str:
    return row.get("title") or row["track_id"]


def _cell(text: str) -> str:
    """Text safe in a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _notes(base: dict, model: dict) -> str:
    """The n/a reasons of a track's two rows, each once."""
    reasons = [part for row in (base, model) for part in (row.get("notes") or "").split("; ") if part]
    return _cell("; ".join(dict.fromkeys(reasons)))


def methods_lines(config: dict) -> list[str]:
    """One bullet per registered metric: how it is computed ({fields} filled from the evaluation config) and its noise threshold."""
    return [f"- {metric.method.format(**config)} Verdict: {metric.noise_text}." for metric in M.METRICS.values()]


def trained_on_line(report: dict) -> str:
    """Which of the evaluated tracks the model was trained on, in words."""
    n, total = report.get("n_trained_on", 0), report["n_tracks"]
    if not n:
        return f"- the model was trained on {report.get('trained_on') or 'none of these tracks'}"
    return f"- the model was trained on {n} of these {total} tracks ({report['trained_on']}): scores on them flatter it"


def evaluation_report_markdown(report: dict, embed_images: bool = False) -> str:
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
        f"- evaluated on {report['n_tracks']} whole track(s) of "
        + ("**every** split" if report["split"] == "all" else f"the **{report['split']}** split")
        + f", {report['audio_seconds']:.1f} s of audio",
        trained_on_line(report),
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
        lines.append(
            f"| {s['name']} | {s['better_when']} | {fmt_value(s['lossy_input'])} | {fmt_value(s['model'])} | "
            f"{fmt_value(s['difference'])} ({fmt_relative(s['relative'])}) | {s['verdict']} |"
        )
    lines += ["", "## Per track", "", "Each cell: lossy input → model.", ""]
    shown = [key for key in M.METRICS if any(is_finite(r.get(key)) for r in report["rows"])]
    trained = any(r.get("trained_on") for r in report["rows"])  # a column only when some track was trained on
    notes = any(r.get("notes") for r in report["rows"])  # why a metric is n/a for a track
    extra = (["trained on"] if trained else []) + (["notes"] if notes else [])
    lines.append(
        "| track | seconds | cutoff (kHz) | "
        + " | ".join(M.METRICS[k].label for k in shown)
        + f" | {M.METRICS[HEADLINE_METRIC].label} verdict |"
        + "".join(f" {name} |" for name in extra)
    )
    lines.append("|---|---|---|" + "---|" * (len(shown) + 1 + len(extra)))
    by_track: dict[str, dict[str, dict]] = {}
    for r in report["rows"]:
        by_track.setdefault(r["track_id"], {})[r["system"]] = r
    for systems in by_track.values():
        base, model = systems[BASELINE], systems[MODEL]
        cells = [f"{fmt_value(base[k])} → {fmt_value(model[k])}" for k in shown]
        cutoff = f"{base['cutoff_hz'] / 1000:.1f}" if is_finite(base["cutoff_hz"]) else "none"
        more = (["yes" if base.get("trained_on") else "no"] if trained else []) + (
            [_notes(base, model)] if notes else []
        )
        lines.append(
            f"| {_track_label(base)} | {base['duration_s']:.1f} | {cutoff} | "
            + " | ".join(cells)
            + f" | {verdict(HEADLINE_METRIC, base[HEADLINE_METRIC], model[HEADLINE_METRIC])} |"
            + "".join(f" {m} |" for m in more)
        )
    if report.get("failed"):
        lines += [
            "",
            "## Tracks that could not be evaluated",
            "",
            "They are left out of every mean above.",
            "",
            "| track | reason |",
            "|---|---|",
        ]
        lines += [f"| {f['title']} | {_cell(f['reason'])} |" for f in report["failed"]]
    if report["spectrograms"]:
        lines += [
            "",
            "## Spectrograms",
            "",
            "Lossless, lossy input and restored output over one excerpt; the dashed line is the estimated codec cutoff.",
            "",
        ]
        for spec in report["spectrograms"]:
            png = folder / spec["path"]
            src = (
                f"data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}" if embed_images else spec["path"]
            )
            lines += [f"![{spec['title']}]({src})", ""]
    lines += ["", "## How the metrics are computed", "", *methods_lines(report["config"]), ""]
    return "\n".join(lines)


HTML_STYLE = """body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;line-height:1.45}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}img{max-width:100%}code{background:#f4f4f4;padding:0 .2rem}"""


def markdown_to_html(markdown_text: str, title: str) -> str:
    """A standalone HTML page of CommonMark text with tables (markdown-it-py)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown_text)
    return (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{HTML_STYLE}</style></head>\n<body>\n{body}</body></html>\n"
    )


def write_rows_parquet(path: Path, rows: list[dict]) -> Path:
    """A list of flat dicts as one Parquet table, written atomically."""
    import pandas as pd

    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_parquet(tmp, index=False)
    return path


def write_evaluation_report(report: dict) -> dict[str, str]:
    """report.md, report.html and tracks.parquet into report["folder"]; returns {file name: path}."""
    files = EvalFiles(Path(report["folder"]))
    markdown_text = evaluation_report_markdown(report)
    write_bytes_atomic(files.report_md, markdown_text.encode())
    write_bytes_atomic(files.report_html, markdown_to_html(markdown_text, f"Evaluation on {report['preset']}").encode())
    write_rows_parquet(files.tracks_parquet, report["rows"])
    return {name: str(path) for name, path in files.reports.items()}
