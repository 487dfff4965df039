import numpy as np
import webdataset as wds

from storage import fs


def test_push_then_pull_round_trip_with_commit_marker_last(s3_server, tmp_path):
    local = tmp_path / "data"
    (local / "datasets" / "v1").mkdir(parents=True)
    (local / "datasets" / "v1" / "manifest.json").write_text("{}")
    (local / "datasets" / "v1" / "train-000000.tar").write_bytes(b"x" * 1000)
    (local / "catalog").mkdir()
    (local / "catalog" / "tracks.parquet").write_bytes(b"parquet bytes")
    (local / ".lock").write_text("")
    url = f"{s3_server}/roundtrip"
    assert fs.push(local, url) == ["catalog/tracks.parquet", "datasets/v1/train-000000.tar", "datasets/v1/manifest.json"]
    assert fs.push(local, url) == []  # nothing changed, nothing sent
    back = tmp_path / "back"
    assert fs.pull(url, back, exclude=("datasets/*/*.tar",)) == ["catalog/tracks.parquet", "datasets/v1/manifest.json"]
    assert (back / "catalog" / "tracks.parquet").read_bytes() == b"parquet bytes"
    assert not (back / "datasets" / "v1" / "train-000000.tar").exists()
    assert fs.pull(url, back) == ["datasets/v1/train-000000.tar"]


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
