"""LCN (eq. 4) against a plain float64 reference that evaluates the formula directly,
on the CPU and (where usable) the GPU."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import hyperkit
from hyperkit.ops.kernels import cpu as _C

from ..conftest import needs_cuda
from ..reference import reference_lcn

shapes = st.tuples(
    st.lists(st.integers(1, 3), min_size=0, max_size=2),
    st.integers(1, 37),
    st.integers(1, 41),
)


@given(shape=shapes, dtype=st.sampled_from([np.float32, np.float64]),
       radius=st.integers(0, 4), seed=st.integers(0, 2**31 - 1))
def test_matches_reference(shape, dtype, radius, seed):
    lead, h, w = shape
    x = np.random.default_rng(seed).random((*lead, h, w)).astype(dtype)
    got = hyperkit.lcn(x, radius=radius)
    assert got.dtype == dtype and got.shape == x.shape
    tol = 1e-10 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(got, reference_lcn(x, radius), rtol=tol, atol=tol)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (1, 200), (3, 1, 1)])
def test_degenerate_planes(shape):
    x = np.random.default_rng(0).random(shape)
    np.testing.assert_allclose(hyperkit.lcn(x), reference_lcn(x), atol=1e-10)


def test_flat_and_nearly_flat_regions_are_finite_and_exact():
    # A bright flat region plus a tiny ripple: where E[I^2] - mu^2 cancels in float32.
    x = np.full((1, 64, 64), 0.9, dtype=np.float32)
    x[0, 20:40, 20:40] += np.float32(1e-4) * np.random.default_rng(1).random((20, 20),
                                                                             np.float32)
    got = hyperkit.lcn(x)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, reference_lcn(x), atol=2e-5)
    assert (hyperkit.lcn(np.ones((5, 5))) == 0).all()


def test_parameters_change_the_result_as_the_formula_says():
    x = np.random.default_rng(2).random((20, 30))
    for kw in ({"sigma": 2.0}, {"eps": 0.1}, {"radius": 1}):
        args = {"radius": 3, "sigma": 7 / 6, "eps": 1 / 255, **kw}
        np.testing.assert_allclose(hyperkit.lcn(x, **kw), reference_lcn(x, **args), atol=1e-10)


def test_torch_in_torch_out_and_non_contiguous():
    base = torch.rand(2, 40, 30, dtype=torch.float64)
    x = base.transpose(1, 2)  # non-contiguous (2, 30, 40) view
    got = hyperkit.lcn(x)
    assert isinstance(got, torch.Tensor) and got.shape == x.shape
    np.testing.assert_allclose(got.numpy(), reference_lcn(x.numpy()), atol=1e-10)
    xn = base.numpy()[:, ::2, ::3]
    np.testing.assert_allclose(hyperkit.lcn(xn), reference_lcn(xn), atol=1e-10)
    mod = hyperkit.LocalContrastNorm()
    assert torch.equal(mod(x), got)


def test_thread_count_does_not_change_results():
    x = np.random.default_rng(3).random((3, 97, 61)).astype(np.float32)
    before = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        one = hyperkit.lcn(x)
        _C.set_num_threads(2)
        two = hyperkit.lcn(x)
    finally:
        _C.set_num_threads(before)
    assert np.array_equal(one, two)


def test_opcheck():
    x = torch.rand(2, 3, 17, 19)
    torch.library.opcheck(torch.ops.hyperkit.lcn.default, (x, 3, 7 / 6, 1 / 255))


@pytest.mark.parametrize(
    "bad, exc, words",
    [
        (np.zeros((4, 4), np.uint8), TypeError, "float32 or float64"),
        (np.zeros(4), ValueError, "at least 2 dimensions"),
        (np.zeros((0, 4)), ValueError, "empty"),
        ([[0.0, 1.0]], TypeError, "numpy array, torch tensor"),
        (np.array([[0.0, np.nan]]), ValueError, "NaN"),
        (np.array([[0.0, np.inf]]), ValueError, "NaN or Inf"),
    ],
)
def test_bad_images(bad, exc, words):
    with pytest.raises(exc, match=words):
        hyperkit.lcn(bad)


@pytest.mark.parametrize("kw, exc", [({"radius": -1}, ValueError), ({"radius": 1.5}, TypeError),
                                     ({"sigma": 0}, ValueError),
                                     ({"eps": float("nan")}, ValueError),
                                     ({"eps": "x"}, TypeError)])
def test_bad_parameters(kw, exc):
    with pytest.raises(exc, match=next(iter(kw))):
        hyperkit.lcn(np.zeros((3, 3)), **kw)


# ---- on every device (the CUDA cases run where hyperkit's CUDA kernels are usable)

DTYPES = [torch.float32, torch.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (3, 1, 200), (2, 3, 37, 41), (5, 64, 33), (70000, 2, 3)])
@pytest.mark.parametrize("radius", [0, 3, 5])
def test_on_device(device, dtype, shape, radius):
    x = torch.rand(shape, dtype=dtype, device=device)
    got = hyperkit.lcn(x, radius=radius)
    assert got.device == x.device and got.dtype == dtype and got.shape == x.shape
    tol = 1e-10 if dtype == torch.float64 else 2e-5
    np.testing.assert_allclose(got.cpu().numpy(), reference_lcn(x.cpu().numpy(), radius),
                               rtol=tol, atol=tol)


def test_nan_and_non_contiguous_on_device(device):
    x = torch.rand(2, 40, 30, device=device, dtype=torch.float64).transpose(1, 2)
    np.testing.assert_allclose(hyperkit.lcn(x).cpu().numpy(), reference_lcn(x.cpu().numpy()),
                               atol=1e-10)
    x[0, 3, 4] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        hyperkit.lcn(x)


def test_opcheck_on_device(device):
    x = torch.rand(2, 3, 17, 19, device=device)
    torch.library.opcheck(torch.ops.hyperkit.lcn.default, (x, 3, 7 / 6, 1 / 255))


@needs_cuda
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_second_device():
    x = torch.rand(2, 3, 26, 26, device="cuda:1")
    assert hyperkit.lcn(x).device == x.device


@needs_cuda
def test_cupy_in_cupy_out():
    cp = pytest.importorskip("cupy")
    x = cp.random.rand(2, 3, 30, 40).astype(cp.float32)
    y = hyperkit.lcn(x)
    assert isinstance(y, cp.ndarray)
    np.testing.assert_allclose(cp.asnumpy(y), reference_lcn(cp.asnumpy(x)), atol=2e-5)
