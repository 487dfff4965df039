"""A tiny dataset version on disk, written exactly as the corpus builder writes one (storage/manifest.py).

Lossless = a few stereo tones, lossy = the same through a gentle low-pass and 8-bit quantisation,
so there is something real (high frequencies, quantisation noise) to restore.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds

from storage.manifest import DatasetManifest, SegmentMeta, SplitSummary, write_manifest

TINY_SAMPLE_RATE = 8000
TINY_SEGMENT_SECONDS = 0.25  # 2000 samples
TINY_VERSION = "tiny-v1"
TINY_PRESET = "vorbis-160"


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def tiny_pair(rng: np.random.Generator, n_samples: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(lossless, lossy), each float32 (2, n_samples) in [-1, 1]; lossy is ~10 dB SNR, invertible."""
    t = np.arange(n_samples) / sample_rate
    lossless = np.zeros((2, n_samples))
    for _ in range(3):
        freq = rng.uniform(100, 2500)
        phase = rng.uniform(0, 2 * np.pi, size=(2, 1))
        lossless += rng.uniform(0.05, 0.25) * np.sin(2 * np.pi * freq * t + phase)
    # A gentle low-pass (gain cos^2(pi f / fs): dull, but zero only at Nyquist, so a model can undo
    # it) and 8-bit quantisation noise: the two things a codec does to the top of the spectrum.
    kernel = np.array([0.25, 0.5, 0.25])
    lossy = np.stack([np.convolve(ch, kernel, mode="same") for ch in lossless])
    lossy = np.round(lossy * 128) / 128
    return lossless.astype(np.float32), lossy.astype(np.float32)


def write_tiny_dataset(
    data_dir: str | Path,
    version: str = TINY_VERSION,
    shards: dict[str, list[int]] | None = None,
    sample_rate: int = TINY_SAMPLE_RATE,
    segment_seconds: float = TINY_SEGMENT_SECONDS,
    preset: str = TINY_PRESET,
    seed: int = 0,
) -> DatasetManifest:
    """Write `shards[split] = [segments in shard 0, segments in shard 1, ...]` and the manifest."""
    shards = shards or {"train": [6, 6], "val": [4]}
    folder = Path(data_dir) / "datasets" / version
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_samples = round(segment_seconds * sample_rate)
    summaries = {}
    for split, counts in shards.items():
        names = []
        for shard_index, n_segments in enumerate(counts):
            name = f"{split}-{shard_index:06d}.tar"
            with wds.TarWriter(str(folder / name)) as sink:
                for i in range(n_segments):
                    track_id = f"{split}{shard_index}t{i // 2}"
                    offset = (i % 2) * n_samples
                    key = f"{track_id}_{offset:09d}"
                    lossless, lossy = tiny_pair(rng, n_samples, sample_rate)
                    meta = SegmentMeta(track_id, offset, i % 2, preset, "resample", sample_rate, sample_rate,
                                       segment_seconds, split, 2, version)
                    sink.write({"__key__": key, "lossless.npy": npy_bytes(lossless), "lossy.npy": npy_bytes(lossy),
                                "json": json.dumps(meta.__dict__).encode()})
            names.append(name)
        summaries[split] = SplitSummary(tracks=sum((c + 1) // 2 for c in counts), segments=sum(counts), shards=names)
    manifest = DatasetManifest(version, preset, "resample", segment_seconds, segment_seconds, sample_rate, sample_rate,
                               summaries, config={"test": True}, code_version="test")
    write_manifest(folder, manifest)
    return manifest


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> Path:
    """DATA folder with one dataset version: 2 train shards of 6 segments, 1 val shard of 4 (0.25 s at 8 kHz)."""
    data_dir = tmp_path_factory.mktemp("data")
    write_tiny_dataset(data_dir)
    return data_dir
