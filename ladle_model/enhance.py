"""Whole-track restoration: run a model trained on short segments over a whole track, in bounded memory.

    enhancer = load_enhancer("runs/ladle/checkpoints/best.pt")          # model + the window layout it was trained on
    enhance_file(enhancer.model, enhancer.spec, "song.mp3", "song.restored.flac", progress=True)
    restored = enhance_array(enhancer.model, lossy, enhancer.spec)     # (C, T) in memory, for evaluation
    ladle enhance song.mp3 -o song.flac --checkpoint runs/ladle         # the same from the shell

The model sees windows of its training segment length L (at the dataset rate R), laid out as in
training (storage/segment.py): for `resample` the lossy audio at R; for `pad-edges` and
`spread-zeros` the lossy samples at the codec's rate r, centred or spread over L. Windows advance by
hop = L/2 and their outputs are blended with periodic Hann weights, divided by the sum of the weights
at each sample (weighted overlap-add). For a periodic Hann window at 50 % overlap the weights already
sum to 1 (the constant-overlap-add property, e.g. J. O. Smith, "Spectral Audio Signal Processing",
sec. "Overlap-Add (OLA) STFT Processing"); the division keeps the sum exactly 1 for any L, odd ones
included. The first window starts half a window before the track (the input is zero-padded at both
ends), so every output sample, the first and last included, lies in two windows: an identity model
reproduces its input exactly. Each window's edges, where a convolutional model sees zero padding and
an attention model sees no context, get weights near 0.

Files are decoded through an FFmpeg pipe a few seconds at a time, resampled chunk by chunk
(storage/stream.py's StreamResampler: the same samples as torchaudio on the whole track), restored
in batches of windows, resampled back to the input's rate and written incrementally to a temporary
FLAC/WAV renamed into place at the end: memory stays bounded by the chunk size, not the track length.
Mono is fed to the model as two identical channels and written back as the mean of the two outputs.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from storage.align import resampled_length
from storage.config import STRATEGIES

log = logging.getLogger(__name__)

FALLBACK_SAMPLE_RATE = 44100
FALLBACK_SEGMENT_SECONDS = 1.0
DEFAULT_BATCH_SIZE = 8
DEFAULT_CHUNK_SECONDS = 10.0


class EnhanceError(ValueError):
    """An input that cannot be restored (too many channels, not audio, ...); the message says why."""


# ----------------------------------------------------------------------------- the window layout


@dataclass(frozen=True)
class WindowSpec:
    """How a model's input windows are laid out: its training segments' layout (storage/segment.py)."""

    sample_rate: int  # R: the model's output rate, the dataset's (lossless) rate
    input_rate: int  # rate of the lossy samples fed in: R for "resample", the codec's rate r otherwise
    strategy: str  # resample | pad-edges | spread-zeros
    window_samples: int  # L, at R: the training segment length
    hop_samples: int  # L // 2 by default

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; known: {', '.join(STRATEGIES)}")
        if self.strategy == "resample" and self.input_rate != self.sample_rate:
            raise ValueError(f"strategy resample feeds the model at its own rate, got input_rate {self.input_rate} != {self.sample_rate}")
        if self.strategy != "resample" and self.input_rate > self.sample_rate:
            raise ValueError(f"strategy {self.strategy} needs input_rate <= sample_rate, got {self.input_rate} > {self.sample_rate}")
        if not 0 < self.hop_samples <= self.window_samples:
            raise ValueError(f"need 0 < hop_samples <= window_samples, got {self.hop_samples} and {self.window_samples}")

    @property
    def input_window_samples(self) -> int:
        """Lq: lossy samples per window (storage/segment.py: round(L·r/R) for pad-edges/spread-zeros)."""
        if self.strategy == "resample":
            return self.window_samples
        return round(self.window_samples * self.input_rate / self.sample_rate)

    def input_start(self, output_start: int) -> int:
        """The first input sample of the window whose output starts at `output_start` (cut_segments' rounding)."""
        if self.strategy == "resample":
            return output_start
        return round(output_start * self.input_rate / self.sample_rate)

    def output_length(self, n_input: int) -> int:
        """Output samples for `n_input` input samples: the same count at R (torchaudio's resampled length)."""
        return n_input if self.strategy == "resample" else resampled_length(n_input, self.input_rate, self.sample_rate)


def make_spec(sample_rate: int, segment_seconds: float, strategy: str = "resample", lossy_sample_rate: int | None = None,
              hop_fraction: float = 0.5) -> WindowSpec:
    """A WindowSpec from a dataset's fields (DatasetManifest / the checkpoint's "dataset" record)."""
    window = max(round(segment_seconds * sample_rate), 1)
    input_rate = sample_rate if strategy == "resample" else (lossy_sample_rate or sample_rate)
    return WindowSpec(sample_rate, input_rate, strategy, window, max(int(window * hop_fraction), 1))


def layout_window(lossy: np.ndarray, spec: WindowSpec) -> np.ndarray:
    """(C, Lq) lossy samples -> the (C, L) model input, exactly as storage.segment.cut_segments lays them out."""
    if spec.strategy == "resample":
        return lossy
    length, lossy_length = spec.window_samples, spec.input_window_samples
    out = np.zeros((lossy.shape[0], length), np.float32)
    if spec.strategy == "pad-edges":  # centred, zeros at both ends
        left = (length - lossy_length) // 2
        out[:, left : left + lossy_length] = lossy
    else:  # spread-zeros: lossy sample i lands at floor(i·L/Lq)
        out[:, (np.arange(lossy_length) * length) // lossy_length] = lossy
    return out


def crossfade_weights(n: int) -> np.ndarray:
    """Periodic Hann, 0.5 − 0.5·cos(2πk/n): consecutive windows at hop n/2 sum to exactly 1."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


# ----------------------------------------------------------------------------- the windowed restorer


def model_device(model: nn.Module) -> torch.device:
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


class WindowedRestorer:
    """Weighted overlap-add of a model over a stream: `push` (C, n) input chunks at spec.input_rate,
    get back the (C, m) output chunks at spec.sample_rate that are final; `finish` returns the rest.

    Window w covers output samples [w·hop − hop, w·hop − hop + L). Memory holds one input chunk, one
    batch of windows and about L + batch·hop output samples, whatever the track's length.
    """

    def __init__(self, model: nn.Module, spec: WindowSpec, batch_size: int = DEFAULT_BATCH_SIZE,
                 device: torch.device | str | None = None, n_output: int | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model, self.spec, self.batch_size = model, spec, batch_size
        self.device = torch.device(device) if device is not None else model_device(model)
        self.n_output = n_output  # output length when known in advance (evaluation: the lossless length)
        self.weights = crossfade_weights(spec.window_samples)  # (L,) float64
        self.n_input = 0  # input samples pushed so far
        self._x = None  # (C, n) input samples [x_start, x_start + n)
        self._x_start = 0
        self._next_window = 0
        self._acc = None  # (C, n) float64 weighted sum of outputs, from output sample y_start on
        self._wsum = np.zeros(0)  # (n,) float64 sum of weights
        self._y_start = 0  # output samples before this one have been returned
        self.n_windows = 0

    # window geometry
    def _output_start(self, w: int) -> int:
        return w * self.spec.hop_samples - self.spec.hop_samples

    def _input_range(self, w: int) -> tuple[int, int]:
        start = self.spec.input_start(self._output_start(w))
        return start, start + self.spec.input_window_samples

    def _total_windows(self, n_output: int) -> int:
        """Windows until the last output sample lies in two of them: w·hop − hop <= n − 1."""
        return 0 if n_output <= 0 else (n_output - 1) // self.spec.hop_samples + 2

    def push(self, chunk: np.ndarray) -> np.ndarray:
        chunk = np.asarray(chunk, np.float32)
        self._x = chunk.copy() if self._x is None else np.concatenate([self._x, chunk], axis=1)
        self.n_input += chunk.shape[-1]
        ready = self._next_window
        last = self._total_windows(self.n_output) if self.n_output is not None else None
        while self._input_range(ready)[1] <= self.n_input and (last is None or ready < last):
            ready += 1
        # wait for a full batch while more input can come; a long chunk gives several batches
        n_full = (ready - self._next_window) // self.batch_size * self.batch_size
        self._run_windows(self._next_window + n_full)
        safe = self.n_input if self.spec.strategy == "resample" else self.n_input * self.spec.sample_rate // self.spec.input_rate
        if self.n_output is not None:
            safe = min(safe, self.n_output)
        return self._emit(min(self._output_start(self._next_window), safe))

    def finish(self) -> np.ndarray:
        if self._x is None:
            return np.zeros((0, 0), np.float32)
        n_output = self.n_output if self.n_output is not None else self.spec.output_length(self.n_input)
        self._run_windows(self._total_windows(n_output))
        return self._emit(n_output)

    def _window_input(self, w: int) -> np.ndarray:
        """(C, L) model input of window w; zeros outside the input [0, n_input)."""
        start, stop = self._input_range(w)
        piece = np.zeros((self._x.shape[0], stop - start), np.float32)
        lo, hi = max(start, self._x_start), min(stop, self._x_start + self._x.shape[-1])
        if hi > lo:
            piece[:, lo - start : hi - start] = self._x[:, lo - self._x_start : hi - self._x_start]
        return layout_window(piece, self.spec)

    @torch.inference_mode()
    def _run_windows(self, stop: int) -> None:
        length = self.spec.window_samples
        while self._next_window < stop:
            batch = list(range(self._next_window, min(self._next_window + self.batch_size, stop)))
            x = torch.from_numpy(np.stack([self._window_input(w) for w in batch])).to(self.device)  # (B, C, L)
            y = self.model(x).float().cpu().numpy()  # (B, C, L)
            if y.shape != x.shape:
                raise ValueError(f"the model returned {tuple(y.shape)} for input {tuple(x.shape)}")
            for w, out in zip(batch, y):
                start = self._output_start(w)
                skip = max(self._y_start - start, 0)  # the part before the track (w = 0) is never output
                self._ensure_acc(start + length)
                a = start + skip - self._y_start
                self._acc[:, a : a + length - skip] += self.weights[skip:] * out[:, skip:]
                self._wsum[a : a + length - skip] += self.weights[skip:]
            self._next_window = batch[-1] + 1
            self.n_windows += len(batch)
        # drop input no later window reads
        keep_from = self._input_range(self._next_window)[0]
        if keep_from > self._x_start:
            drop = min(keep_from - self._x_start, self._x.shape[-1])
            self._x = self._x[:, drop:]
            self._x_start += drop

    def _ensure_acc(self, end: int) -> None:
        n = end - self._y_start
        if self._acc is None:
            self._acc = np.zeros((self._x.shape[0], 0))
        if n > self._acc.shape[-1]:
            grow = n - self._acc.shape[-1]
            self._acc = np.concatenate([self._acc, np.zeros((self._acc.shape[0], grow))], axis=1)
            self._wsum = np.concatenate([self._wsum, np.zeros(grow)])

    def _emit(self, stop: int) -> np.ndarray:
        n = stop - self._y_start
        channels = self._x.shape[0]
        if n <= 0:
            return np.zeros((channels, 0), np.float32)
        self._ensure_acc(stop)
        wsum = self._wsum[:n]
        out = np.divide(self._acc[:, :n], wsum, out=np.zeros((channels, n)), where=wsum > 0).astype(np.float32)
        self._acc, self._wsum = self._acc[:, n:], self._wsum[n:]
        self._y_start = stop
        return out


def restore_chunks(model: nn.Module, chunks: Iterable[np.ndarray], spec: WindowSpec, batch_size: int = DEFAULT_BATCH_SIZE,
                   device: torch.device | str | None = None, n_output: int | None = None) -> Iterator[np.ndarray]:
    """Restore a stream of (C, n) input chunks at spec.input_rate; yield (C, m) output chunks at spec.sample_rate, in order."""
    restorer = WindowedRestorer(model, spec, batch_size, device, n_output)
    for chunk in chunks:
        out = restorer.push(chunk)
        if out.shape[-1]:
            yield out
    out = restorer.finish()
    if out.shape[-1]:
        yield out


def _as_stereo(audio: np.ndarray) -> np.ndarray:
    if audio.ndim != 2:
        raise EnhanceError(f"expected (channels, samples) audio, got shape {audio.shape}")
    if audio.shape[0] > 2:
        raise EnhanceError(f"{audio.shape[0]} channels: only mono and stereo can be restored (downmix first, e.g. ffmpeg -ac 2)")
    return np.repeat(audio, 2, axis=0) if audio.shape[0] == 1 else audio


def _back_to(audio: np.ndarray, channels: int) -> np.ndarray:
    """The model's stereo output as `channels` channels: mono is the mean of the two."""
    return audio.mean(axis=0, keepdims=True).astype(np.float32) if channels == 1 else audio


def enhance_array(model: nn.Module, lossy: np.ndarray, spec: WindowSpec, batch_size: int = DEFAULT_BATCH_SIZE,
                  device: torch.device | str | None = None, n_output: int | None = None,
                  chunk_samples: int | None = None) -> np.ndarray:
    """Restore a whole (C, T) track held in memory (C = 1 or 2) at spec.input_rate; returns (C, n_output) at spec.sample_rate.

    `n_output` defaults to spec.output_length(T). `chunk_samples` feeds the input in pieces (the
    streaming path); the result is the same either way.
    """
    stereo = _as_stereo(np.asarray(lossy, np.float32))
    step = chunk_samples or max(stereo.shape[-1], 1)
    pieces = (stereo[:, i : i + step] for i in range(0, stereo.shape[-1], step))
    out = list(restore_chunks(model, pieces, spec, batch_size, device, n_output))
    n = n_output if n_output is not None else spec.output_length(stereo.shape[-1])
    restored = np.concatenate(out, axis=1) if out else np.zeros((2, n), np.float32)
    return _back_to(restored, lossy.shape[0])


# ----------------------------------------------------------------------------- checkpoints


@dataclass
class Enhancer:
    model: nn.Module
    spec: WindowSpec
    checkpoint: str
    model_name: str
    step: int
    dataset_version: str
    dataset: dict  # the checkpoint's dataset record (preset, strategy, rates, segment length)


def resolve_checkpoint(path: str | Path, which: str = "best") -> Path:
    """A checkpoint file, or a run folder: its checkpoints/best.pt (if `which` is "best" and it exists), else last.pt."""
    path = Path(path)
    if path.is_file():
        return path
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    names = ["best.pt", "last.pt"] if which == "best" else [f"{which}.pt"]
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"no checkpoint at {path} (looked for a file, or {' / '.join(names)} in {folder})")


def spec_from_checkpoint(ckpt: dict, window_seconds: float | None = None) -> WindowSpec:
    """The window layout a checkpoint's model was trained on (ladle_model/train.py stores the dataset's fields).

    Window = the training crop (TrainConfig.segment_seconds) when one was set, else the dataset's
    segment length; `window_seconds` overrides it (resample strategy only: the other layouts are tied
    to the segment length). A checkpoint without a dataset record falls back to 44.1 kHz, resample,
    1 s windows, with a warning.
    """
    dataset = ckpt.get("dataset") or {}
    if not dataset.get("sample_rate"):
        log.warning("checkpoint has no dataset record: assuming %d Hz, strategy resample, %.1f s windows",
                    FALLBACK_SAMPLE_RATE, FALLBACK_SEGMENT_SECONDS)
        dataset = {"sample_rate": FALLBACK_SAMPLE_RATE, "strategy": "resample", "segment_seconds": FALLBACK_SEGMENT_SECONDS}
    strategy = dataset.get("strategy", "resample")
    crop = (ckpt.get("config", {}).get("train") or {}).get("segment_seconds")
    seconds = dataset.get("segment_seconds") or FALLBACK_SEGMENT_SECONDS
    if strategy == "resample":
        seconds = window_seconds or crop or seconds
    elif window_seconds is not None and not math.isclose(window_seconds, seconds):
        raise ValueError(f"a {strategy} model's window is its training segment ({seconds} s); it cannot be changed")
    return make_spec(dataset["sample_rate"], seconds, strategy, dataset.get("lossy_sample_rate"))


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for but no CUDA device is visible")
    return torch.device(device)


def load_enhancer(checkpoint: str | Path, device: str = "auto", window_seconds: float | None = None) -> Enhancer:
    """The model of a training checkpoint (or run folder), in eval mode on `device`, with its window layout."""
    from ladle_model.models import build_model
    from ladle_model.train import load_checkpoint

    path = resolve_checkpoint(checkpoint)
    ckpt = load_checkpoint(path, map_location="cpu")
    model = build_model(ckpt["model_name"], **ckpt["config"]["model"])
    model.load_state_dict(ckpt["model"])
    model = model.to(pick_device(device)).eval()
    return Enhancer(model, spec_from_checkpoint(ckpt, window_seconds), str(path), ckpt["model_name"], ckpt.get("step", 0),
                    ckpt.get("dataset_version", ""), dict(ckpt.get("dataset") or {}))


# ----------------------------------------------------------------------------- files


@dataclass
class EnhanceResult:
    source: str
    output: str
    sample_rate: int  # of the output (the input's own unless asked otherwise)
    channels: int
    frames: int  # of the output
    duration_s: float
    seconds: float  # wall time
    n_windows: int

    @property
    def realtime_factor(self) -> float:
        return self.duration_s / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class Skipped:
    source: str
    reason: str


def enhance_file(model: nn.Module, spec: WindowSpec, source: str | Path, output: str | Path, *,
                 batch_size: int = DEFAULT_BATCH_SIZE, device: torch.device | str | None = None,
                 output_sample_rate: int | None = None, subtype: str = "PCM_24", chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                 progress: bool = False, on_chunk: Callable[[np.ndarray], None] | None = None) -> EnhanceResult:
    """Restore one file FFmpeg can read into FLAC/WAV (by `output`'s suffix) of the same duration and channels.

    The output is at the input's own rate unless `output_sample_rate` is given (a 32 kHz Ogg restored
    by a 44.1 kHz model comes back at 32 kHz by default: pass 44100 to keep the restored top band).
    `on_chunk` sees each decoded input chunk (tests use it to check the memory bound).
    """
    from storage import ffmpeg as ff
    from storage import stream

    started = time.perf_counter()
    info = ff.probe_audio(source)
    if info.channels not in (1, 2):
        raise EnhanceError(f"{Path(source).name} has {info.channels} channels: only mono and stereo can be restored "
                           "(downmix first, e.g. ffmpeg -i in -ac 2 out.flac)")
    out_rate = output_sample_rate or info.sample_rate
    chunk_frames = max(round(chunk_seconds * info.sample_rate), 1)
    to_model = stream.StreamResampler(info.sample_rate, spec.input_rate)
    to_output = stream.StreamResampler(spec.sample_rate, out_rate)
    restorer = WindowedRestorer(model, spec, batch_size, device)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=round(info.duration_s, 1) if info.duration_s else None, unit="s", desc=Path(source).name,
                   dynamic_ncols=True, leave=False)

    n_in = 0
    held = np.zeros((info.channels, 0), np.float32)  # the output's last second, held until its exact length is known
    with stream.open_audio_writer(output, out_rate, info.channels, subtype=subtype) as writer:

        def write(restored: np.ndarray, final: bool = False) -> None:
            nonlocal held
            out = _back_to(to_output.push(restored) if restored.shape[-1] else np.zeros((2, 0), np.float32), info.channels)
            if final:
                out = np.concatenate([out, _back_to(to_output.flush(), info.channels)], axis=1) if to_output.n_in else out
            held = np.concatenate([held, out], axis=1)
            if not final and held.shape[-1] > out_rate:
                writer.write(held[:, : -out_rate])
                held = held[:, -out_rate:]

        for chunk in stream.decode_chunks(source, info.channels, chunk_frames):
            if on_chunk is not None:
                on_chunk(chunk)
            n_in += chunk.shape[-1]
            write(restorer.push(to_model.push(_as_stereo(chunk))))
            if bar is not None:
                bar.update(round(chunk.shape[-1] / info.sample_rate, 1))
        tail = to_model.flush()
        if tail.shape[-1]:
            write(restorer.push(tail))
        write(restorer.finish(), final=True)
        # the exact length: the input's frames at the output rate (torchaudio's resampled length)
        n_out = n_in if out_rate == info.sample_rate else resampled_length(n_in, info.sample_rate, out_rate)
        remaining = n_out - writer.frames
        if remaining < 0:
            raise RuntimeError(f"wrote {writer.frames} frames, more than the {n_out} the input gives")  # held back too little: a bug
        last = held[:, :remaining]
        writer.write(np.concatenate([last, np.zeros((info.channels, remaining - last.shape[-1]), np.float32)], axis=1))
        frames = writer.frames
    if bar is not None:
        bar.close()
    return EnhanceResult(str(source), str(output), out_rate, info.channels, frames, frames / out_rate,
                         time.perf_counter() - started, restorer.n_windows)


