"""Whole-track `enhance` speed per model, against FFmpeg decoding the same file in the same run.

    python -m bench.enhance                       # every model at its default config, on CPU
    python -m bench.enhance --device cuda --models ladle --seconds 30

A 30-s demo track (storage.sources.demo_corpus) is encoded with --preset (Vorbis q5 by default, what a
listener would restore) and the Ogg is restored to FLAC by `ladle_model.inference.enhance.enhance_file` with
each model untrained at its default config (weights do not change the speed), 1-s windows at 44.1 kHz
(the default dataset's segments), hop 0.5 s, batches of --batch-size windows. The real-time factor is
audio seconds / wall seconds (higher is faster): decoding, resampling, the model, overlap-add and the
FLAC write included. Slow models run on a shorter clip of the same track, so that each takes about
--budget seconds; the table says how much audio each was timed on. The reference row is FFmpeg
decoding the whole Ogg to float PCM, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import soundfile as sf

from bench.common import command_line, report

MODELS = ("drrn1d", "srresnet1d", "resunit", "ladle")


def encoded_clip(flac: Path, seconds: float, preset_name: str, out_dir: Path) -> Path:
    """The first `seconds` of `flac`, encoded with the preset (as a user's lossy file)."""
    from storage import ffmpeg as ff
    from storage.config import get_preset

    preset = get_preset(preset_name)
    audio, rate = sf.read(str(flac), frames=round(seconds * 44100), always_2d=True)
    clip = out_dir / f"clip-{seconds:g}s.flac"
    sf.write(str(clip), audio, rate, subtype="PCM_16")
    out = clip.with_suffix(f".{preset.extension}")
    ff.encode_file(clip, out, preset)
    return out


def time_enhance(model, spec, src: Path, out: Path, batch_size: int) -> tuple[float, float]:
    """(audio seconds, wall seconds) of one enhance_file run."""
    from ladle_model.inference.enhance import enhance_file

    start = time.perf_counter()
    result = enhance_file(model, spec, src, out, batch_size=batch_size)
    return result.duration_s, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the demo track")
    parser.add_argument("--preset", default="vorbis-160")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--window-seconds", type=float, default=1.0)
    parser.add_argument("--budget", type=float, default=60.0, help="about this many wall seconds per model at most")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--no-write", action="store_true", help="print only, do not append to bench/log/enhance.md")
    args = parser.parse_args(argv)

    import torch

    from ladle_model.inference.enhance import pick_device
    from ladle_model.inference.windows import make_spec
    from ladle_model.models.build import build_model, model_config_dict
    from storage import ffmpeg as ff
    from storage.sources.demo_corpus import write_demo_corpus

    device = pick_device(args.device)
    work = Path(tempfile.mkdtemp(prefix="ladle-bench-enhance-"))
    (flac,) = write_demo_corpus(work / "library", n_tracks=1, max_seconds=args.seconds, min_seconds=args.seconds)
    track = encoded_clip(flac, args.seconds, args.preset, work)
    audio_s = sf.info(str(flac)).duration

    ff.decode_file(track)  # warm the page cache and FFmpeg
    start = time.perf_counter()
    ff.decode_file(track, channels=2)
    ffmpeg_s = time.perf_counter() - start
    rows = [
        {
            "what": f"FFmpeg decoding the {args.preset} file (reference)",
            "audio s timed": audio_s,
            "wall s": ffmpeg_s,
            "RTF (audio s / wall s)": audio_s / ffmpeg_s,
            "parameters": "",
            "config": "",
        }
    ]

    spec = make_spec(44100, args.window_seconds)
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = build_model(name).to(device).eval()
        n_params = sum(p.numel() for p in model.parameters())
        # a short probe first: it sets how much audio fits in the budget
        probe = encoded_clip(flac, min(2.0, args.seconds), args.preset, work)
        time_enhance(model, spec, probe, work / f"{name}-warmup.flac", args.batch_size)  # warm-up (kernels, allocator)
        probe_audio_s, probe_s = time_enhance(model, spec, probe, work / f"{name}-probe.flac", args.batch_size)
        seconds = min(args.seconds, max(probe_audio_s, args.budget * probe_audio_s / probe_s))
        if seconds >= args.seconds:
            timed_audio_s, wall_s = time_enhance(model, spec, track, work / f"{name}.flac", args.batch_size)
        elif seconds > probe_audio_s * 1.5:
            clip = encoded_clip(flac, seconds, args.preset, work)
            timed_audio_s, wall_s = time_enhance(model, spec, clip, work / f"{name}.flac", args.batch_size)
        else:
            timed_audio_s, wall_s = probe_audio_s, probe_s
        config = model_config_dict(name)
        rows.append(
            {
                "what": f"enhance, {name}",
                "audio s timed": timed_audio_s,
                "wall s": wall_s,
                "RTF (audio s / wall s)": timed_audio_s / wall_s,
                "parameters": f"{n_params / 1e6:.2f} M",
                "config": ", ".join(f"{k}={v}" for k, v in config.items()),
            }
        )
        print(f"{name}: {timed_audio_s / wall_s:.2f}x real time", flush=True)

    notes = [
        f"{audio_s:.0f}-s demo track ({flac.name}), {args.preset}, restored to 24-bit FLAC at the model's rate (44.1 kHz); "
        f"{args.window_seconds:g}-s windows at 44.1 kHz, hop {args.window_seconds / 2:g} s, batches of {args.batch_size}, "
        f"device {device}, {torch.get_num_threads()} torch threads, {os.cpu_count()} cores.",
        "Every model at its default config, untrained. RTF > 1 is faster than real time; each window's audio is computed twice "
        "(50 % overlap), so a model's own speed on non-overlapping audio is about twice its RTF.",
        "Models slower than the budget are timed on the first seconds of the track (column 'audio s timed').",
    ]
    report("enhance", command_line(), rows, notes, write=not args.no_write)


if __name__ == "__main__":
    main()
