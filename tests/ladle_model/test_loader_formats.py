"""The loader reads every stored precision (int16, int32, float32) into the same float32 batches."""

import numpy as np
import pytest

from ladle_model.data.loader import make_loader
from storage.manifest import find_dataset
from storage.sample_format import decode_sample
from tests.conftest import write_tiny_dataset


def _raw(paths):
    import webdataset as wds

    return {
        s["__key__"]: decode_sample(s)[1:3]
        for s in wds.DataPipeline(wds.SimpleShardList(list(map(str, paths))), wds.tarfile_to_samples())
    }


@pytest.mark.parametrize("bits", [16, 24, None])
def test_validation_batches_equal_the_decoded_samples(tmp_path, bits):
    write_tiny_dataset(tmp_path, version=f"v{bits}", shards={"val": [3]}, bits=bits)
    paths = find_dataset(tmp_path, version=f"v{bits}").shard_paths("val")
    raw = _raw(paths)
    ((lossless, lossy),) = list(make_loader(paths, batch_size=3, train=False))
    assert lossless.dtype == lossy.dtype and str(lossless.dtype) == "torch.float32"
    for i, (x, y) in enumerate(raw.values()):
        np.testing.assert_array_equal(lossless[i].numpy(), x)
        np.testing.assert_array_equal(lossy[i].numpy(), y)
    step = {16: 2.0**-15, 24: 2.0**-23, None: 0.0}[bits]
    x = lossless.numpy()
    if step:  # on the source's grid
        np.testing.assert_array_equal(np.round(x / step) * step, x)


def test_integer_batches_converted_later_equal_the_float_batches(tmp_path):
    import torch

    from ladle_model.data.loader import to_float_tensor

    write_tiny_dataset(tmp_path, version="v16", shards={"train": [5]}, bits=16)
    paths = find_dataset(tmp_path, version="v16").shard_paths("train")
    floats = list(make_loader(paths, batch_size=2, train=True, seed=1, crop_samples=500))
    ints = list(make_loader(paths, batch_size=2, train=True, seed=1, crop_samples=500, to_float=False))
    assert [b[0].dtype for b in ints] == [torch.int16] * 3 and [b[0].shape[0] for b in ints] == [2, 2, 1]
    for (x, y), (xi, yi) in zip(floats, ints):
        assert torch.equal(to_float_tensor(xi), x) and torch.equal(to_float_tensor(yi), y)
