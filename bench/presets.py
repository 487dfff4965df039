"""Each encode preset's low-pass cut and encode speed, measured with FFmpeg on real renders (docs/presets.md).

    python -m bench.presets --library demo/library                # every preset, every FLAC under the folder
    python -m bench.presets --library LIB --preset mp3-24 --preset opus-24 --json /tmp/presets.json

For every preset it encodes each track with the pipeline's own `encode_file`, decodes it at 44.1 kHz
and reads the cut once over the whole track with `ladle_model.models.bandwidth.track_bandwidth` (the
measure `ladle enhance` runs the model at); the table gives the median over tracks. Speeds: the whole
track's encode as ×realtime (FFmpeg start included), and the wall time of what on-the-fly encoding in
the loader would pay per 1-s training segment (one FFmpeg run to encode and one to decode).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

SAMPLE_RATE = 44100
N_FFT, HOP = 2048, 512  # 21.5 Hz bins: the cut to within a bin, over every frame of the track


def measure_preset(name: str, tracks: list[Path], work: Path) -> dict:
    """The preset's cut (median over tracks, Hz), its encode speed and its per-segment on-the-fly cost."""
    import soundfile as sf

    from ladle_model.models.bandwidth import track_bandwidth
    from storage import ffmpeg as ff
    from storage.config import get_preset, preset_band

    preset, band = get_preset(name), preset_band(get_preset(name))
    cuts, audio_s, encode_s, kbps = [], 0.0, 0.0, []
    for k, track in enumerate(tracks):
        out = work / f"{name}-{k}.{preset.extension}"
        started = time.perf_counter()
        ff.encode_file(track, out, preset)
        encode_s += time.perf_counter() - started
        duration_s = sf.info(track).duration
        audio_s += duration_s
        kbps.append(out.stat().st_size * 8 / duration_s / 1000)
        decoded, _ = ff.decode_file(out, channels=2, sample_rate=SAMPLE_RATE)
        cuts.append(track_bandwidth(decoded, N_FFT, HOP) * SAMPLE_RATE / 2)
    # One training segment (1 s, what the default recipe crops) encoded and decoded on its own.
    segment = work / "segment.wav"
    audio, rate = sf.read(tracks[0], frames=SAMPLE_RATE, dtype="float32")
    sf.write(segment, audio, rate)
    started = time.perf_counter()
    ff.encode_file(segment, work / f"segment.{preset.extension}", preset)
    ff.decode_file(work / f"segment.{preset.extension}", channels=2, sample_rate=SAMPLE_RATE)
    segment_s = time.perf_counter() - started
    return {
        "preset": name,
        "codec": band.codec,
        "kbps": band.kbps,
        "band": band.band,
        "file kbps": round(float(np.median(kbps)), 1),
        "cut Hz": round(float(np.median(cuts))),
        "cut min-max Hz": f"{min(cuts):.0f}-{max(cuts):.0f}",
        "encode x realtime": round(audio_s / encode_s, 1),
        "1-s segment ms": round(segment_s * 1000),
    }


def main(argv: list[str] | None = None) -> None:
    from bench.common import markdown_table
    from storage.config import PRESETS, expand_presets, preset_band

    p = argparse.ArgumentParser(prog="python -m bench.presets", description=__doc__.split("\n")[0])
    p.add_argument("--library", type=Path, required=True, help="a folder of lossless FLAC tracks (real renders)")
    p.add_argument("--preset", action="append", help="repeatable, groups allowed; default: every preset")
    p.add_argument("--tracks", type=int, default=4, help="at most this many tracks (the first, sorted)")
    p.add_argument("--json", type=Path, default=None, help="also write the rows here")
    a = p.parse_args(argv)
    tracks = sorted(a.library.rglob("*.flac"))[: a.tracks]
    if not tracks:
        raise SystemExit(f"python -m bench.presets: error: no FLAC under {a.library}")
    names = sorted(
        expand_presets(a.preset or list(PRESETS)),
        key=lambda n: (preset_band(PRESETS[n]).codec, preset_band(PRESETS[n]).kbps, n),
    )
    with tempfile.TemporaryDirectory() as work:
        rows = [measure_preset(name, tracks, Path(work)) for name in names]
    print(f"{len(tracks)} tracks of {a.library}\n")
    print(markdown_table(rows))
    if a.json:
        a.json.write_text(json.dumps({"tracks": [str(t) for t in tracks], "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
