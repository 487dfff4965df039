"""Windows over a whole track: a model trained on short segments run over any length, in bounded memory.

    spec = make_spec(44100, 1.0, "pad-edges", lossy_sample_rate=32000)    # the layout of a dataset
    restored = enhance_array(model, lossy, spec)      # (C, T) lossy at spec.input_rate -> (C, T') at spec.sample_rate

The model sees windows of its training segment length L (at the dataset rate R), laid out as in
training: the segmentation strategy (storage/strategy.py) says at which rate the lossy samples come
(R for `resample`, the codec's rate r for `pad-edges` and `spread-zeros`), how many of them fill
a window and how they are laid out over its L positions. Windows advance by hop = L/2 and their
outputs are blended with periodic Hann weights, divided by the sum of the weights at each sample
(weighted overlap-add). For a periodic Hann window at 50 % overlap the weights already sum to 1
(the constant-overlap-add property, e.g. J. O. Smith, "Spectral Audio Signal Processing", sec.
"Overlap-Add (OLA) STFT Processing"); the division keeps the sum exactly 1 for any L, odd ones
included. The first window starts half a window before the track (the input is zero-padded at both
ends), so every output sample, the first and last included, lies in two windows: an identity model
reproduces its input exactly. Each window's edges, where a convolutional model sees zero padding and
an attention model sees no context, get weights near 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from storage.strategy import Strategy, get_strategy

DEFAULT_BATCH_SIZE = 8


class EnhanceError(ValueError):
    """An input that cannot be restored (too many channels, not audio, ...); the message says why."""


# ----------------------------------------------------------------------------- the window layout


@dataclass(frozen=True)
class WindowSpec:
    """How a model's input windows are laid out: its training segments' layout (storage/strategy.py)."""

    sample_rate: int  # R: the model's output rate, the dataset's (lossless) rate
    input_rate: int  # rate of the lossy samples fed in: the strategy's lossy rate for the codec's rate
    strategy: str  # a name storage.strategy knows: resample | pad-edges | spread-zeros
    window_samples: int  # L, at R: the training segment length
    hop_samples: int  # L // 2 by default

    def __post_init__(self) -> None:
        rule = get_strategy(self.strategy)  # unknown names raise here
        if rule.lossy_rate(self.sample_rate, self.input_rate) != self.input_rate:
            raise ValueError(
                f"strategy {self.strategy} does not feed the model lossy samples at {self.input_rate} Hz "
                f"(model rate {self.sample_rate} Hz)"
            )
        rule.check_rates(self.sample_rate, self.input_rate)
        if not 0 < self.hop_samples <= self.window_samples:
            raise ValueError(
                f"need 0 < hop_samples <= window_samples, got {self.hop_samples} and {self.window_samples}"
            )

    @property
    def rule(self) -> Strategy:
        return get_strategy(self.strategy)

    @property
    def input_window_samples(self) -> int:
        """Lq: lossy samples per window."""
        return self.rule.lossy_length(self.window_samples, self.sample_rate, self.input_rate)

    def input_start(self, output_start: int) -> int:
        """The first input sample of the window whose output starts at `output_start` (the training cut's rounding)."""
        return self.rule.lossy_start(output_start, self.sample_rate, self.input_rate)

    def output_length(self, n_input: int) -> int:
        """Output samples for `n_input` input samples: the same duration at R (the resampler's length)."""
        return self.rule.output_length(n_input, self.sample_rate, self.input_rate)

    @property
    def resizable(self) -> bool:
        """Whether windows may differ from the training segment: only when the lossy audio comes at the model's
        rate, where every strategy's layout is the identity (storage/strategy.py)."""
        return self.input_rate == self.sample_rate


def make_spec(
    sample_rate: int,
    segment_seconds: float,
    strategy: str = "resample",
    lossy_sample_rate: int | None = None,
    hop_fraction: float = 0.5,
) -> WindowSpec:
    """A WindowSpec from a dataset's fields (DatasetManifest / the checkpoint's "dataset" record)."""
    window = max(round(segment_seconds * sample_rate), 1)
    input_rate = get_strategy(strategy).lossy_rate(sample_rate, lossy_sample_rate or sample_rate)
    return WindowSpec(sample_rate, input_rate, strategy, window, max(int(window * hop_fraction), 1))


def layout_window(lossy: np.ndarray, spec: WindowSpec) -> np.ndarray:
    """(C, Lq) lossy samples -> the (C, L) model input, exactly as the training segments lay them out."""
    return np.asarray(spec.rule.layout(lossy, spec.window_samples), np.float32)


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

    def __init__(
        self,
        model: nn.Module,
        spec: WindowSpec,
        batch_size: int = DEFAULT_BATCH_SIZE,
        device: torch.device | str | None = None,
        n_output: int | None = None,
    ) -> None:
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
        safe = self.n_input * self.spec.sample_rate // self.spec.input_rate  # output samples the input so far covers
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
            # each window's first output sample: its place in the track, for a model that takes it
            # each window's place in the track (SpecNeXt's noise fill follows it; other models ignore it)
            start = torch.tensor([self._output_start(w) for w in batch])
            y = self.model(x, start=start).float().cpu().numpy()  # (B, C, L)
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


def restore_chunks(
    model: nn.Module,
    chunks: Iterable[np.ndarray],
    spec: WindowSpec,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: torch.device | str | None = None,
    n_output: int | None = None,
) -> Iterator[np.ndarray]:
    """Restore a stream of (C, n) input chunks at spec.input_rate; yield (C, m) output chunks at spec.sample_rate, in order."""
    restorer = WindowedRestorer(model, spec, batch_size, device, n_output)
    for chunk in chunks:
        out = restorer.push(chunk)
        if out.shape[-1]:
            yield out
    out = restorer.finish()
    if out.shape[-1]:
        yield out


def as_stereo(audio: np.ndarray) -> np.ndarray:
    """(C, T) audio as the models' two channels: mono is duplicated; more than two channels is an EnhanceError."""
    if audio.ndim != 2:
        raise EnhanceError(f"expected (channels, samples) audio, got shape {audio.shape}")
    if audio.shape[0] > 2:
        raise EnhanceError(
            f"{audio.shape[0]} channels: only mono and stereo can be restored (downmix first, e.g. ffmpeg -ac 2)"
        )
    return np.repeat(audio, 2, axis=0) if audio.shape[0] == 1 else audio


def back_to(audio: np.ndarray, channels: int) -> np.ndarray:
    """The model's stereo output as `channels` channels: mono is the mean of the two."""
    return audio.mean(axis=0, keepdims=True).astype(np.float32) if channels == 1 else audio


def enhance_array(
    model: nn.Module,
    lossy: np.ndarray,
    spec: WindowSpec,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: torch.device | str | None = None,
    n_output: int | None = None,
    chunk_samples: int | None = None,
) -> np.ndarray:
    """Restore a whole (C, T) track held in memory (C = 1 or 2) at spec.input_rate; returns (C, n_output) at spec.sample_rate.

    `n_output` defaults to spec.output_length(T). `chunk_samples` feeds the input in pieces (the
    streaming path); the result is the same either way.
    """
    stereo = as_stereo(np.asarray(lossy, np.float32))
    step = chunk_samples or max(stereo.shape[-1], 1)
    pieces = (stereo[:, i : i + step] for i in range(0, stereo.shape[-1], step))
    out = list(restore_chunks(model, pieces, spec, batch_size, device, n_output))
    n = n_output if n_output is not None else spec.output_length(stereo.shape[-1])
    restored = np.concatenate(out, axis=1) if out else np.zeros((2, n), np.float32)
    return back_to(restored, lossy.shape[0])
