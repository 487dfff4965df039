"""Batches of (lossless, lossy) segments from a dataset version's WebDataset shards.

    manifest = find_dataset("data", preset="vorbis-160")
    loader = make_loader(manifest.shard_paths("train"), batch_size=4, train=True, seed=0, epoch=3,
                         crop_samples=4410)
    for lossless, lossy in loader:  # (B, 2, L) float32 tensors each
        ...

Every random choice is drawn from a seed mixed from (seed, epoch, ...) and from nothing else, so
an epoch's batches are a deterministic function of (seed, epoch, rank, num_workers) and a resumed
run can replay an epoch and skip the batches it already trained on (see `iterate_epoch`):

- the shard order: one shuffle per epoch, the same on every rank, before `wds.split_by_node`
  hands each rank its share and `wds.split_by_worker` each DataLoader worker its share;
- the sample order: a shuffle buffer per (rank, worker), seeded from (seed, epoch, rank, worker);
- the crop offset of a sample: drawn from (seed, epoch, sample key), independent of the order, in
  the spirit of Descript's audiotools (random parameters are drawn from a seed, then applied).

The validation loader is not shuffled and tiles each segment into non-overlapping crops, so every
evaluation sees the same audio.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import zlib
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import DataLoader

from storage.fs import register_webdataset_schemes
from storage.sample_format import iter_tar_samples, read_sample, to_float32

register_webdataset_schemes()  # shards may be s3:// URLs; runs in every loader worker on import too
# webdataset reads tars as a stream in 10-KB records; a 1-MB read buffer turns ~100 system calls per
# megabyte into one (gopen reads this variable when it opens a local shard).
os.environ.setdefault("GOPEN_BUFFER", str(1 << 20))


def mix_seed(*parts: object) -> int:
    """A 63-bit seed from any tuple of values; stable across processes (unlike `hash`)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def crop_offset(key: str, length: int, crop_samples: int, seed: int, epoch: int) -> int:
    """Where the training crop of sample `key` starts this epoch: uniform in [0, length - crop]."""
    if crop_samples >= length:
        return 0
    rng = np.random.default_rng([seed, epoch, zlib.crc32(key.encode())])
    return int(rng.integers(0, length - crop_samples + 1))


# ---- pipeline stages: generator functions over an iterator of samples, as wds.DataPipeline takes them


def _shard_list(urls: list[str], shuffle_seed: int | None) -> Iterator[dict]:
    urls = list(urls)
    if shuffle_seed is not None:
        # The same permutation on every rank: split_by_node then deals the shards out disjointly.
        random.Random(shuffle_seed).shuffle(urls)
    for url in urls:
        yield {"url": url}


def _shard_samples(src: Iterator[dict]) -> Iterator[dict]:
    """Raw samples of each shard in turn, read by storage/sample_format.py's tar reader (local or s3://)."""
    for shard in src:
        url = shard["url"]
        with wds.gopen(url, "rb") as stream:  # any scheme storage.fs registered; GOPEN_BUFFER-sized reads
            yield from iter_tar_samples(stream, url)


def _shuffle_samples(src: Iterator[dict], bufsize: int, seed: int, epoch: int, pass_index: int) -> Iterator[dict]:
    # The rng is made here, at iteration time, because only then do we know which worker we are in.
    rank, _, worker, _ = wds.utils.pytorch_worker_info()
    rng = random.Random(mix_seed("samples", seed, epoch, pass_index, rank, worker))
    yield from wds.shuffle(bufsize, initial=bufsize, rng=rng)(iter(src))


def _random_crops(src: Iterator[dict], crop_samples: int | None, seed: int, epoch: int) -> Iterator[tuple]:
    for sample in src:
        key, lossless, lossy = read_sample(sample)  # views of the tar bytes, at their stored dtype
        length = lossless.shape[-1]
        n = crop_samples or length
        if n > length:
            raise ValueError(f"sample {key}: crop of {n} samples is longer than the segment ({length})")
        start = crop_offset(key, length, n, seed, epoch)
        yield lossless[:, start : start + n], lossy[:, start : start + n]  # (2, n) each, still stored dtype


