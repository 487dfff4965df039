"""Shared fixtures: tiny in-memory audio written as real files, a tiny dataset, an isolated Prefect.

Prefect never touches the user's state from a test: PREFECT_HOME points at a temporary folder for
the whole session, and flow tests run under `prefect_test_harness` (a temporary SQLite server).

    pcm = tone_pcm(1.5, seed=3); write_pcm(tmp_path / "a.flac", pcm)
    manifest = write_tiny_dataset(tmp_path, shards={"train": [6, 6], "val": [4]})
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

_PREFECT_HOME = tempfile.mkdtemp(prefix="ladle-test-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def tone_pcm(
    duration_s: float = 1.0, sample_rate: int = 44100, channels: int = 2, bits: int = 16, seed: int = 0
) -> np.ndarray:
    """(T, C) int32 PCM at `bits` width: a chord plus a little noise, different in each channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(duration_s * sample_rate)) / sample_rate
    f0 = 220.0 * (1 + seed % 7 / 7)
    columns = []
    for c in range(channels):
        x = 0.25 * np.sin(2 * np.pi * f0 * (c + 1) * t) + 0.15 * np.sin(2 * np.pi * 3.01 * f0 * t + c)
        x += 0.05 * np.sin(2 * np.pi * 6000 * t) + 0.01 * rng.standard_normal(len(t))
        columns.append(x)
    full_scale = 2 ** (bits - 1) - 1
    return np.round(np.stack(columns, axis=1) * full_scale).astype(np.int32)


def write_pcm(path: Path, pcm: np.ndarray, sample_rate: int = 44100, bits: int = 16) -> Path:
    """Write int PCM exactly (no float conversion), as FLAC, WAV or AIFF by extension."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    if bits == 16:
        sf.write(str(path), pcm.astype(np.int16), sample_rate, subtype="PCM_16")
    else:
        sf.write(str(path), (pcm << (32 - bits)).astype(np.int32), sample_rate, subtype=f"PCM_{bits}")
    return path


TINY_SAMPLE_RATE = 8000
TINY_SEGMENT_SECONDS = 0.25  # 2000 samples
TINY_VERSION = "tiny-v1"
TINY_PRESET = "vorbis-160"


def tiny_pair(rng: np.random.Generator, n_samples: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(lossless, lossy), each float32 (2, n_samples) in [-1, 1]; lossy is ~10 dB SNR, invertible.

    Lossless = a few stereo tones, lossy = the same through a gentle low-pass and 8-bit quantisation,
    so there is something real (high frequencies, quantisation noise) to restore.
    """
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
    bits: int | None = None,
):
    """A dataset version on disk, written as the corpus builder writes one (storage/sample_format.py).

    `shards[split] = [segments in shard 0, segments in shard 1, ...]`; returns its DatasetManifest.
    `bits`: 16 or 24 stores the arrays as a build from such sources does; None keeps float32.
    """
    import webdataset as wds

    from storage.manifest import DatasetManifest, SegmentMeta, SplitSummary, write_manifest
    from storage.sample_format import encode_sample, sample_key

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
                    lossless, lossy = tiny_pair(rng, n_samples, sample_rate)
                    meta = SegmentMeta(
                        track_id,
                        offset,
                        i % 2,
                        preset,
                        "resample",
                        sample_rate,
                        sample_rate,
                        segment_seconds,
                        split,
                        2,
                        version,
                    )
                    sink.write(encode_sample(sample_key(track_id, offset), lossless, lossy, meta, bits=bits))
            names.append(name)
        summaries[split] = SplitSummary(tracks=sum((c + 1) // 2 for c in counts), segments=sum(counts), shards=names)
    manifest = DatasetManifest(
        version,
        preset,
        "resample",
        segment_seconds,
        segment_seconds,
        sample_rate,
        sample_rate,
        summaries,
        config={"test": True},
        code_version="test",
    )
    write_manifest(folder, manifest)
    return manifest


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> Path:
    """DATA folder with one dataset version: 2 train shards of 6 segments, 1 val shard of 4 (0.25 s at 8 kHz)."""
    data_dir = tmp_path_factory.mktemp("data")
    write_tiny_dataset(data_dir)
    return data_dir


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect server with its own SQLite database, shared by every flow test."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-protocol server (moto in server mode) on a free loopback port, with a bucket.

    Yields the bucket URL (`s3://ladle-test`); the endpoint and fake credentials are in the environment.
    """
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    saved = {
        k: os.environ.get(k)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "LADLE_S3_ENDPOINT_URL")
    }
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        LADLE_S3_ENDPOINT_URL=f"http://127.0.0.1:{port}",
    )
    from storage.fs import filesystem

    fs, _ = filesystem("s3://ladle-test")
    fs.mkdir("ladle-test")
    try:
        yield "s3://ladle-test"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
