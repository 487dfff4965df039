import os

import numpy as np
import pytest
import webdataset as wds

from storage import fs
from storage.lock import LockHeld


def test_push_then_pull_round_trip_with_commit_marker_last(s3_server, tmp_path):
    local = tmp_path / "data"
    (local / "datasets" / "v1").mkdir(parents=True)
    (local / "datasets" / "v1" / "manifest.json").write_text("{}")
    (local / "datasets" / "v1" / "train-000000.tar").write_bytes(b"x" * 1000)
    (local / "catalog").mkdir()
    (local / "catalog" / "tracks.parquet").write_bytes(b"parquet bytes")
    (local / ".lock").write_text("")
    url = f"{s3_server}/roundtrip"
    assert fs.push(local, url) == [
        "catalog/tracks.parquet",
        "datasets/v1/train-000000.tar",
        "datasets/v1/manifest.json",
    ]
    # nothing else changed, nothing else sent; the catalog is rewritten in place, so it always moves
    assert fs.push(local, url) == ["catalog/tracks.parquet"]
    back = tmp_path / "back"
    assert fs.pull(url, back, exclude=("datasets/*/*.tar",)) == ["catalog/tracks.parquet", "datasets/v1/manifest.json"]
    assert (back / "catalog" / "tracks.parquet").read_bytes() == b"parquet bytes"
    assert not (back / "datasets" / "v1" / "train-000000.tar").exists()
    assert fs.pull(url, back) == ["catalog/tracks.parquet", "datasets/v1/train-000000.tar"]
    # a table rewritten at the same size (a retitled track's row) reaches the bucket and comes back
    (local / "catalog" / "tracks.parquet").write_bytes(b"PARQUET BYTES")
    fs.push(local, url)
    fs.pull(url, back)
    assert (back / "catalog" / "tracks.parquet").read_bytes() == b"PARQUET BYTES"


def test_stock_webdataset_reads_shards_straight_from_the_bucket(s3_server, tmp_path):
    shard = tmp_path / "s.tar"
    with wds.TarWriter(str(shard)) as sink:
        for i in range(3):
            sink.write({"__key__": f"k{i}", "x.npy": np.full((2, 4), i, np.float32)})
    remote, root = fs.filesystem(s3_server)
    remote.put_file(str(shard), f"{root}/wds/s.tar")
    fs.register_webdataset_schemes()
    samples = list(wds.WebDataset(f"{s3_server}/wds/s.tar", shardshuffle=False).decode())
    assert [int(s["x.npy"][0, 0]) for s in samples] == [0, 1, 2]
    with fs.open_file(f"{s3_server}/wds/s.tar") as f:
        assert f.read() == shard.read_bytes()


def test_local_mirror_pulls_then_pushes_and_evicts_bucket_only_files(s3_server, tmp_path, monkeypatch):
    monkeypatch.setenv("LADLE_CACHE_DIR", str(tmp_path / "cache"))
    url = f"{s3_server}/mirror"
    remote, root = fs.filesystem(url)
    remote.pipe_file(f"{root}/catalog/runs.json", b"[]")
    remote.pipe_file(f"{root}/datasets/v1/train-000000.tar", b"shard")
    messages = []
    with fs.local_mirror(
        url, push=True, exclude=("datasets/*/*.tar",), lock_wait_seconds=0, log=messages.append
    ) as local:
        assert local == fs.mirror_folder(url)
        assert (local / "catalog" / "runs.json").read_bytes() == b"[]"
        assert not (local / "datasets" / "v1" / "train-000000.tar").exists()  # excluded: stays in the bucket
        (local / "datasets" / "v2").mkdir(parents=True)
        (local / "datasets" / "v2" / "train-000000.tar").write_bytes(b"new shard")
        (local / "datasets" / "v2" / "manifest.json").write_text("{}")
    assert messages == [f"pulled 1 files of {url}", f"pushed 3 files to {url}"]  # the catalog always moves
    assert remote.cat_file(f"{root}/datasets/v2/train-000000.tar") == b"new shard"
    assert not remote.exists(f"{root}/.lock")  # the lock never travels
    assert not (local / "datasets" / "v2" / "train-000000.tar").exists()  # pushed, then evicted locally
    assert (local / "datasets" / "v2" / "manifest.json").exists()


def test_local_mirror_pushes_on_error_only_when_asked(s3_server, tmp_path, monkeypatch):
    monkeypatch.setenv("LADLE_CACHE_DIR", str(tmp_path / "cache"))
    remote, root = fs.filesystem(s3_server)
    for name, push_on_error in (("kept", True), ("dropped", False)):
        url = f"{s3_server}/{name}"
        try:
            with fs.local_mirror(url, push=True, push_on_error=push_on_error) as local:
                (local / "checkpoint.pt").write_bytes(b"weights")
                raise ValueError("training failed")
        except ValueError:
            pass
        assert remote.exists(f"{root}/{name}/checkpoint.pt") == push_on_error


def test_local_mirror_of_a_local_path_is_the_path_untouched(tmp_path):
    folder = tmp_path / "data"
    with fs.local_mirror(str(folder), push=True, lock_wait_seconds=0) as local:
        assert local == folder
        with pytest.raises(LockHeld):
            with fs.local_mirror(folder, lock_wait_seconds=0):
                pass
    assert sorted(p.name for p in folder.iterdir()) == [".lock"]


def test_a_key_escaping_its_prefix_is_refused_never_written(s3_server, tmp_path, monkeypatch):
    import boto3

    monkeypatch.setenv("LADLE_CACHE_DIR", str(tmp_path / "cache"))
    client = boto3.client("s3", endpoint_url=os.environ["LADLE_S3_ENDPOINT_URL"])
    bucket = s3_server.removeprefix("s3://")
    escape = "../" * 12 + str(tmp_path / "escaped.flac").lstrip("/")
    client.put_object(Bucket=bucket, Key=f"hostile/{escape}", Body=b"x")
    client.put_object(Bucket=bucket, Key="hostile/sub/../fine.flac", Body=b"fine")  # stays inside: allowed
    refused, messages = [], []
    with fs.local_mirror(f"{s3_server}/hostile", refused=refused, log=messages.append) as local:
        assert sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()) == ["fine.flac"]
    assert refused == [f"{s3_server}/hostile/{escape}"]
    assert not (tmp_path / "escaped.flac").exists() and messages == [f"pulled 1 files of {s3_server}/hostile"]
    assert fs.contained_path(tmp_path, "a/b") == (tmp_path / "a" / "b").resolve()
    assert fs.contained_path(tmp_path, "/etc/passwd") is None and fs.contained_path(tmp_path, "..") is None
