"""Min+max pooling over windows on a grid, against float64 window reductions, plus its
autograd, on the CPU (both memory layouts) and (where usable) the GPU."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import hyperkit
from hyperkit.ops.kernels import cpu as _C

from ..reference import reference_grid_minmax, reference_grid_minmax_grad


@st.composite
def cases(draw):
    """(shape, window, rows, cols): any offsets in range, unsorted, repeats allowed."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    h, w = draw(st.integers(1, 30)), draw(st.integers(1, 30))
    kh, kw = draw(st.integers(1, h)), draw(st.integers(1, w))
    rows = draw(st.lists(st.integers(0, h - kh), min_size=1, max_size=8))
    cols = draw(st.lists(st.integers(0, w - kw), min_size=1, max_size=8))
    return (n, c, h, w), (kh, kw), rows, cols


def _input(shape, ties, seed, dtype):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 3, shape) if ties else rng.standard_normal(shape)).astype(dtype)


@given(case=cases(), dtype=st.sampled_from([np.float32, np.float64]), ties=st.booleans(),
       channels_last=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_forward_matches_reference(case, dtype, ties, channels_last, seed):
    shape, k, rows, cols = case
    x = _input(shape, ties, seed, dtype)
    rmx, rmn, ramx, ramn = reference_grid_minmax(x, k, rows, cols)
    mx, mn = hyperkit.grid_minmax_pool(x, k, positions=(rows, cols))  # numpy in, numpy out
    assert mx.dtype == dtype and mx.shape == rmx.shape
    np.testing.assert_array_equal(mx, rmx.astype(dtype))
    np.testing.assert_array_equal(mn, rmn.astype(dtype))
    t = torch.from_numpy(x)
    if channels_last:
        t = t.contiguous(memory_format=torch.channels_last)
    tmx, tmn, imx, imn = torch.ops.hyperkit.grid_minmax_pool(t, list(k), rows, cols, True)
    np.testing.assert_array_equal(tmx.numpy(), rmx.astype(dtype))
    np.testing.assert_array_equal(tmn.numpy(), rmn.astype(dtype))
    np.testing.assert_array_equal(imx.numpy(), ramx)  # the first winner, row-major
    np.testing.assert_array_equal(imn.numpy(), ramn)


@given(case=cases(), ties=st.booleans(), channels_last=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
def test_gradient_goes_to_the_first_winner(case, ties, channels_last, seed):
    shape, k, rows, cols = case
    xn = _input(shape, ties, seed, np.float64)
    x = torch.tensor(xn)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    mx, mn = hyperkit.grid_minmax_pool(x, k, positions=(rows, cols))
    gmx, gmn = torch.randn_like(mx), torch.randn_like(mn)
    (mx * gmx + mn * gmn).sum().backward()
    expect = reference_grid_minmax_grad(xn, k, rows, cols, gmx.numpy(), gmn.numpy())
    np.testing.assert_allclose(x.grad.numpy(), expect, atol=1e-12)


def test_grid_offsets_are_the_image_patch_offsets():
    """A 'valid' 7x7 convolution of an image, windowed at grid=(U, V) with window
    patch - 6, equals the global min and max of each patch's own convolution."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 7).double()
    for (h, w), grid in [((384, 512), (23, 31)), ((70, 45), (4, 3)), ((32, 40), (1, 2))]:
        image = torch.rand(1, 3, h, w, dtype=torch.float64)
        with torch.no_grad():
            mx, mn = hyperkit.grid_minmax_pool(conv(image), 26, grid)
            patches = hyperkit.gather_patches(image, 32, grid)
            pc = conv(patches)  # (U V, 4, 26, 26)
        u, v = grid
        torch.testing.assert_close(mx[0].permute(1, 2, 0).reshape(u * v, 4), pc.amax((2, 3)))
        torch.testing.assert_close(mn[0].permute(1, 2, 0).reshape(u * v, 4), pc.amin((2, 3)))


def test_matches_max_pool2d_and_indexing():
    x = torch.randn(2, 3, 40, 57)
    rows, cols = hyperkit.grid_positions(40, 9, 5), hyperkit.grid_positions(57, 9, 7)
    mx, mn = hyperkit.grid_minmax_pool(x, 9, (5, 7))
    full_mx = torch.nn.functional.max_pool2d(x, 9, 1)
    full_mn = -torch.nn.functional.max_pool2d(-x, 9, 1)
    r, c = torch.from_numpy(rows), torch.from_numpy(cols)
    assert torch.equal(mx, full_mx[:, :, r][:, :, :, c])
    assert torch.equal(mn, full_mn[:, :, r][:, :, :, c])


def test_channels_last_stays_channels_last():
    x = torch.randn(2, 6, 20, 30).contiguous(memory_format=torch.channels_last)
    mx, mn = hyperkit.grid_minmax_pool(x, (5, 4), (3, 4))
    assert mx.is_contiguous(memory_format=torch.channels_last)
    ref = hyperkit.grid_minmax_pool(x.contiguous(), (5, 4), (3, 4))
    assert torch.equal(mx, ref[0]) and torch.equal(mn, ref[1])


@pytest.mark.parametrize("channels_last", [False, True])
def test_opcheck_and_gradcheck(device, channels_last):
    if channels_last and device != "cpu":
        pytest.skip("the channels-last kernel is CPU-only (CUDA maps are made contiguous)")
    # distinct, well-separated values so finite differences never change a winner
    x = (torch.randperm(2 * 3 * 9 * 10).reshape(2, 3, 9, 10).double() / 10).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    args = ([4, 3], [0, 5, 2, 5], [7, 0, 3])
    torch.library.opcheck(torch.ops.hyperkit.grid_minmax_pool.default, (x, *args, True))
    torch.library.opcheck(torch.ops.hyperkit.grid_minmax_pool.default,
                          (x.detach(), *args, False))
    assert torch.autograd.gradcheck(
        lambda t: hyperkit.grid_minmax_pool(t, (4, 3), positions=args[1:]), (x,))


def test_torch_compile():
    def f(t):
        mx, mn = hyperkit.grid_minmax_pool(t, 3, (2, 3))
        return (mx - mn).sum()
    x = torch.randn(2, 3, 8, 9, requires_grad=True)
    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    compiled(x).backward()
    g1 = x.grad.clone()
    x.grad = None
    f(x).backward()
    assert torch.equal(g1, x.grad)


def test_thread_count_does_not_change_results():
    x = torch.randn(1, 5, 40, 41, dtype=torch.float64)  # one image: NHWC splits its grid rows
    outs = []
    before = _C.get_num_threads()
    try:
        for threads in (1, 2, 3):
            _C.set_num_threads(threads)
            res = []
            for layout in (torch.contiguous_format, torch.channels_last):
                xi = x.contiguous(memory_format=layout).detach().requires_grad_()
                mx, mn = hyperkit.grid_minmax_pool(xi, 7, (6, 5))
                (mx.sum() + 2 * mn.sum()).backward()
                res += [mx.detach(), mn.detach(), xi.grad]
            outs.append(res)
    finally:
        _C.set_num_threads(before)
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            assert torch.equal(a, b)


def test_raw_ops_refuse_what_could_crash():
    x = torch.randn(1, 2, 6, 6, requires_grad=True)
    mx, _, _, _ = torch.ops.hyperkit.grid_minmax_pool(x, [2, 2], [0, 4], [1], False)
    with pytest.raises(RuntimeError, match="no gradient"):
        mx.sum().backward()
    g = torch.ones(1, 2, 2, 1)
    bad = torch.full((1, 2, 2, 1), 99, dtype=torch.int64)
    with pytest.raises(ValueError, match="outside"):
        torch.ops.hyperkit.grid_minmax_pool_backward(g, g, bad, bad, 6, 6, [2, 2], [0, 4], [1])
    with pytest.raises(ValueError, match="must lie in"):
        torch.ops.hyperkit.grid_minmax_pool(x, [2, 2], [0, 5], [1], True)


@pytest.mark.parametrize(
    "x, args, kw, exc, words",
    [
        (np.zeros((1, 1, 4, 4), np.int32), (2, (2, 2)), {}, TypeError, "float32 or float64"),
        (np.zeros((4, 4)), (2, (2, 2)), {}, ValueError, "4 dimensions"),
        (np.zeros((1, 0, 4, 4)), (2, (2, 2)), {}, ValueError, "empty"),
        ([[1.0]], (1, (1, 1)), {}, TypeError, "numpy array, torch tensor"),
        (np.zeros((1, 1, 4, 4)), (5, (1, 1)), {}, ValueError, "larger than the map"),
        (np.zeros((1, 1, 4, 4)), (0, (1, 1)), {}, ValueError, "window"),
        (np.zeros((1, 1, 4, 4)), (2, (0, 1)), {}, ValueError, "grid"),
        (np.zeros((1, 1, 4, 4)), (2,), {}, ValueError, "exactly one"),
        (np.zeros((1, 1, 4, 4)), (2, (1, 1)), {"positions": ([0], [0])}, ValueError,
         "exactly one"),
        (np.zeros((1, 1, 4, 4)), (2,), {"positions": ([0, 3], [0])}, ValueError,
         r"positions\[0\] \(rows\) must lie in \[0, 2\]"),
        (np.zeros((1, 1, 4, 4)), (2,), {"positions": ([0], [-1])}, ValueError, "must lie in"),
        (np.zeros((1, 1, 4, 4)), (2,), {"positions": ([0.5], [0])}, TypeError, "integer"),
        (np.zeros((1, 1, 4, 4)), (2,), {"positions": ([], [0])}, ValueError, "non-empty"),
        (np.zeros((1, 1, 4, 4)), (2,), {"positions": [0, 0, 0]}, ValueError, "rows, cols"),
        (np.full((1, 1, 4, 4), np.nan), (2, (2, 2)), {}, ValueError, "NaN"),
    ],
)
def test_bad_input(x, args, kw, exc, words):
    with pytest.raises(exc, match=words):
        hyperkit.grid_minmax_pool(x, *args, **kw)


def test_nan_outside_every_window_is_not_an_error():
    """Only values inside a window matter (the gap between two spread-out windows)."""
    for layout in (torch.contiguous_format, torch.channels_last):
        x = torch.zeros(1, 2, 10, 10)
        x[0, :, 5, 5] = float("nan")
        x = x.contiguous(memory_format=layout)
        mx, _ = hyperkit.grid_minmax_pool(x, 3, positions=([0, 7], [0, 7]))
        assert torch.equal(mx, torch.zeros(1, 2, 2, 2))
        x[0, :, 8, 1] = float("nan")
        with pytest.raises(ValueError, match="NaN"):
            hyperkit.grid_minmax_pool(x, 3, positions=([0, 7], [0, 7]))


def test_inf_is_a_valid_value():
    x = np.zeros((1, 2, 6, 6), np.float32)
    x[0, 0, 1, 1], x[0, 1, 4, 4] = np.inf, -np.inf
    mx, mn = hyperkit.grid_minmax_pool(x, 3, (2, 2))
    assert mx[0, 0, 0, 0] == np.inf and mn[0, 1, 1, 1] == -np.inf


# ---- on every device (the CUDA cases run where hyperkit's CUDA kernels are usable)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape, window, grid", [((2, 50, 122, 90), 26, (7, 5)),
                                                 ((1, 3, 5, 4), (5, 4), (1, 1)),
                                                 ((1, 3000, 6, 7), (2, 3), (3, 2))])
@pytest.mark.parametrize("ties", [False, True])
def test_forward_backward_on_device(device, dtype, shape, window, grid, ties):
    gen = torch.Generator().manual_seed(0)
    xc = (torch.randint(0, 3, shape, generator=gen) if ties
          else torch.randn(shape, generator=gen)).to(dtype).requires_grad_()
    xd = xc.detach().to(device).requires_grad_()
    outs = []
    for x in (xc, xd):
        mx, mn = hyperkit.grid_minmax_pool(x, window, grid)
        assert mx.device == x.device and mn.device == x.device
        gm = torch.linspace(-1, 1, mx.numel(), dtype=dtype).reshape(mx.shape).to(x.device)
        (mx * gm + mn * gm.flip(-1)).sum().backward()
        outs.append((mx.detach().cpu(), mn.detach().cpu(), x.grad.cpu()))
    k = (window, window) if isinstance(window, int) else window
    rows = hyperkit.grid_positions(shape[2], k[0], grid[0])
    cols = hyperkit.grid_positions(shape[3], k[1], grid[1])
    rmx, rmn, _, _ = reference_grid_minmax(xc.detach().numpy(), k, rows, cols)
    np.testing.assert_array_equal(outs[1][0].numpy(), rmx.astype(outs[1][0].numpy().dtype))
    np.testing.assert_array_equal(outs[1][1].numpy(), rmn.astype(outs[1][1].numpy().dtype))
    for a, b in zip(*outs):  # the gather-form backward adds in the CPU's order
        assert torch.equal(a, b)


def test_cupy_in_cupy_out(device):
    if device != "cuda":
        pytest.skip("cupy arrays live on the GPU")
    cp = pytest.importorskip("cupy")
    x = cp.random.rand(2, 3, 30, 40).astype(cp.float32)
    mx, mn = hyperkit.grid_minmax_pool(x, 10, (3, 4))
    rmx, rmn, _, _ = reference_grid_minmax(cp.asnumpy(x), (10, 10),
                                           hyperkit.grid_positions(30, 10, 3),
                                           hyperkit.grid_positions(40, 10, 4))
    assert isinstance(mx, cp.ndarray)
    np.testing.assert_array_equal(cp.asnumpy(mx), rmx.astype(np.float32))
    np.testing.assert_array_equal(cp.asnumpy(mn), rmn.astype(np.float32))


@pytest.mark.parametrize("ties", [False, True])
def test_channels_last_with_indices_over_wide_bands(ties):
    """A band wider than one chunk of the channels-last column pass (512 lanes; here
    3 x 70 x 13 lanes, not a multiple): values and first-winner indices equal the
    contiguous kernel's, plateaus included."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 13, 41, 90, generator=g, dtype=torch.float64)
    if ties:
        x = (x * 1.5).round()
    rows, cols = [0, 7, 9, 30], [0, 11, 20, 69, 50]
    cl = x.contiguous(memory_format=torch.channels_last)
    got = torch.ops.hyperkit.grid_minmax_pool(cl, [11, 21], rows, cols, True)
    ref = torch.ops.hyperkit.grid_minmax_pool(x, [11, 21], rows, cols, True)
    for a, b in zip(got, ref):
        assert torch.equal(a.contiguous(), b)


def test_channels_last_grid_rows_in_memory_bounded_groups():
    """A band row of 64 x 700 lanes holds over 1 MB of winners and keys, so the kernel
    handles its grid rows one group at a time: results equal the contiguous kernel's."""
    g = torch.Generator().manual_seed(6)
    x = torch.randn(1, 64, 40, 720, generator=g, dtype=torch.float64).round()
    rows, cols = [0, 5, 9, 17, 30, 33], [0, 300, 699, 150]
    cl = x.contiguous(memory_format=torch.channels_last)
    got = torch.ops.hyperkit.grid_minmax_pool(cl, [7, 21], rows, cols, True)
    ref = torch.ops.hyperkit.grid_minmax_pool(x, [7, 21], rows, cols, True)
    for a, b in zip(got, ref):
        assert torch.equal(a.contiguous(), b)
