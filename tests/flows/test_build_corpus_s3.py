"""build-corpus with sources and data in object storage (a real S3-protocol server on loopback)."""

import json
import os

import boto3
import numpy as np
import pytest
import webdataset as wds

from flows.build_corpus import REFUSED_KEY_REASON, build_corpus
from flows.cli import main
from storage import fs
from tests.conftest import tone_pcm, write_pcm

pytestmark = pytest.mark.slow


def test_build_from_bucket_to_bucket_then_read_shards_from_it(
    prefect_harness, s3_server, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("LADLE_CACHE_DIR", str(tmp_path / "cache"))
    library = tmp_path / "library"
    for i in range(4):
        write_pcm(library / f"{i}.flac", tone_pcm(1.2, seed=500 + i))
    remote, root = fs.filesystem(s3_server)
    remote.put(str(library), f"{root}/library", recursive=True)
    # A hostile key: written naively it would land outside the cache (issue 13's defect 1).
    escape = "../" * 12 + str(tmp_path / "escaped.flac").lstrip("/")
    client = boto3.client("s3", endpoint_url=os.environ["LADLE_S3_ENDPOINT_URL"])
    client.put_object(Bucket=root, Key=f"library/{escape}", Body=(library / "0.flac").read_bytes())
    data = f"{s3_server}/corpus/data"

    summary = build_corpus(sources=[f"{s3_server}/library"], data=data, segment_seconds=0.4)
    assert summary["n_tracks"] == 4 and summary["n_encoded"] == 4
    assert not (tmp_path / "escaped.flac").exists()
    assert {
        "path": f"{s3_server}/library/{escape}",
        "stage": "scan",
        "reason": REFUSED_KEY_REASON,
        "preset": None,
    } in summary["quarantine"]
    (dataset,) = summary["datasets"]
    assert dataset["folder"] == f"{data}/datasets/{dataset['version']}"
    assert remote.exists(f"{root}/corpus/data/datasets/{dataset['version']}/manifest.json")
    assert not list((tmp_path / "cache").rglob("*.tar"))  # the mirror keeps no shards

    assert main(["catalog", "--data", data, "--json"]) == 0
    catalog = json.loads(capsys.readouterr().out)
    assert catalog["tracks"] == 4
    shard_urls = [u for s in catalog["datasets"][0]["splits"].values() for u in s["shards"]]
    assert shard_urls and all(u.startswith(f"{data}/shards/vorbis-160/") for u in shard_urls)  # the pool
    fs.register_webdataset_schemes()
    n_samples = 0
    for sample in wds.WebDataset(shard_urls, shardshuffle=False).decode():
        x, y = sample["lossless.npy"], sample["lossy.npy"]
        assert x.shape == (2, 17640) and np.corrcoef(x.ravel(), y.ravel())[0, 1] > 0.9
        n_samples += 1
    assert n_samples == sum(s["segments"] for s in catalog["datasets"][0]["splits"].values()) == 4 * 3

    # A second worker with an empty cache encodes nothing: the bitstreams come from the bucket.
    monkeypatch.setenv("LADLE_CACHE_DIR", str(tmp_path / "other-cache"))
    again = build_corpus(sources=[f"{s3_server}/library"], data=data, segment_seconds=0.4)
    assert again["n_encoded"] == 0 and again["n_shards_written"] == 0
    assert again["datasets"][0]["version"] == dataset["version"]


def test_training_reads_shards_from_the_bucket_and_keeps_its_run_there(
    prefect_harness, s3_server, tmp_path, monkeypatch
):
    from flows.train_ladle import train_ladle

    monkeypatch.setenv("LADLE_CACHE_DIR", str(tmp_path / "cache"))
    library = tmp_path / "library"
    for i in range(6):
        write_pcm(library / f"{i}.flac", tone_pcm(1.0, seed=600 + i))
    data, run = f"{s3_server}/train/data", f"{s3_server}/train/runs/tiny"
    build_corpus(sources=[str(library)], data=data, segment_seconds=0.25)
    overrides = {"feature_net_steps": 2, "num_workers": 0, "model_overrides": {"channels": 8, "n_units": 2}}
    result = train_ladle(
        data=data,
        run_dir=run,
        recipe="paper",
        overrides={**overrides, "model": "drrn1d", "max_steps": 3, "batch_size": 2},
    )
    assert result["step"] == 3 and result["loss_curve"] == f"{run}/loss_curve.png"
    remote, root = fs.filesystem(s3_server)
    assert remote.exists(f"{root}/train/runs/tiny/checkpoints/last.pt")
    # Another machine (an empty cache) resumes the run from the bucket.
    monkeypatch.setenv("LADLE_CACHE_DIR", str(tmp_path / "other-cache"))
    resumed = train_ladle(
        data=data,
        run_dir=run,
        recipe="paper",
        overrides={**overrides, "model": "drrn1d", "max_steps": 5, "batch_size": 2},
    )
    assert resumed["step"] == 5
