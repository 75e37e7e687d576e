"""Grid-flip augmentation of hyper-images (hyperkit.training.augment)."""

import numpy as np
import pytest
import torch

from hyperkit.training.augment import FlippedHyperimages


def test_each_sample_is_one_of_the_four_flips_and_labels_follow():
    rng = np.random.default_rng(0)
    h = rng.random((12, 3, 4, 5)).astype(np.float32)
    y = np.arange(12, dtype=np.float32)
    src = FlippedHyperimages(h, y, seed=1)
    idx = np.array([3, 7, 0, 11, 5, 2, 9, 1])
    (x,), t = src.batch(idx)
    assert x.shape == (8, 3, 4, 5)
    np.testing.assert_array_equal(t.numpy(), y[idx])
    seen = set()
    for row, i in zip(x, idx):
        ref = torch.from_numpy(h[i])
        hits = [k for k, dims in ((0, ()), (1, (2,)), (2, (1,)), (3, (1, 2)))
                if torch.equal(row, ref.flip(dims) if dims else ref)]
        assert len(hits) >= 1
        seen.add(hits[0])
    assert len(seen) > 1  # not always the identity


def test_replayed_batches_are_identical():
    h = np.random.default_rng(0).random((10, 2, 3, 3)).astype(np.float32)
    a = FlippedHyperimages(h, np.zeros(10), seed=5).batch(np.array([4, 2, 8]))[0][0]
    b = FlippedHyperimages(h, np.zeros(10), seed=5).batch(np.array([4, 2, 8]))[0][0]
    assert torch.equal(a, b)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(N, D, U, V\)"):
        FlippedHyperimages(np.zeros((3, 4)), np.zeros(3))
    with pytest.raises(ValueError, match="same non-zero count"):
        FlippedHyperimages(np.zeros((3, 1, 2, 2)), np.zeros(2))
