"""Patch gathering, on a grid and at given positions, against slicing by hand, on the
CPU and (where usable) the GPU; the torch op and the raw kernel binding."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import hyperkit
from hyperkit.grid import grid_cells
from hyperkit.ops.gather_patches import gather_at
from hyperkit.ops.kernels import cpu as _C

from ..conftest import needs_cuda
from ..reference import by_hand, by_hand_at

DTYPES = [np.float32, np.float64]

# ------------------------------------------------------------------------------ grid


@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 40), w=st.integers(1, 40),
       ph=st.integers(1, 12), pw=st.integers(1, 12), u=st.integers(1, 6), v=st.integers(1, 6),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**31 - 1))
def test_gather_batch(n, c, h, w, ph, pw, u, v, dtype, seed):
    x = np.random.default_rng(seed).random((n, c, h + ph, w + pw)).astype(dtype)
    got = hyperkit.gather_patches(x, (ph, pw), (u, v), channel_axis=1)  # numpy (N, C, H, W)
    assert got.dtype == dtype and got.shape == (n * u * v, c, ph, pw)
    np.testing.assert_array_equal(got, by_hand(x, ph, pw, u, v))
    # numpy's own (N, H, W, C) and torch's (N, C, H, W) give the same (P, C, ph, pw)
    nhwc = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    np.testing.assert_array_equal(hyperkit.gather_patches(nhwc, (ph, pw), (u, v)), got)
    np.testing.assert_array_equal(
        hyperkit.gather_patches(torch.from_numpy(x), (ph, pw), (u, v)).numpy(), got)


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
        one = hyperkit.gather_patches(x, 32, (5, 7), channel_axis=1)
        _C.set_num_threads(2)
        two = hyperkit.gather_patches(x, 32, (5, 7), channel_axis=1)
    finally:
        _C.set_num_threads(before)
    assert np.array_equal(one, two)
    # the op takes the grid as a position table: grid patches 0..11 of two images
    ims = [torch.rand(2, 20, 30), torch.rand(2, 25, 21)]
    index, ys, xs = grid_cells([20, 25], [30, 21], (8, 9), (3, 2), 0, 12)
    torch.library.opcheck(torch.ops.hyperkit.gather_patches.default,
                          (ims, [8, 9], torch.from_numpy(index), torch.from_numpy(ys),
                           torch.from_numpy(xs)))


@pytest.mark.parametrize(
    "images, patch, grid, exc, words",
    [
        (np.zeros((1, 20, 20, 1), np.float32), 32, (2, 2), ValueError, "smaller than the 32x32"),
        (torch.zeros(1, 1, 20, 20), 32, (2, 2), ValueError, "smaller than the 32x32"),
        (np.zeros(20, np.float32), 8, (2, 2), ValueError, "2 to 4 dimensions"),
        (np.zeros((1, 2, 3, 4, 5)), 8, (2, 2), ValueError, "2 to 4 dimensions"),
        # a numpy (C, H, W) image or (N, C, H, W) batch reads two ways: say which
        (np.zeros((1, 20, 20), np.float32), 8, (2, 2), ValueError, "channel_axis="),
        (np.zeros((2, 3, 20, 20), np.float32), 8, (2, 2), ValueError,
         r"does not read as \(N, H, W, C\).*channel_axis="),
        (torch.zeros(20, 20, 3), 8, (2, 2), ValueError, "channels-last"),
        ([np.zeros((20, 20, 1)), np.zeros((20, 20, 2))], 8, (2, 2), ValueError,
         r"different channel counts \[1, 2\]"),
        ([np.zeros((20, 20)), np.zeros((20, 20), np.float32)], 8, (2, 2), TypeError, "dtypes"),
        ([np.zeros((20, 20)), torch.zeros(1, 20, 20)], 8, (2, 2), TypeError, "mixes"),
        ([], 8, (2, 2), ValueError, "empty"),
        (np.zeros((1, 20, 20, 1), np.uint8), 8, (2, 2), TypeError, "float32"),
        (np.zeros((1, 20, 20, 1)), 8, (0, 2), ValueError, "grid"),
        (np.zeros((1, 20, 20, 1)), 8, (2, 2, 2), ValueError, "pair"),
    ],
)
def test_gather_bad_input(images, patch, grid, exc, words):
    with pytest.raises(exc, match=words):
        hyperkit.gather_patches(images, patch, grid)


# ------------------------------------------------------------------------- positions


@st.composite
def position_cases(draw):
    """Images of different sizes and windows anywhere inside them, in any order, with
    repeats (P = 0 included)."""
    c = draw(st.integers(1, 3))
    ph, pw = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    sizes = draw(st.lists(st.tuples(st.integers(ph, ph + 20), st.integers(pw, pw + 20)),
                          min_size=1, max_size=4))
    p = draw(st.integers(0, 25))
    index = draw(st.lists(st.integers(0, len(sizes) - 1), min_size=p, max_size=p))
    ys = [draw(st.integers(0, sizes[n][0] - ph)) for n in index]
    xs = [draw(st.integers(0, sizes[n][1] - pw)) for n in index]
    if p and draw(st.booleans()):  # a repeated window
        index, ys, xs = index + index[:1], ys + ys[:1], xs + xs[:1]
    return c, (ph, pw), sizes, (index, ys, xs)


@given(case=position_cases(), dtype=st.sampled_from(DTYPES), as_torch=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
def test_positions_match_slicing_by_hand(case, dtype, as_torch, seed):
    c, (ph, pw), sizes, (index, ys, xs) = case
    rng = np.random.default_rng(seed)
    ims = [rng.random((c, h, w)).astype(dtype) for h, w in sizes]
    pos = (np.array(index, np.int64), np.array(ys, np.int64), np.array(xs, np.int64))
    if as_torch:
        got = hyperkit.gather_patches([torch.from_numpy(i) for i in ims], (ph, pw),
                                      positions=tuple(torch.from_numpy(a) for a in pos))
        assert isinstance(got, torch.Tensor)
        got = got.numpy()
    else:
        got = hyperkit.gather_patches(ims, (ph, pw), positions=pos, channel_axis=0)
        assert isinstance(got, np.ndarray)
    assert got.dtype == dtype and got.shape == (len(index), c, ph, pw)
    if index:
        np.testing.assert_array_equal(got, by_hand_at(ims, ph, pw, *pos))


def test_positions_any_order_repeats_and_integer_forms():
    rng = np.random.default_rng(7)
    ims = [rng.random((2, 30, 41)), rng.random((2, 17, 19))]
    index, ys, xs = [1, 0, 1, 1, 0, 0], [0, 14, 9, 0, 0, 14], [11, 33, 0, 11, 0, 33]
    expect = by_hand_at(ims, 8, 8, index, ys, xs)
    for form in (list, np.array, lambda a: np.array(a, np.int32),
                 lambda a: np.array(a, np.uint16), lambda a: torch.tensor(a),
                 lambda a: torch.tensor(a, dtype=torch.int32)):
        got = hyperkit.gather_patches(ims, 8, positions=(form(index), form(ys), form(xs)),
                                      channel_axis=0)
        np.testing.assert_array_equal(got, expect)
    assert np.array_equal(got[0], got[3]) and np.array_equal(got[1], got[5])  # repeats
    # a 4-D batch takes positions too
    batch = rng.random((3, 1, 12, 12)).astype(np.float32)
    got = hyperkit.gather_patches(batch, (4, 5), positions=([2, 0], [8, 0], [7, 3]),
                                  channel_axis=1)
    np.testing.assert_array_equal(got, by_hand_at(batch, 4, 5, [2, 0], [8, 0], [7, 3]))


def test_positions_no_patches():
    ims = [np.zeros((3, 10, 10), np.float32)]
    e = np.zeros(0, np.int64)
    got = hyperkit.gather_patches(ims, 4, positions=(e, e, e), channel_axis=0)
    assert got.shape == (0, 3, 4, 4) and got.dtype == np.float32
    got = hyperkit.gather_patches([torch.zeros(3, 10, 10)], 4, positions=(e, e, e))
    assert isinstance(got, torch.Tensor) and got.shape == (0, 3, 4, 4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_grid_is_the_grid_cells_position_table(dtype):
    rng = np.random.default_rng(8)
    ims = [rng.random((2, h, w)).astype(dtype) for h, w in [(40, 33), (21, 60), (16, 16)]]
    cells = grid_cells([40, 21, 16], [33, 60, 16], (16, 12), (3, 4), 0, 36)
    np.testing.assert_array_equal(
        hyperkit.gather_patches(ims, (16, 12), (3, 4), channel_axis=0),
        hyperkit.gather_patches(ims, (16, 12), positions=cells, channel_axis=0))
    # a sub-range of the table: what grid_batches asks for, one chunk at a time
    sub = grid_cells([40, 21, 16], [33, 60, 16], (16, 12), (3, 4), 5, 20)
    np.testing.assert_array_equal(gather_at(ims, (16, 12), *sub),
                                  by_hand(ims, 16, 12, 3, 4)[5:25])


@pytest.mark.parametrize(
    "positions, exc, words",
    [
        (([0], [13], [0]), ValueError, r"positions: patch 0 at \(13, 0\)"),  # 13 + 8 > 20
        (([0, 1], [0, 0], [0, 23]), ValueError, r"positions: patch 1 .* images\[1\]"),
        (([0], [-1], [0]), ValueError, "positions"),
        (([0], [0], [-2]), ValueError, "positions"),
        (([-1], [0], [0]), ValueError, "positions: image index outside"),
        (([2], [0], [0]), ValueError, "positions: image index outside"),
        (([0, 0], [0], [0, 0]), ValueError, "positions must be three 1-D"),
        (([[0]], [[0]], [[0]]), ValueError, "positions must be three 1-D"),
        (([0], [0]), ValueError, "positions must be a triple"),
        ("abc", ValueError, "positions must be a triple"),
        (([0.0], [0], [0]), TypeError, "index must hold integers"),
        (([0], [0.5], [0]), TypeError, "ys must hold integers"),
    ],
)
def test_bad_positions(positions, exc, words):
    ims = [np.zeros((1, 20, 30)), np.zeros((1, 25, 30))]
    with pytest.raises(exc, match=words):
        hyperkit.gather_patches(ims, 8, positions=positions, channel_axis=0)


def test_grid_or_positions_exactly_one():
    ims = [np.zeros((1, 20, 20))]
    with pytest.raises(ValueError, match="either grid"):
        hyperkit.gather_patches(ims, 8, channel_axis=0)
    with pytest.raises(ValueError, match="either grid"):
        hyperkit.gather_patches(ims, 8, (2, 2), positions=([0], [0], [0]), channel_axis=0)


def test_torch_op_new_signature_and_opcheck():
    rng = np.random.default_rng(9)
    ims = [torch.from_numpy(rng.random((2, h, w))) for h, w in [(20, 30), (25, 21)]]
    index = torch.tensor([1, 0, 0, 1, 1])
    ys, xs = torch.tensor([17, 0, 12, 3, 17]), torch.tensor([12, 21, 5, 0, 12])
    got = torch.ops.hyperkit.gather_patches(ims, [8, 9], index, ys, xs)
    np.testing.assert_array_equal(
        got.numpy(), by_hand_at([i.numpy() for i in ims], 8, 9, index, ys, xs))
    torch.library.opcheck(torch.ops.hyperkit.gather_patches.default,
                          (ims, [8, 9], index, ys, xs))
    e = torch.zeros(0, dtype=torch.int64)
    torch.library.opcheck(torch.ops.hyperkit.gather_patches.default, (ims, [8, 9], e, e, e))
    schema = str(torch.ops.hyperkit.gather_patches.default._schema)
    assert "Tensor[] images" in schema and "Tensor index, Tensor ys, Tensor xs" in schema


def test_torch_op_compiles():
    ims = [torch.rand(1, 12, 12), torch.rand(1, 10, 14)]
    idx, ys, xs = torch.tensor([0, 1, 1]), torch.tensor([0, 2, 6]), torch.tensor([8, 0, 10])

    def f(a, b):
        return torch.ops.hyperkit.gather_patches([a, b], [4, 4], idx, ys, xs).sum((1, 2, 3))

    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    assert torch.equal(compiled(*ims), f(*ims))


def test_raw_op_refuses_what_could_crash():
    with pytest.raises(ValueError, match="positions"):
        torch.ops.hyperkit.gather_patches([torch.rand(1, 8, 8)], [4, 4], torch.tensor([0]),
                                          torch.tensor([5]), torch.tensor([0]))
    with pytest.raises(ValueError, match="positions"):
        torch.ops.hyperkit.gather_patches([torch.rand(1, 8, 8)], [4, 4], torch.tensor([1]),
                                          torch.tensor([0]), torch.tensor([0]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_raw_kernel_binding(dtype):
    """_C.gather_patches(dtype, image pointers, heights, widths, n_images, channels, ph,
    pw, index, ys, xs, count, out), addresses as ints, trusts its table."""
    rng = np.random.default_rng(10)
    ims = [rng.random((3, h, w)).astype(dtype) for h, w in [(9, 11), (14, 6)]]
    ptrs = np.array([im.ctypes.data for im in ims], np.uint64)
    hs, ws = np.array([9, 14], np.int64), np.array([11, 6], np.int64)
    index, ys, xs = (np.array(a, np.int64) for a in ([1, 0, 1], [10, 4, 0], [2, 8, 0]))
    out = np.full((3, 3, 4, 3), -1, dtype)
    _C.gather_patches(np.dtype(dtype).name, ptrs.ctypes.data, hs.ctypes.data, ws.ctypes.data,
                      2, 3, 4, 3, index.ctypes.data, ys.ctypes.data, xs.ctypes.data, 3,
                      out.ctypes.data)
    np.testing.assert_array_equal(out, by_hand_at(ims, 4, 3, index, ys, xs))


# ---- on every device (the CUDA cases run where hyperkit's CUDA kernels are usable)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gather_on_device(device, dtype):
    ims = [torch.rand(3, h, w, dtype=dtype, device=device)
           for h, w in [(40, 50), (32, 33), (77, 41)]]
    got = hyperkit.gather_patches(ims, 32, (3, 4))
    assert got.device.type == device and got.dtype == dtype
    np.testing.assert_array_equal(got.cpu().numpy(),
                                  by_hand([i.cpu().numpy() for i in ims], 32, 32, 3, 4))
    big = torch.rand(8, 3, 384, 512, dtype=dtype, device=device)
    np.testing.assert_array_equal(hyperkit.gather_patches(big, 32, (23, 31)).cpu().numpy(),
                                  by_hand(big.cpu().numpy(), 32, 32, 23, 31))
    # positions: any order, repeats; the table may live on the CPU or on the device
    index, ys, xs = [2, 0, 2, 1, 2], [45, 8, 0, 0, 45], [9, 18, 0, 1, 9]
    want = by_hand_at([i.cpu().numpy() for i in ims], 32, 32, index, ys, xs)
    for where in ("cpu", device):
        pos = tuple(torch.tensor(a, device=where) for a in (index, ys, xs))
        got = hyperkit.gather_patches(ims, 32, positions=pos)
        assert got.device.type == device
        np.testing.assert_array_equal(got.cpu().numpy(), want)


def test_opcheck_on_device(device):
    ims = [torch.rand(2, 20, 30, device=device), torch.rand(2, 25, 21, device=device)]
    index, ys, xs = (torch.from_numpy(a) for a in
                     grid_cells([20, 25], [30, 21], (8, 9), (3, 2), 0, 12))
    torch.library.opcheck(torch.ops.hyperkit.gather_patches.default, (ims, [8, 9], index, ys, xs))


@needs_cuda
def test_mixed_devices_are_an_error():
    with pytest.raises(ValueError, match="different devices"):
        hyperkit.gather_patches([torch.rand(1, 40, 40, device="cuda"), torch.rand(1, 40, 40)],
                                32, (1, 1))


@needs_cuda
def test_cupy_in_cupy_out():
    cp = pytest.importorskip("cupy")
    x = cp.random.rand(2, 3, 30, 40).astype(cp.float32)
    p = hyperkit.gather_patches(x, 16, (2, 3))
    assert isinstance(p, cp.ndarray)
    np.testing.assert_array_equal(cp.asnumpy(p), by_hand(cp.asnumpy(x), 16, 16, 2, 3))
    q = hyperkit.gather_patches(x, 16, positions=([1, 0], [14, 0], [24, 3]))
    np.testing.assert_array_equal(cp.asnumpy(q), by_hand_at(cp.asnumpy(x), 16, 16, [1, 0],
                                                            [14, 0], [24, 3]))


def test_float16_images_are_copied_bit_for_bit_on_the_cpu():
    """float16 CPU images (the half-size prepared-image cache) gather as a pure copy,
    numpy and torch, grid and positions; on CUDA float16 is refused by name."""
    rng = np.random.default_rng(3)
    ims = [rng.normal(size=(3, h, w)).astype(np.float16) for h, w in [(40, 50), (33, 32)]]
    got = hyperkit.gather_patches(ims, 16, (2, 3), channel_axis=0)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got.view(np.uint16),
                                  by_hand(ims, 16, 16, 2, 3).view(np.uint16))
    t = [torch.from_numpy(i) for i in ims]
    index, ys, xs = [1, 0, 1], [17, 0, 3], [16, 34, 0]
    got = hyperkit.gather_patches(t, 16, positions=(index, ys, xs))
    assert got.dtype == torch.float16
    np.testing.assert_array_equal(got.numpy(), by_hand_at(ims, 16, 16, index, ys, xs))
    with pytest.raises(TypeError, match="dtypes"):
        hyperkit.gather_patches([ims[0], ims[1].astype(np.float32)], 16, (1, 1),
                                channel_axis=0)


@needs_cuda
def test_float16_on_cuda_is_refused():
    with pytest.raises(TypeError, match=r"images\[0\] must be float32 or float64, got float16"):
        hyperkit.gather_patches([torch.rand(1, 40, 40, device="cuda").half()], 32, (1, 1))