def output_path_for(source: Path, root: Path, out_dir: Path, suffix: str) -> Path:
    """`source` under `root` mirrored under `out_dir`, with the output format's suffix."""
    return (out_dir / source.relative_to(root)).with_suffix(suffix)


def enhance_path(model: nn.Module, spec: WindowSpec, source: str | Path, output: str | Path, *, suffix: str = ".flac",
                 progress: bool = False, **kwargs) -> list[EnhanceResult | Skipped]:
    """Restore a file, or every audio file under a folder into `output` (a folder: names mirrored, with `suffix`).

    Files FFmpeg finds no audio in (cover art, cue sheets, logs) are skipped with a note, as are
    files with more than two channels; hidden files and anything under `output` are not looked at.
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
    results: list[EnhanceResult | Skipped] = []
    files = sorted(p for p in source.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(source).parts)
                   and not p.resolve().is_relative_to(output_resolved))
    for path in files:
        try:
            ff.probe_audio(path)
        except ff.FFmpegError:
            results.append(Skipped(str(path), "not audio FFmpeg can read"))
            continue
        try:
            results.append(enhance_file(model, spec, path, output_path_for(path, source, output, suffix), progress=progress, **kwargs))
        except (EnhanceError, ff.FFmpegError) as e:
            results.append(Skipped(str(path), str(e)))
    return results


def result_dict(result: EnhanceResult | Skipped) -> dict:
    d = dataclasses.asdict(result)
    if isinstance(result, EnhanceResult):
        d["realtime_factor"] = round(result.realtime_factor, 2)
    return d
