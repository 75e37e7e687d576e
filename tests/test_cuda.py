"""The CUDA kernels against the same references as the CPU tests (skipped without a GPU)."""

import numpy as np
import pytest
import torch

import hyperkit

from .test_grid import by_hand
from .test_lcn import reference_lcn
from .test_pooling import reference

pytestmark = pytest.mark.skipif(not hyperkit.cuda_available(), reason="no usable CUDA device")

DTYPES = [torch.float32, torch.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (3, 1, 200), (2, 3, 37, 41), (5, 64, 33), (70000, 2, 3)])
@pytest.mark.parametrize("radius", [0, 3, 5])
def test_lcn(dtype, shape, radius):
    x = torch.rand(shape, dtype=dtype, device="cuda")
    got = hyperkit.lcn(x, radius=radius)
    assert got.device == x.device and got.dtype == dtype
    tol = 1e-10 if dtype == torch.float64 else 2e-5
    np.testing.assert_allclose(got.cpu().numpy(), reference_lcn(x.cpu().numpy(), radius),
                               rtol=tol, atol=tol)


def test_lcn_nan_and_non_contiguous():
    x = torch.rand(2, 40, 30, device="cuda", dtype=torch.float64).transpose(1, 2)
    np.testing.assert_allclose(hyperkit.lcn(x).cpu().numpy(), reference_lcn(x.cpu().numpy()),
                               atol=1e-10)
    x[0, 3, 4] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        hyperkit.lcn(x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, k, s", [((8, 50, 26, 26), None, None), ((2, 3, 1, 1), None, None),
                                         ((2, 3, 33, 29), (3, 5), (2, 3)),
                                         ((1, 70000, 4, 4), (2, 2), None)])
@pytest.mark.parametrize("ties", [False, True])
def test_minmax_forward_backward(dtype, shape, k, s, ties):
    gen = torch.Generator().manual_seed(0)
    xc = (torch.randint(0, 3, shape, generator=gen) if ties
          else torch.randn(shape, generator=gen)).to(dtype).requires_grad_()
    xg = xc.detach().cuda().requires_grad_()
    outs = []
    for x in (xc, xg):
        mx, mn = hyperkit.minmax_pool2d(x, k, s)
        gm = torch.linspace(-1, 1, mx.numel(), dtype=dtype).reshape(mx.shape).to(x.device)
        (mx * gm + mn * gm.flip(-1)).sum().backward()
        outs.append((mx.detach().cpu(), mn.detach().cpu(), x.grad.cpu()))
    rmx, rmn, _, _ = reference(xc.detach().numpy(), k, s)
    np.testing.assert_array_equal(outs[1][0].numpy(), rmx.astype(outs[1][0].numpy().dtype))
    np.testing.assert_array_equal(outs[1][1].numpy(), rmn.astype(outs[1][1].numpy().dtype))
    for a, b in zip(*outs):  # the gather-form backward adds in the CPU's order
        assert torch.equal(a, b)


@pytest.mark.parametrize("k", [None, (3, 3)])
def test_minmax_opcheck_gradcheck(k):
    x = (torch.randperm(2 * 3 * 9 * 10).reshape(2, 3, 9, 10).double() / 10).cuda().requires_grad_()
    kk = [9, 10] if k is None else list(k)
    torch.library.opcheck(torch.ops.hyperkit.minmax_pool2d.default, (x, kk, kk, True))
    assert torch.autograd.gradcheck(lambda t: hyperkit.minmax_pool2d(t, k), (x,))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gather(dtype):
    ims = [torch.rand(3, h, w, dtype=dtype, device="cuda") for h, w in [(40, 50), (32, 33), (77, 41)]]
    got = hyperkit.gather_patches(ims, 32, (3, 4))
    assert got.device.type == "cuda"
    np.testing.assert_array_equal(got.cpu().numpy(),
                                  by_hand([i.cpu().numpy() for i in ims], 32, 32, 3, 4))
    big = torch.rand(8, 3, 384, 512, dtype=dtype, device="cuda")
    np.testing.assert_array_equal(hyperkit.gather_patches(big, 32, (23, 31)).cpu().numpy(),
                                  by_hand(big.cpu().numpy(), 32, 32, 23, 31))


def test_mixed_devices_are_an_error():
    with pytest.raises(ValueError, match="different devices"):
        hyperkit.gather_patches([torch.rand(1, 40, 40, device="cuda"), torch.rand(1, 40, 40)],
                                32, (1, 1))


def test_build_hyperimage_on_cuda_matches_cpu():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 30 * 30, 6), torch.nn.ReLU()).double()
    imgs = [torch.rand(3, 70, 90), torch.rand(3, 64, 64)]
    cpu = hyperkit.build_hyperimage(imgs, lambda p: net(p.double()), batch_size=5)
    gpu_net = net.cuda()
    gpu = hyperkit.build_hyperimage(imgs, lambda p: gpu_net(p.double()), device="cuda",
                                    batch_size=5)
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_second_device():
    x = torch.rand(2, 3, 26, 26, device="cuda:1")
    assert hyperkit.lcn(x).device == x.device
    assert hyperkit.minmax_pool2d(x)[0].device == x.device


def test_cupy_in_cupy_out():
    cp = pytest.importorskip("cupy")
    x = cp.random.rand(2, 3, 30, 40).astype(cp.float32)
    y = hyperkit.lcn(x)
    assert isinstance(y, cp.ndarray)
    np.testing.assert_allclose(cp.asnumpy(y), reference_lcn(cp.asnumpy(x)), atol=2e-5)
    mx, mn = hyperkit.minmax_pool2d(x)
    assert isinstance(mx, cp.ndarray)
    np.testing.assert_array_equal(cp.asnumpy(mx)[..., 0, 0], cp.asnumpy(x).max((2, 3)))
    p = hyperkit.gather_patches(x, 16, (2, 3))
    np.testing.assert_array_equal(cp.asnumpy(p), by_hand(cp.asnumpy(x), 16, 16, 2, 3))
