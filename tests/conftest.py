"""Shared fixtures: tiny in-memory audio written as real files, and an isolated Prefect.

Prefect never touches the user's state from a test: PREFECT_HOME points at a temporary folder for
the whole session, and flow tests run under `prefect_test_harness` (a temporary SQLite server).
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
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "LADLE_S3_ENDPOINT_URL")}
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
