"""conv_grid_minmax: conv1 once per whole image, min+max of every grid patch's map window,
trainable. Values match conv_minmax on the gathered patches (and grid_minmax_pool of the
whole map bit for bit); weight and bias gradients match autograd's dense route."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import hyperkit
from hyperkit.devices import native_bf16
from hyperkit.grid import grid_positions
from hyperkit.nets.kang import KangStage1
from hyperkit.ops.conv_grid_minmax import conv_grid_minmax
from hyperkit.ops.conv_minmax import conv_minmax


def case(seed=0, n=2, c=3, h=70, w=90, k=5, kern=4, patch=16, grid=(4, 6)):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    weight = torch.randn(k, c, kern, kern, generator=g, dtype=torch.float64)
    bias = torch.randn(k, generator=g, dtype=torch.float64)
    rows = grid_positions(h, patch, grid[0])
    cols = grid_positions(w, patch, grid[1])
    return x, weight, bias, patch, rows, cols


def patches_of(x, patch, rows, cols):
    """(N U V, C, patch, patch) in cell order n, u, v."""
    return torch.stack([x[i, :, r:r + patch, q:q + patch]
                        for i in range(x.shape[0]) for r in rows for q in cols])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_values_are_conv_minmax_of_the_patches(seed):
    x, weight, bias, patch, rows, cols = case(seed)
    mx, mn = conv_grid_minmax(x, weight, bias, patch, rows, cols)
    n, k = x.shape[0], weight.shape[0]
    assert mx.shape == mn.shape == (n, k, len(rows), len(cols))
    pmx, pmn = conv_minmax(patches_of(x, patch, rows, cols), weight, bias)
    to_cells = lambda t: t.permute(0, 2, 3, 1).reshape(-1, k)  # noqa: E731
    torch.testing.assert_close(to_cells(mx), pmx, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(to_cells(mn), pmn, rtol=1e-12, atol=1e-12)
    # and bit for bit the pooling of the whole map
    fmap = F.conv2d(x.contiguous(memory_format=torch.channels_last), weight, bias)
    gmx, gmn = hyperkit.grid_minmax_pool(fmap, patch - weight.shape[2] + 1,
                                         positions=(rows, cols))
    assert torch.equal(mx, gmx.contiguous()) and torch.equal(mn, gmn.contiguous())


@pytest.mark.parametrize("seed", [0, 3])
def test_gradients_match_the_dense_route(seed):
    x, weight, bias, patch, rows, cols = case(seed)
    g = torch.Generator().manual_seed(seed + 10)
    wmx = torch.randn(x.shape[0], weight.shape[0], len(rows), len(cols), generator=g,
                      dtype=torch.float64)
    wmn = torch.randn(wmx.shape, generator=g, dtype=torch.float64)
    w1, b1 = weight.clone().requires_grad_(), bias.clone().requires_grad_()
    mx, mn = conv_grid_minmax(x, w1, b1, patch, rows, cols)
    ((mx * wmx).sum() + (mn * wmn).sum()).backward()
    w2, b2 = weight.clone().requires_grad_(), bias.clone().requires_grad_()
    fmap = F.conv2d(patches_of(x, patch, rows, cols), w2, b2)  # (N U V, K, m, m)
    k = weight.shape[0]
    cells = lambda t: t.permute(0, 2, 3, 1).reshape(-1, k)  # noqa: E731
    ((fmap.amax((2, 3)) * cells(wmx)).sum() + (fmap.amin((2, 3)) * cells(wmn)).sum()).backward()
    torch.testing.assert_close(w1.grad, w2.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(b1.grad, b2.grad, rtol=1e-10, atol=1e-10)


def test_float32_and_no_bias():
    x, weight, _, patch, rows, cols = case(4)
    x, weight = x.float(), weight.float().requires_grad_()
    mx, mn = conv_grid_minmax(x, weight, None, patch, rows, cols)
    pmx, _ = conv_minmax(patches_of(x, patch, rows, cols), weight.detach())
    torch.testing.assert_close(mx.permute(0, 2, 3, 1).reshape(-1, weight.shape[0]), pmx,
                               rtol=1e-5, atol=1e-5)
    (mx.sum() - mn.sum()).backward()
    assert weight.grad is not None and torch.isfinite(weight.grad).all()


@pytest.mark.skipif(not native_bf16(torch.device("cpu")), reason="no native bf16 on this CPU")
def test_bf16_autocast_convolves_in_bf16_and_pools_in_float32():
    x, weight, bias, patch, rows, cols = case(5)
    x, weight, bias = x.float(), weight.float(), bias.float()
    want, _ = conv_grid_minmax(x, weight, bias, patch, rows, cols)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, _ = conv_grid_minmax(x, weight, bias, patch, rows, cols)
    assert got.dtype == torch.float32
    assert (got - want).abs().max() < 0.05 * want.abs().max()


@pytest.mark.parametrize("change, exc, words", [
    (dict(images=np.zeros((1, 3, 40, 40), np.float32)), TypeError, "torch tensor"),
    (dict(images=torch.zeros(1, 3, 40, 40, dtype=torch.int32)), TypeError, "float32"),
    (dict(images=torch.zeros(3, 40, 40)), ValueError, "images"),
    (dict(weight=torch.zeros(5, 2, 4, 4)), ValueError, r"weight must be \(K, 3, k, k\)"),
    (dict(weight=torch.zeros(5, 3, 4, 4, dtype=torch.float64)), TypeError, "weight must be"),
    (dict(patch=50), ValueError, "patch must be"),
    (dict(patch=3), ValueError, "patch must be"),
    (dict(rows=[0, 30]), ValueError, "rows"),
])
def test_bad_input_is_named(change, exc, words):
    args = dict(images=torch.zeros(1, 3, 40, 40), weight=torch.zeros(5, 3, 4, 4), bias=None,
                patch=16, rows=[0, 24], cols=[0, 12, 24])
    args.update(change)
    with pytest.raises(exc, match=words):
        conv_grid_minmax(args["images"], args["weight"], args["bias"], args["patch"],
                         args["rows"], args["cols"])


def test_kang_layers_on_the_pooled_cells_are_the_patch_scores():
    """Kang's stage 1 on whole images (conv_grid_minmax, then its FC layers) scores every
    grid patch as KangStage1 scores the patch itself."""
    torch.manual_seed(0)
    net = KangStage1(3).double()
    x = torch.randn(2, 3, 64, 80, dtype=torch.float64)
    rows, cols = grid_positions(64, 32, 3), grid_positions(80, 32, 4)
    mx, mn = conv_grid_minmax(x, net.conv1.weight, net.conv1.bias, 32, rows, cols)
    h = torch.cat([mn, mx], 1).permute(0, 2, 3, 1).reshape(-1, 100)
    got = net.out(net.relu(net.fc2(net.relu(net.fc1(h))))).squeeze(1)
    torch.testing.assert_close(got, net(patches_of(x, 32, rows, cols)), rtol=1e-10, atol=1e-10)


def test_torch_op_opcheck():
    x, weight, bias, patch, rows, cols = case(6, h=40, w=44, grid=(2, 3))
    args = (x, weight.requires_grad_(), bias.requires_grad_(), patch - weight.shape[2] + 1,
            [int(r) for r in rows], [int(c) for c in cols])
    torch.library.opcheck(torch.ops.hyperkit.conv_grid_minmax.default, args,
                          test_utils=("test_schema", "test_faketensor",
                                      "test_autograd_registration"))
