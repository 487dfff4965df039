"""How a trained SpecNeXt's fill gains trade ViSQOL against LSD and SNR, per preset, on held-out music.

    python -m bench.fill_gain --data /tmp/ladle-quality/held-out-data --run /tmp/ladle-quality/run

For each preset, 5-s excerpts of active audio from the first `--tracks` held-out tracks (the
folder `python -m bench.quality` builds) are restored as `ladle enhance` restores them (1-s
windows, cross-faded, at the codec cut measured over the whole track), once per fixed setting in `--settings` ("0.5/0.25": gain 0.5 below each
input's cut and 0.25 above it; "0.5": 0.5 for both; "0.5/0.25/0": the same fill without the mask
term) and once as the checkpoint holds it
("calibrated": its table over input bandwidth, ladle_model/calibration/calibrate.py). Each row is a variant
against the untouched lossy input on the same excerpts: ViSQOL, SNR and LSD.

This is the measurement behind the calibration: the level a fill trained on log-magnitude losses
comes out at is louder than ViSQOL prefers, and how much louder depends on how much the codec cut.
Presets run in parallel (`--jobs`), one torch thread each.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from bench.quality import SAMPLE_RATE


def parse_variant(key: str) -> tuple[float, ...]:
    """ "G" -> (G, G); "BELOW/ABOVE" -> (BELOW, ABOVE); "BELOW/ABOVE/MASK" -> all three (a fill-gain table row's gains)."""
    gains = tuple(float(g) for g in key.split("/"))
    if len(gains) == 1:
        gains = gains * 2
    if len(gains) not in (2, 3) or not all(0 <= g <= 4 for g in gains):
        raise ValueError(key)
    return gains


def restore(enhancer, audio: np.ndarray, setting: tuple[float, ...] | None, bandwidth: float) -> np.ndarray:
    """`audio` (2, n) restored window by window at (gain below the cut, gain above it[, mask gain]), at its
    whole track's `bandwidth` as `ladle enhance` runs it; None keeps the checkpoint's own gains."""
    import contextlib

    import torch

    from ladle_model.calibration.search import fill_setting
    from ladle_model.inference.windows import WindowedRestorer
    from ladle_model.models.bandwidth import at_bandwidth

    with fill_setting(enhancer.model, 1.0, [[1.0, *setting]]) if setting is not None else contextlib.nullcontext():
        restorer = WindowedRestorer(at_bandwidth(enhancer.model, bandwidth), enhancer.spec, 8, torch.device("cpu"))
        return np.concatenate([restorer.push(np.ascontiguousarray(audio, np.float32)), restorer.finish()], axis=-1)


def sweep_preset(data: str, run: str, preset: str, settings: list[str], tracks: int, excerpts: int) -> list[dict]:
    """One row per variant of `preset`: mean ViSQOL, SNR and LSD over the excerpts, input and restored."""
    import torch

    torch.set_num_threads(1)
    from bench.quality import held_out_items
    from ladle_model.evaluation import metrics as M
    from ladle_model.evaluation.visqol import active_excerpts
    from ladle_model.inference.enhance import load_enhancer
    from ladle_model.models.bandwidth import stft_layout, track_bandwidth
    from storage.config import SegmentConfig
    from storage.segment import load_pair

    enhancer = load_enhancer(run, device="cpu")
    variants: dict[str, tuple[float, ...] | None] = {f"gains {k}": parse_variant(k) for k in settings}
    variants["calibrated"] = None
    scores: dict[str, list[tuple[float, float, float]]] = {"input": [], **{name: [] for name in variants}}
    for track, encoded, alignment in held_out_items(Path(data), preset)[:tracks]:
        pair = load_pair(track, encoded, alignment, SegmentConfig(strategy="resample", sample_rate=SAMPLE_RATE))
        bandwidth = track_bandwidth(pair.lossy, *stft_layout(enhancer.model))
        for start, stop in active_excerpts(pair.lossless, SAMPLE_RATE, excerpts, 5.0):
            reference, lossy = pair.lossless[:, start:stop], pair.lossy[:, start:stop]
            estimates = {
                "input": lossy,
                **{name: restore(enhancer, lossy, g, bandwidth) for name, g in variants.items()},
            }
            for name, estimate in estimates.items():
                scores[name].append(
                    (
                        M.visqol_moslqo(reference, estimate, SAMPLE_RATE, n_excerpts=1),
                        M.snr_db(reference, estimate),
                        M.lsd(reference, estimate),
                    )
                )
    base = np.mean(scores["input"], axis=0)
    rows = []
    for name, values in scores.items():
        visqol, snr, lsd = np.mean(values, axis=0)
        rows.append(
            {
                "preset": preset,
                "variant": name,
                "excerpts": len(values),
                "ViSQOL": f"{visqol:.3f}",
                "ΔViSQOL": f"{visqol - base[0]:+.3f}",
                "ΔSNR dB": f"{snr - base[1]:+.2f}",
                "LSD ratio": f"{lsd / base[2]:.2f}",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.fill_gain", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="a data folder of held-out tracks (bench.quality's OUT/held-out-data)")
    p.add_argument("--run", required=True, help="the run folder (its best.pt)")
    p.add_argument("--presets", default="paper-32k,mp3-64,vorbis-96,vorbis-160,vorbis-320,mp3-128,aac-128,opus-96")
    p.add_argument(
        "--settings",
        default="0,0.25,0.5,1,0.5/0.25,0.25/0.5",
        help="fill gains to force, comma-separated: 'BELOW/ABOVE' the cut, one gain for both, or "
        "'BELOW/ABOVE/MASK' with the mask term's gain too",
    )
    p.add_argument("--tracks", type=int, default=3)
    p.add_argument("--excerpts", type=int, default=2, help="5-s excerpts per track")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument(
        "--no-write", action="store_true", help="print the table without appending it to bench/log/fill_gain.md"
    )
    a = p.parse_args(argv)
    presets, settings = a.presets.split(","), a.settings.split(",")
    for key in settings:
        try:
            parse_variant(key)
        except ValueError:
            p.error(
                f"--settings: {key!r} is not a gain in [0, 4], BELOW/ABOVE gains (e.g. 0.5/0.25) or BELOW/ABOVE/MASK"
            )
    with ProcessPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        futures = [
            pool.submit(sweep_preset, a.data, a.run, preset, settings, a.tracks, a.excerpts) for preset in presets
        ]
        rows = [row for future in futures for row in future.result()]

    from bench.common import command_line, report

    report(
        "fill_gain",
        command_line(),
        rows,
        notes=[f"run: {a.run}", "every row against the untouched lossy input on the same excerpts"],
        write=not a.no_write,
    )


if __name__ == "__main__":
    main()
