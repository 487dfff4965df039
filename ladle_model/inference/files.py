"""Restore whole files and folders: decoded through FFmpeg chunk by chunk, restored, written incrementally.

    enhance_file(enhancer.model, enhancer.spec, "song.mp3", "song.restored.flac", progress=True)
    enhance_path(enhancer.model, enhancer.spec, "album/", "restored/")   # every audio file under a folder

Files are decoded through an FFmpeg pipe a few seconds at a time, resampled chunk by chunk
(storage/resample.py's StreamResampler, libsoxr: the same samples as resampling the whole track at once), restored
in batches of windows, resampled back to the output rate and written incrementally to a temporary
FLAC/WAV renamed into place at the end: memory stays bounded by the chunk size, not the track length.
Mono is fed to the model as two identical channels and written back as the mean of the two outputs.

Callers load the model with ladle_model/inference/enhance.py (`load_enhancer`), which also names these.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ladle_model.inference.windows import (
    DEFAULT_BATCH_SIZE,
    EnhanceError,
    WindowedRestorer,
    WindowSpec,
    as_stereo,
    back_to,
)
from ladle_model.models.bandwidth import (
    BandwidthMeter,
    at_bandwidth,
    codec_cut,
    measures_bandwidth,
    passes_through,
    stft_layout,
)
from storage.align import resampled_length
from storage.presets import lowest_codec_cut_hz

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SECONDS = 10.0


def runs_at_track_cut(model: nn.Module, spec: WindowSpec) -> bool:
    """Whether `model` is run at the codec cut measured over the whole track: it fills by its input's bandwidth
    (ladle_model/models/bandwidth.py) and reads lossy samples at its own rate (no layout reshapes their spectrum)."""
    return measures_bandwidth(model) and spec.resizable


@dataclass
class EnhanceResult:
    source: str
    output: str
    sample_rate: int  # of the output (the model's unless asked otherwise)
    channels: int
    frames: int  # of the output
    duration_s: float
    seconds: float  # wall time
    n_windows: int
    # where the input's codec low-pass cut it, measured over the file for a model that fills by it (None: not measured;
    # the input's Nyquist frequency at the model's rate: no cut found)
    input_cutoff_hz: float | None = None
    passed_through: bool = (
        False  # the model leaves input cut there unchanged (near-transparent): the output is the input
    )
    # the cut lies below the lowest its codec makes at the file's bitrate, so it was there before the encoder, and the
    # model was run as on uncut input (ladle_model/models/bandwidth.py `codec_cut`)
    cut_before_encoding: bool = False

    @property
    def realtime_factor(self) -> float:
        return self.duration_s / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class Skipped:
    """A file in a folder that is not audio (cover art, cue sheets, logs): nothing to restore."""

    source: str
    reason: str


@dataclass
class Failed:
    """A file in a folder that could not be restored; the rest of the folder went on."""

    source: str
    reason: str


def enhance_file(
    model: nn.Module,
    spec: WindowSpec,
    source: str | Path,
    output: str | Path,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: torch.device | str | None = None,
    output_sample_rate: int | None = None,
    subtype: str = "PCM_24",
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
    progress: bool = False,
    on_chunk: Callable[[np.ndarray], None] | None = None,
) -> EnhanceResult:
    """Restore one file FFmpeg can read into FLAC/WAV (by `output`'s suffix) of the same duration and channels.

    The output is at the model's rate (spec.sample_rate) unless `output_sample_rate` is given: a 32 kHz
    Ogg restored by a 44.1 kHz model comes back at 44.1 kHz, with the top band the codec removed and the
    model restored; at 32 kHz that band would be lost again (issue 11). `on_chunk` sees each decoded
    input chunk (tests use it to check the memory bound). One function, as the decode, restore, resample and
    write stages share the output's held-back last second and its exact length, which only the end decides.
    """
    from storage import ffmpeg as ff
    from storage import stream

    started = time.perf_counter()
    info = ff.probe_audio(source)
    if info.channels not in (1, 2):
        raise EnhanceError(
            f"{Path(source).name} has {info.channels} channels: only mono and stereo can be restored "
            "(downmix first, e.g. ffmpeg -i in -ac 2 out.flac)"
        )
    out_rate = output_sample_rate or spec.sample_rate
    chunk_frames = max(round(chunk_seconds * info.sample_rate), 1)
    measured = file_bandwidth(model, spec, source, info.sample_rate, info.channels, chunk_frames)
    bandwidth = (
        None
        if measured is None
        else codec_cut(measured, spec.input_rate / 2, lowest_codec_cut_hz(info.codec, info.kbps, info.sample_rate))
    )
    to_output = stream.StreamResampler(spec.sample_rate, out_rate)
    restorer = WindowedRestorer(
        model if bandwidth is None else at_bandwidth(model, bandwidth), spec, batch_size, device
    )
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=round(info.duration_s, 1) if info.duration_s else None,
            unit="s",
            desc=Path(source).name,
            dynamic_ncols=True,
            leave=False,
        )

    n_in = 0
    held = np.zeros((info.channels, 0), np.float32)  # the output's last second, held until its exact length is known
    with stream.open_audio_writer(output, out_rate, info.channels, subtype=subtype) as writer:

        def write(restored: np.ndarray, final: bool = False) -> None:
            nonlocal held
            out = back_to(
                to_output.push(restored) if restored.shape[-1] else np.zeros((2, 0), np.float32), info.channels
            )
            if final:
                out = (
                    np.concatenate([out, back_to(to_output.flush(), info.channels)], axis=1) if to_output.n_in else out
                )
            held = np.concatenate([held, out], axis=1)
            if not final and held.shape[-1] > out_rate:
                writer.write(held[:, :-out_rate])
                held = held[:, -out_rate:]

        for chunk, model_input in model_input_chunks(
            source, info.sample_rate, info.channels, chunk_frames, spec.input_rate
        ):
            if chunk.shape[-1]:
                if on_chunk is not None:
                    on_chunk(chunk)
                n_in += chunk.shape[-1]
                if bar is not None:
                    bar.update(round(chunk.shape[-1] / info.sample_rate, 1))
            if model_input.shape[-1]:
                write(restorer.push(model_input))
        write(restorer.finish(), final=True)
        # the exact length: the input's frames at the output rate (torchaudio's resampled length)
        n_out = n_in if out_rate == info.sample_rate else resampled_length(n_in, info.sample_rate, out_rate)
        remaining = n_out - writer.frames
        if remaining < 0:
            raise RuntimeError(
                f"wrote {writer.frames} frames, more than the {n_out} the input gives"
            )  # held back too little: a bug
        last = held[:, :remaining]
        writer.write(np.concatenate([last, np.zeros((info.channels, remaining - last.shape[-1]), np.float32)], axis=1))
        frames = writer.frames
    if bar is not None:
        bar.close()
    return EnhanceResult(
        str(source),
        str(output),
        out_rate,
        info.channels,
        frames,
        frames / out_rate,
        time.perf_counter() - started,
        restorer.n_windows,
        None if measured is None else round(measured * spec.input_rate / 2, 1),
        bandwidth is not None and passes_through(model, bandwidth),
        measured is not None and bandwidth != measured,
    )


def model_input_chunks(
    source: str | Path, sample_rate: int, channels: int, chunk_frames: int, input_rate: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(decoded chunk, the same as the model reads it: two channels at `input_rate`), chunk by chunk through the
    file; the resampler's tail comes last, with an empty decoded chunk."""
    from storage import stream

    to_model = stream.StreamResampler(sample_rate, input_rate)
    for chunk in stream.decode_chunks(source, channels, chunk_frames):
        yield chunk, to_model.push(as_stereo(chunk))
    yield np.zeros((channels, 0), np.float32), to_model.flush()


def file_bandwidth(
    model: nn.Module, spec: WindowSpec, source: str | Path, sample_rate: int, channels: int, chunk_frames: int
) -> float | None:
    """The codec cut of the whole file `source` (a first pass: decoded and resampled as the model will read it,
    ladle_model/models/bandwidth.py) where the model is run at it (`runs_at_track_cut`); else None."""
    if not runs_at_track_cut(model, spec):
        return None
    meter = BandwidthMeter(*stft_layout(model))
    for _, model_input in model_input_chunks(source, sample_rate, channels, chunk_frames, spec.input_rate):
        meter.push(model_input)
    return meter.bandwidth()


def output_path_for(source: Path, root: Path, out_dir: Path, suffix: str) -> Path:
    """`source` under `root` mirrored under `out_dir`, with the output format's suffix."""
    return (out_dir / source.relative_to(root)).with_suffix(suffix)


def enhance_path(
    model: nn.Module,
    spec: WindowSpec,
    source: str | Path,
    output: str | Path,
    *,
    suffix: str = ".flac",
    progress: bool = False,
    **kwargs,
) -> list[EnhanceResult | Skipped | Failed]:
    """Restore a file, or every audio file under a folder into `output` (a folder: names mirrored, with `suffix`).

    A single file's failure raises. In a folder, files FFmpeg finds no audio in (cover art, cue sheets,
    logs) are Skipped with a note, and a file that cannot be restored (more than two channels, a
    broken stream, a name the file system refuses, ...) is Failed with its reason while the others go
    on: one bad file never costs the rest of the folder. Hidden files and anything under `output` are
    not looked at.
    """
    from storage import ffmpeg as ff

    source, output = Path(source), Path(output)
    if source.is_file():
        if output.is_dir():
            output = output / (source.stem + suffix)
        return [enhance_file(model, spec, source, output, progress=progress, **kwargs)]
    if not source.is_dir():
        raise FileNotFoundError(f"no file or folder at {source}")
    output_resolved = output.resolve()
    results: list[EnhanceResult | Skipped | Failed] = []
    files = sorted(
        p
        for p in source.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(source).parts)
        and not p.resolve().is_relative_to(output_resolved)
    )
    for path in files:
        try:
            ff.probe_audio(path)
        except ff.FFmpegError:
            results.append(Skipped(str(path), "not audio FFmpeg can read"))
            continue
        try:
            results.append(
                enhance_file(
                    model, spec, path, output_path_for(path, source, output, suffix), progress=progress, **kwargs
                )
            )
        except Exception as e:  # noqa: BLE001  reported at the end; the folder goes on
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            log.warning("could not restore %s: %s", path, reason)
            results.append(Failed(str(path), reason))
    return results


def result_dict(result: EnhanceResult | Skipped | Failed) -> dict:
    """A result as plain data, with its `status`: restored, skipped or failed."""
    status = {EnhanceResult: "restored", Skipped: "skipped", Failed: "failed"}[type(result)]
    d = {"status": status, **dataclasses.asdict(result)}
    if isinstance(result, EnhanceResult):
        d["realtime_factor"] = round(result.realtime_factor, 2)
    return d
