"""Retention on a data folder in object storage (a real S3-protocol server): prune, what it protects, `ladle prune`."""

import json
import re

import pytest
import torch
import webdataset as wds

from flows.cli import main
from ladle_model.runs.checkpoint import CHECKPOINT_FORMAT
from ladle_model.runs.resume import run_dataset_versions
from storage import fs
from storage.catalog import read_rows
from storage.corpus import SHARD_GLOBS
from storage.versions import forget_removed_versions, prune
from tests.storage.test_pool import build


@pytest.fixture
def bucket(s3_server, tmp_path, monkeypatch, request):
    """A data folder URL of its own in the test bucket; this machine's mirrors under tmp_path."""
    monkeypatch.setenv("LADLE_CACHE_DIR", str(tmp_path / "cache"))
    return f"{s3_server}/{request.node.name}/data"


def build_in_bucket(url, pairs):
    """One version as `build-corpus --data s3://…` makes it: built in the local mirror, pushed, shards evicted.

    Returns the version and its shards as keys relative to the data folder."""
    with fs.local_mirror(url, push=True, exclude=SHARD_GLOBS, lock_wait_seconds=0) as local:
        manifest, _ = build(local, pairs)
        shards = {p.relative_to(local).as_posix() for p in manifest.all_shard_paths()}
    return manifest.version, shards


def objects(url) -> dict[str, int]:
    """Every object under `url`: its key relative to `url`, and its size."""
    remote, root = fs.filesystem(url)
    remote.invalidate_cache()
    return {p[len(root) + 1 :]: info["size"] for p, info in remote.find(root, detail=True).items()}


def albums_from(albums, first):
    return [p for a in list(albums)[first:] for p in albums[a]]


def test_prune_in_a_bucket_keeps_the_newest_and_the_protected_and_frees_what_it_deletes(bucket, albums, tmp_path):
    old, old_shards = build_in_bucket(bucket, albums_from(albums, 0))
    mid, mid_shards = build_in_bucket(bucket, albums_from(albums, 1))  # album 0 removed
    new, new_shards = build_in_bucket(bucket, albums_from(albums, 2))  # album 1 removed too
    only_old = old_shards - mid_shards - new_shards
    assert only_old and old_shards & new_shards  # the old version has shards of its own, and shares others
    before = objects(bucket)

    # The default grace keeps the old version's shards: minutes old, they may be a build's upload elsewhere.
    report = prune(bucket, keep=1, protected={mid})
    assert (report.removed, report.kept, report.protected) == ([old], sorted([mid, new]), [mid])
    assert report.n_shards_removed == 0 and report.bytes_freed > 0
    after = objects(bucket)
    assert not [k for k in after if k.startswith(f"datasets/{old}/")]  # manifest, index, card: all gone
    assert only_old <= after.keys()

    # Without the grace they go; every shard a kept version lists stays, and reads from the bucket.
    again = prune(bucket, keep=1, protected={mid}, grace_minutes=0)
    assert again.removed == [] and again.n_shards_removed == len(only_old)
    left = objects(bucket)
    assert not only_old & left.keys() and (mid_shards | new_shards) <= left.keys()
    deleted = before.keys() - left.keys()
    assert report.bytes_freed + again.bytes_freed == sum(before[k] for k in deleted)
    fs.register_webdataset_schemes()
    (shard,) = sorted(new_shards)[:1]
    assert sum(1 for _ in wds.WebDataset(f"{bucket}/{shard}", shardshuffle=False)) > 0

    # The bucket's catalog forgets the version, and so does this machine's mirror (its push can't bring it back).
    fs.pull(f"{bucket}/catalog", tmp_path / "check" / "catalog")
    assert {r["version"] for r in read_rows(tmp_path / "check", "datasets")} == {mid, new}
    assert not (fs.mirror_folder(bucket) / "datasets" / old).exists()

    # Unprotected, `mid` goes too; a second prune finds nothing left to do.
    assert prune(bucket, keep=1, grace_minutes=0).removed == [mid]
    assert prune(bucket, keep=1, grace_minutes=0) == type(report)(kept=[new])


def test_a_mirror_on_another_machine_forgets_versions_pruned_from_the_bucket(bucket, albums, tmp_path, monkeypatch):
    old, _ = build_in_bucket(bucket, albums_from(albums, 0))
    new, _ = build_in_bucket(bucket, albums_from(albums, 1))
    monkeypatch.setenv("LADLE_CACHE_DIR", str(tmp_path / "other-machine"))
    assert prune(bucket, keep=1, grace_minutes=0).removed == [old]

    monkeypatch.setenv("LADLE_CACHE_DIR", str(tmp_path / "cache"))  # back on the machine that built it
    assert (fs.mirror_folder(bucket) / "datasets" / old / "manifest.json").is_file()
    with fs.local_mirror(bucket, push=True, exclude=SHARD_GLOBS, lock_wait_seconds=0) as local:
        assert forget_removed_versions(local, bucket) == [old]  # as build-corpus does after its pull
    assert not [k for k in objects(bucket) if k.startswith(f"datasets/{old}/")]  # the push did not resurrect it
    assert (fs.mirror_folder(bucket) / "datasets" / new / "manifest.json").is_file()


def test_ladle_prune_on_a_bucket_protects_the_champion_and_run_folders_there(bucket, albums, tmp_path, capsys):
    v1, _ = build_in_bucket(bucket, albums_from(albums, 0))
    v2, _ = build_in_bucket(bucket, albums_from(albums, 1))
    v3, _ = build_in_bucket(bucket, albums_from(albums, 2))
    remote, root = fs.filesystem(bucket)
    # The champion's best.pt in the bucket names v1 (only the fields prune reads); a run folder's config names v2.
    champion = tmp_path / "best.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "dataset_version": v1, "datasets": [{"version": v1}]}, champion)
    remote.put_file(str(champion), f"{root}/models/champion/checkpoints/best.pt")
    run = bucket.rsplit("/", 1)[0] + "/runs/a"
    runs_fs, run_root = fs.filesystem(run)
    runs_fs.pipe_file(f"{run_root}/config.json", json.dumps({"dataset_version": v2}).encode())
    assert run_dataset_versions([run]) == {v2}

    assert main(["prune", "--data", bucket, "--keep", "1", "--protect-run", run, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["removed"] == [] and report["protected"] == sorted([v1, v2])
    assert main(["prune", "--data", bucket, "--keep", "1", "--grace-minutes", "0"]) == 0
    out = capsys.readouterr().out
    assert re.fullmatch(
        r"removed 1 version\(s\) and \d+ shard\(s\), freed [\d.]+ MiB; kept 2 version\(s\), 1 of them protected\n", out
    )
    assert not [k for k in objects(bucket) if k.startswith(f"datasets/{v2}/")]
    assert f"datasets/{v1}/manifest.json" in objects(bucket)

    for args, message in (
        (["--protect-run", run + "-none"], "no run folder"),
        (["--grace-minutes", "-1"], "--grace-minutes must be 0 or more"),
        (["--data", bucket + "-none"], "no data folder at"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["prune", "--data", bucket, "--keep", "1", *args])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and message in err and err.count("\n") == 1
