"""Clean-input augmentation: which segments see their own target, and that the swap is exact."""

from __future__ import annotations

import pytest
import torch

from ladle_model.data.augment import clean_input_mask, clean_inputs


def test_the_picked_segments_are_a_function_of_seed_and_step():
    masks = [clean_input_mask(64, 0.2, seed=0, step=s) for s in range(3)]
    assert torch.equal(clean_input_mask(64, 0.2, seed=0, step=1), masks[1])  # a resumed run picks the same
    assert not torch.equal(masks[0], masks[1])  # another step, other segments
    assert not torch.equal(clean_input_mask(64, 0.2, seed=1, step=1), masks[1])
    share = torch.stack([clean_input_mask(64, 0.2, seed=0, step=s) for s in range(200)]).float().mean()
    assert 0.18 < share < 0.22


def test_fraction_zero_or_a_single_segment_swaps_nothing_and_a_batch_never_loses_every_coded_input():
    assert not clean_input_mask(8, 0.0, seed=0, step=0).any()
    assert not clean_input_mask(1, 0.9, seed=0, step=0).any()
    assert all(not clean_input_mask(2, 0.99, seed=0, step=s).all() for s in range(50))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        clean_input_mask(4, 1.0, seed=0, step=0)


def test_picked_segments_get_their_lossless_original_and_the_rest_stay_coded():
    lossless, lossy = torch.randn(16, 2, 100), torch.randn(16, 2, 100)
    picked = clean_input_mask(16, 0.5, seed=3, step=7)
    mixed = clean_inputs(lossless, lossy, 0.5, seed=3, step=7)
    assert picked.any() and (~picked).any()
    assert torch.equal(mixed[picked], lossless[picked]) and torch.equal(mixed[~picked], lossy[~picked])
    assert clean_inputs(lossless, lossy, 0.0, seed=3, step=7) is lossy