def _tiled_crops(src: Iterator[dict], crop_samples: int | None) -> Iterator[tuple]:
    for sample in src:
        key, lossless, lossy = read_sample(sample)
        length = lossless.shape[-1]
        n = crop_samples or length
        if n > length:
            raise ValueError(f"sample {key}: crop of {n} samples is longer than the segment ({length})")
        for start in range(0, length - n + 1, n):  # non-overlapping; a tail shorter than n is dropped
            yield lossless[:, start : start + n], lossy[:, start : start + n]


def _stack_pairs(pairs: list[tuple], to_float: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Crops -> (B, 2, n) batches: float32, each crop converted straight into its slot (one pass, no
    temporaries); or, with `to_float=False` and one stored dtype, that dtype (see `to_float_tensor`)."""
    shape = (len(pairs), *pairs[0][0].shape)
    dtypes = {p[0].dtype for p in pairs}
    if not to_float and len(dtypes) == 1:
        return torch.from_numpy(np.stack([p[0] for p in pairs])), torch.from_numpy(np.stack([p[1] for p in pairs]))
    lossless, lossy = np.empty(shape, np.float32), np.empty(shape, np.float32)  # (B, 2, n) each
    for i, (x, y) in enumerate(pairs):
        to_float32(x, out=lossless[i])
        to_float32(y, out=lossy[i])
    return torch.from_numpy(lossless), torch.from_numpy(lossy)


def to_float_tensor(batch: torch.Tensor) -> torch.Tensor:
    """A batch from a `to_float=False` loader as float32 in [-1, 1], wherever it is (convert after the
    host-to-device copy: int16 batches move half the bytes). Scales as storage/sample_format.py stores."""
    if batch.dtype == torch.int16:
        return batch.float().mul_(2.0**-15)
    if batch.dtype == torch.int32:
        return batch.float().mul_(2.0**-31)
    return batch.float()


def make_pipeline(
    shard_paths: Sequence[str | Path],
    batch_size: int,
    train: bool,
    seed: int = 0,
    epoch: int = 0,
    crop_samples: int | None = None,
    shuffle_buffer: int = 1000,
    split_nodes: bool = True,
    pass_index: int = 0,
    to_float: bool = True,
) -> wds.DataPipeline:
    """The WebDataset pipeline (an IterableDataset) yielding (lossless, lossy) batches (B, 2, L).

    `train`: shuffled shards and samples, random crops. Otherwise: file order, tiled crops.
    `split_nodes`: give each distributed rank its share of the shards (False: every rank reads all).
    `pass_index`: a further seed part for reading the same epoch again (see `iterate_epoch`).
    `to_float`: float32 batches (default); False keeps the stored dtype (int16 for 16-bit sources) for
    `to_float_tensor` to convert on the device.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not shard_paths:
        raise ValueError("no shards to read")
    # Stages are module-level functions bound with partial (not lambdas), so the pipeline pickles
    # into DataLoader workers under the "spawn" start method too.
    shard_seed = mix_seed("shards", seed, epoch, pass_index) if train else None
    stages: list = [partial(_shard_list, [str(p) for p in shard_paths], shard_seed)]
    if split_nodes:
        stages.append(wds.split_by_node)
    stages += [wds.split_by_worker, _shard_samples]
    if train:
        stages.append(partial(_shuffle_samples, bufsize=shuffle_buffer, seed=seed, epoch=epoch, pass_index=pass_index))
        stages.append(partial(_random_crops, crop_samples=crop_samples, seed=seed, epoch=epoch))
    else:
        stages.append(partial(_tiled_crops, crop_samples=crop_samples))
    # Batches are made inside the worker: the DataLoader then only moves whole batches (batch_size=None).
    stages.append(wds.batched(batch_size, collation_fn=partial(_stack_pairs, to_float=to_float), partial=True))
    return wds.DataPipeline(*stages)


def make_loader(
    shard_paths: Sequence[str | Path],
    batch_size: int,
    train: bool,
    seed: int = 0,
    epoch: int = 0,
    crop_samples: int | None = None,
    shuffle_buffer: int = 1000,
    num_workers: int = 0,
    split_nodes: bool = True,
    pass_index: int = 0,
    pin_memory: bool = False,
    to_float: bool = True,
) -> DataLoader:
    """A DataLoader over `make_pipeline`: several workers, each reading its own shards."""
    pipeline = make_pipeline(
        shard_paths, batch_size, train, seed, epoch, crop_samples, shuffle_buffer, split_nodes, pass_index, to_float
    )
    return DataLoader(
        pipeline,
        batch_size=None,
        num_workers=num_workers,
        pin_memory=pin_memory,
        # An own generator: creating the loader's iterator draws a base seed, and drawing it from the
        # global torch RNG would shift the model's RNG stream (dropout) depending on when epochs start.
        generator=torch.Generator().manual_seed(mix_seed("loader", seed, epoch, pass_index)),
        persistent_workers=False,
        # Forked workers inherit the parent's threads and locks; under a Prefect task run (its API
        # log handler and event threads) they died at start. A forkserver forks from a clean process.
        multiprocessing_context=_forkserver() if num_workers > 0 else None,
    )


def _forkserver():
    """The forkserver context, preloading this module (torch, webdataset) so each worker starts in ms, not s."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def iterate_epoch(
    shard_paths: Sequence[str | Path],
    batch_size: int,
    seed: int,
    epoch: int,
    crop_samples: int | None = None,
    shuffle_buffer: int = 1000,
    num_workers: int = 0,
    skip_batches: int = 0,
    n_batches: int | None = None,
    split_nodes: bool = True,
    pin_memory: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The training batches of one epoch, after skipping the first `skip_batches` of them.

    `n_batches=None`: one pass over this rank's shards. With a number (distributed training, where
    every rank must take the same number of steps or DDP's all-reduce waits forever), the shards
    are read again (a new seeded pass) until exactly `n_batches` batches came out.

    Skipped batches are still read and decoded (the order is only known by replaying it); that
    costs one partial epoch of I/O on resume and buys exact resumption.
    """

    def passes() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for pass_index in itertools.count():
            n_in_pass = 0
            for batch in make_loader(
                shard_paths,
                batch_size,
                True,
                seed,
                epoch,
                crop_samples,
                shuffle_buffer,
                num_workers,
                split_nodes,
                pass_index,
                pin_memory,
            ):
                n_in_pass += 1
                yield batch
            if n_batches is None:
                return
            if n_in_pass == 0:
                raise RuntimeError(f"no training batches from shards {list(map(str, shard_paths))} on this rank")

    return itertools.islice(passes(), skip_batches, n_batches)


def infinite_batches(
    shard_paths: Sequence[str | Path],
    batch_size: int,
    seed: int,
    crop_samples: int | None = None,
    shuffle_buffer: int = 1000,
    num_workers: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Training batches epoch after epoch, forever (for pre-training the feature net on one process)."""
    for epoch in itertools.count():
        yield from make_loader(
            shard_paths, batch_size, True, seed, epoch, crop_samples, shuffle_buffer, num_workers, split_nodes=False
        )


def seconds_to_samples(segment_seconds: float | None, sample_rate: int, segment_samples: int) -> int | None:
    """The crop length for `segment_seconds` at `sample_rate`; None when no crop is asked or needed."""
    if segment_seconds is None:
        return None
    n = round(segment_seconds * sample_rate)
    if n < 1:
        raise ValueError(f"segment_seconds={segment_seconds} is shorter than one sample at {sample_rate} Hz")
    if n > segment_samples:
        raise ValueError(
            f"segment_seconds={segment_seconds} ({n} samples) is longer than the dataset's segments ({segment_samples} samples)"
        )
    return None if n == segment_samples else n
