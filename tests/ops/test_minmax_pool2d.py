"""Fused min+max pooling against numpy window reductions, plus its autograd, on the CPU
and (where usable) the GPU."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import hyperkit
from hyperkit.ops.kernels import cpu as _C

from ..conftest import needs_cuda
from ..reference import reference_minmax, reference_minmax_grad


@st.composite
def cases(draw):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    h, w = draw(st.integers(1, 30)), draw(st.integers(1, 30))
    if draw(st.booleans()):
        return (n, c, h, w), None, None
    kh, kw = draw(st.integers(1, h)), draw(st.integers(1, w))
    s = draw(st.none() | st.tuples(st.integers(1, 4), st.integers(1, 4)))
    return (n, c, h, w), (kh, kw), s


@given(case=cases(), dtype=st.sampled_from([np.float32, np.float64]),
       ties=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_forward_matches_reference(case, dtype, ties, seed):
    shape, k, s = case
    rng = np.random.default_rng(seed)
    x = (rng.integers(0, 3, shape) if ties else rng.standard_normal(shape)).astype(dtype)
    mx, mn = hyperkit.minmax_pool2d(x, k, s)
    rmx, rmn, _, _ = reference_minmax(x, k, s)
    assert mx.dtype == dtype and mx.shape == rmx.shape
    np.testing.assert_array_equal(mx, rmx.astype(dtype))
    np.testing.assert_array_equal(mn, rmn.astype(dtype))


@given(case=cases(), ties=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_gradient_goes_to_the_first_winner(case, ties, seed):
    shape, k, s = case
    rng = np.random.default_rng(seed)
    xn = (rng.integers(0, 3, shape) if ties else rng.standard_normal(shape)).astype(np.float64)
    x = torch.tensor(xn, requires_grad=True)
    mx, mn = hyperkit.minmax_pool2d(x, k, s)
    gmx, gmn = torch.randn_like(mx), torch.randn_like(mn)
    (mx * gmx + mn * gmn).sum().backward()
    expect = reference_minmax_grad(xn, k, s, gmx.numpy(), gmn.numpy())
    np.testing.assert_allclose(x.grad.numpy(), expect, atol=1e-12)


def test_kang_global_case():
    x = torch.randn(8, 50, 26, 26)
    mx, mn = hyperkit.minmax_pool2d(x)
    assert mx.shape == (8, 50, 1, 1)
    assert torch.equal(mx[..., 0, 0], x.amax((2, 3)))
    assert torch.equal(mn[..., 0, 0], x.amin((2, 3)))
    cat = hyperkit.MinMaxPool2d(concat=True)(x)
    assert torch.equal(cat, torch.cat([mn, mx], 1))


def test_matches_max_pool2d():
    x = torch.randn(2, 3, 33, 29)
    mx, mn = hyperkit.minmax_pool2d(x, (3, 5), (2, 3))
    assert torch.equal(mx, torch.nn.functional.max_pool2d(x, (3, 5), (2, 3)))
    assert torch.equal(mn, -torch.nn.functional.max_pool2d(-x, (3, 5), (2, 3)))


@pytest.mark.parametrize("k, s", [(None, None), ((3, 3), (2, 2)), ((2, 4), None)])
def test_opcheck_and_gradcheck(device, k, s):
    # distinct, well-separated values so finite differences never change a winner
    x = (torch.randperm(2 * 3 * 9 * 10).reshape(2, 3, 9, 10).double() / 10).to(device)
    x.requires_grad_()
    kk = [9, 10] if k is None else list(k)
    ss = kk if s is None else list(s)
    torch.library.opcheck(torch.ops.hyperkit.minmax_pool2d.default, (x, kk, ss, True))
    # without indices the op is inference-only
    torch.library.opcheck(torch.ops.hyperkit.minmax_pool2d.default, (x.detach(), kk, ss, False))
    assert torch.autograd.gradcheck(lambda t: hyperkit.minmax_pool2d(t, k, s), (x,))


def test_torch_compile():
    def f(t):
        mx, mn = hyperkit.minmax_pool2d(t, 2)
        return (mx - mn).sum()
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    compiled(x).backward()
    g1 = x.grad.clone()
    x.grad = None
    f(x).backward()
    assert torch.equal(g1, x.grad)


def test_non_contiguous_and_numpy():
    base = np.random.default_rng(4).standard_normal((3, 2, 12, 14)).astype(np.float32)
    x = base.transpose(1, 0, 3, 2)
    mx, mn = hyperkit.minmax_pool2d(x, 3, 1)
    rmx, rmn, _, _ = reference_minmax(x, (3, 3), (1, 1))
    np.testing.assert_array_equal(mx, rmx.astype(np.float32))
    tmx, _ = hyperkit.minmax_pool2d(torch.from_numpy(base).transpose(2, 3), 3, 1)
    assert isinstance(tmx, torch.Tensor)
    np.testing.assert_array_equal(
        tmx.numpy(),
        reference_minmax(base.transpose(0, 1, 3, 2), (3, 3), (1, 1))[0].astype(np.float32))


def test_thread_count_does_not_change_results():
    x = torch.randn(7, 5, 26, 26, dtype=torch.float64, requires_grad=True)
    outs = []
    before = _C.get_num_threads()
    try:
        for threads in (1, 2):
            _C.set_num_threads(threads)
            x.grad = None
            mx, mn = hyperkit.minmax_pool2d(x, 4, 2)
            (mx.sum() + 2 * mn.sum()).backward()
            outs.append((mx.detach(), mn.detach(), x.grad.clone()))
    finally:
        _C.set_num_threads(before)
    for a, b in zip(*outs):
        assert torch.equal(a, b)


def test_raw_ops_refuse_what_could_crash():
    x = torch.randn(1, 2, 6, 6, requires_grad=True)
    mx, mn, imx, imn = torch.ops.hyperkit.minmax_pool2d(x, [2, 2], [2, 2], False)
    with pytest.raises(RuntimeError, match="no gradient"):
        mx.sum().backward()
    g = torch.ones(1, 2, 3, 3)
    bad = torch.full((1, 2, 3, 3), 99, dtype=torch.int64)
    with pytest.raises(ValueError, match="outside"):
        torch.ops.hyperkit.minmax_pool2d_backward(g, g, bad, bad, 6, 6, [2, 2], [2, 2])
    with pytest.raises(ValueError, match="larger than the input"):
        torch.ops.hyperkit.minmax_pool2d(x, [7, 7], [1, 1], True)


@pytest.mark.parametrize(
    "x, kw, exc, words",
    [
        (np.zeros((1, 1, 4, 4), np.int32), {}, TypeError, "float32 or float64"),
        (np.zeros((4, 4)), {}, ValueError, "4 dimensions"),
        (np.zeros((1, 0, 4, 4)), {}, ValueError, "empty"),
        (np.zeros((1, 1, 4, 4)), {"kernel_size": 5}, ValueError, "larger than the input"),
        (np.zeros((1, 1, 4, 4)), {"kernel_size": 0}, ValueError, "kernel_size"),
        (np.zeros((1, 1, 4, 4)), {"stride": 2}, ValueError, "stride needs a kernel_size"),
        (np.full((1, 1, 4, 4), np.nan), {}, ValueError, "NaN"),
        (np.full((1, 1, 4, 4), np.nan), {"kernel_size": 2}, ValueError, "NaN"),
    ],
)
def test_bad_input(x, kw, exc, words):
    with pytest.raises(exc, match=words):
        hyperkit.minmax_pool2d(x, **kw)


@pytest.mark.parametrize("k", [None, 2])
def test_inf_is_a_valid_value(k):
    x = np.zeros((1, 2, 4, 4), np.float32)
    x[0, 0, 1, 1], x[0, 1, 2, 2] = np.inf, -np.inf
    mx, mn = hyperkit.minmax_pool2d(x, k)
    assert mx[0, 0].max() == np.inf and mn[0, 1].min() == -np.inf


# ---- on every device (the CUDA cases run where hyperkit's CUDA kernels are usable)

DTYPES = [torch.float32, torch.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, k, s", [((8, 50, 26, 26), None, None), ((2, 3, 1, 1), None, None),
                                         ((2, 3, 33, 29), (3, 5), (2, 3)),
                                         ((1, 70000, 4, 4), (2, 2), None)])
@pytest.mark.parametrize("ties", [False, True])
def test_forward_backward_on_device(device, dtype, shape, k, s, ties):
    gen = torch.Generator().manual_seed(0)
    xc = (torch.randint(0, 3, shape, generator=gen) if ties
          else torch.randn(shape, generator=gen)).to(dtype).requires_grad_()
    xd = xc.detach().to(device).requires_grad_()
    outs = []
    for x in (xc, xd):
        mx, mn = hyperkit.minmax_pool2d(x, k, s)
        assert mx.device == x.device and mn.device == x.device
        gm = torch.linspace(-1, 1, mx.numel(), dtype=dtype).reshape(mx.shape).to(x.device)
        (mx * gm + mn * gm.flip(-1)).sum().backward()
        outs.append((mx.detach().cpu(), mn.detach().cpu(), x.grad.cpu()))
    rmx, rmn, _, _ = reference_minmax(xc.detach().numpy(), k, s)
    np.testing.assert_array_equal(outs[1][0].numpy(), rmx.astype(outs[1][0].numpy().dtype))
    np.testing.assert_array_equal(outs[1][1].numpy(), rmn.astype(outs[1][1].numpy().dtype))
    for a, b in zip(*outs):  # the gather-form backward adds in the CPU's order
        assert torch.equal(a, b)


@needs_cuda
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_second_device():
    x = torch.rand(2, 3, 26, 26, device="cuda:1")
    assert hyperkit.minmax_pool2d(x)[0].device == x.device


@needs_cuda
def test_cupy_in_cupy_out():
    cp = pytest.importorskip("cupy")
    x = cp.random.rand(2, 3, 30, 40).astype(cp.float32)
    mx, mn = hyperkit.minmax_pool2d(x)
    assert isinstance(mx, cp.ndarray) and isinstance(mn, cp.ndarray)
    np.testing.assert_array_equal(cp.asnumpy(mx)[..., 0, 0], cp.asnumpy(x).max((2, 3)))
    np.testing.assert_array_equal(cp.asnumpy(mn)[..., 0, 0], cp.asnumpy(x).min((2, 3)))
