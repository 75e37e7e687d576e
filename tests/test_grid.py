"""Grid offsets (generalized eq. 2) and patch gathering against slicing by hand."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import hyperkit
from hyperkit import _C


@given(size=st.integers(1, 600), patch=st.integers(1, 64), n=st.integers(1, 60))
def test_grid_positions_properties(size, patch, n):
    if patch > size:
        with pytest.raises(ValueError, match="larger than size"):
            hyperkit.grid_positions(size, patch, n)
        return
    pos = hyperkit.grid_positions(size, patch, n)
    assert pos.dtype == np.int64 and pos.shape == (n,)
    assert pos.min() >= 0 and (pos + patch).max() <= size
    if n > 1:
        assert pos[0] == 0 and pos[-1] == size - patch
        steps = np.diff(pos)
        assert steps.min() >= 0 and steps.max() - steps.min() <= 1
        # each offset is the nearest integer to the ideal real-valued position
        ideal = np.arange(n) * (size - patch) / (n - 1)
        assert np.abs(pos - ideal).max() <= 0.5


def test_grid_positions_known_values():
    # TID2013: strides are exactly 16, as eq. 2 gives
    assert list(hyperkit.grid_positions(384, 32, 23)) == list(range(0, 353, 16))
    assert list(hyperkit.grid_positions(512, 32, 31)) == list(range(0, 481, 16))
    # eq. 2 would step by rnd(68/3) = 23 and end at 69 + 32 = 101 > 100
    assert list(hyperkit.grid_positions(100, 32, 4)) == [0, 23, 45, 68]
    assert list(hyperkit.grid_positions(40, 32, 1)) == [4]


def test_grid_shape():
    assert hyperkit.grid_shape(384, 512, 32, 16) == (23, 31)  # TID2013, Table 4
    assert hyperkit.grid_shape(128, 128, 16, 16) == (8, 8)
    assert hyperkit.grid_shape(100, 50, (32, 16), (10, 5)) == (8, 8)
    assert hyperkit.grid_shape(32, 32, 32, 16) == (1, 1)
    with pytest.raises(ValueError, match="larger than the image"):
        hyperkit.grid_shape(20, 40, 32, 16)
    with pytest.raises(ValueError, match="stride"):
        hyperkit.grid_shape(64, 64, 32, 0)


def by_hand(images, ph, pw, u, v):
    out = []
    for im in images:
        ys = hyperkit.grid_positions(im.shape[1], ph, u)
        xs = hyperkit.grid_positions(im.shape[2], pw, v)
        for y in ys:
            for x in xs:
                out.append(np.asarray(im)[:, y:y + ph, x:x + pw])
    return np.stack(out)


@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 40), w=st.integers(1, 40),
       ph=st.integers(1, 12), pw=st.integers(1, 12), u=st.integers(1, 6), v=st.integers(1, 6),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**31 - 1))
def test_gather_batch(n, c, h, w, ph, pw, u, v, dtype, seed):
    x = np.random.default_rng(seed).random((n, c, h + ph, w + pw)).astype(dtype)
    got = hyperkit.gather_patches(x, (ph, pw), (u, v))
    assert got.dtype == dtype and got.shape == (n * u * v, c, ph, pw)
    np.testing.assert_array_equal(got, by_hand(x, ph, pw, u, v))


def test_gather_list_of_sizes_torch_and_non_contiguous():
    rng = np.random.default_rng(5)
    ims = [torch.from_numpy(rng.random((3, h, w), dtype=np.float32))
           for h, w in [(40, 50), (32, 33), (77, 41)]]
    ims[1] = torch.from_numpy(rng.random((3, 33, 32), dtype=np.float32)).transpose(1, 2)
    got = hyperkit.gather_patches(ims, 32, (3, 4))
    assert isinstance(got, torch.Tensor) and got.shape == (36, 3, 32, 32)
    np.testing.assert_array_equal(got.numpy(), by_hand([i.numpy() for i in ims], 32, 32, 3, 4))


def test_gather_threads_identical_and_opcheck():
    x = np.random.default_rng(6).random((8, 3, 96, 128)).astype(np.float32)
    before = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        one = hyperkit.gather_patches(x, 32, (5, 7))
        _C.set_num_threads(2)
        two = hyperkit.gather_patches(x, 32, (5, 7))
    finally:
        _C.set_num_threads(before)
    assert np.array_equal(one, two)
    ims = [torch.rand(2, 20, 30), torch.rand(2, 25, 21)]
    torch.library.opcheck(torch.ops.hyperkit.gather_patches.default,
                          (ims, [8, 9], [3, 2], 0, 12))


@pytest.mark.parametrize(
    "images, patch, grid, exc, words",
    [
        (np.zeros((1, 1, 20, 20), np.float32), 32, (2, 2), ValueError, "smaller than the 32x32"),
        (np.zeros((1, 20, 20), np.float32), 8, (2, 2), ValueError, "4 dimensions"),
        ([np.zeros((1, 20, 20)), np.zeros((2, 20, 20))], 8, (2, 2), ValueError, "channel"),
        ([np.zeros((1, 20, 20)), np.zeros((1, 20, 20), np.float32)], 8, (2, 2), TypeError,
         "dtypes"),
        ([np.zeros((1, 20, 20)), torch.zeros(1, 20, 20)], 8, (2, 2), TypeError, "mixes"),
        ([], 8, (2, 2), ValueError, "empty"),
        (np.zeros((1, 1, 20, 20), np.uint8), 8, (2, 2), TypeError, "float32"),
        (np.zeros((1, 1, 20, 20)), 8, (0, 2), ValueError, "grid"),
        (np.zeros((1, 1, 20, 20)), 8, (2, 2, 2), ValueError, "pair"),
    ],
)
def test_gather_bad_input(images, patch, grid, exc, words):
    with pytest.raises(exc, match=words):
        hyperkit.gather_patches(images, patch, grid)
