"""hyperkit's CPU kernels against what a user would otherwise write (pytest-benchmark).

Run all and write bench/RESULTS.md:  python bench/run.py
Each group times hyperkit and its alternatives in the same process on the same input.
"""

import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import hyperkit

RADIUS, SIGMA, EPS = 3, 7 / 6, 1 / 255


def gaussian(radius=RADIUS, sigma=SIGMA):
    k = np.arange(-radius, radius + 1)
    g = np.exp(-0.5 * k**2 / sigma**2)
    return (g / g.sum()).astype(np.float32)


def lcn_torch_conv2d(x):
    """The usual torch composite: two 7x7 conv2d's over a replicate-padded input."""
    g = torch.from_numpy(gaussian())
    w = torch.outer(g, g)[None, None]
    n, c, h, ww = x.shape
    flat = x.reshape(n * c, 1, h, ww)
    xp = F.pad(flat, (RADIUS,) * 4, mode="replicate")
    mu = F.conv2d(xp, w)
    var = (F.conv2d(xp * xp, w) - mu * mu).clamp_min(0)
    return ((flat - mu) / (var.sqrt() + EPS)).reshape(x.shape)


def lcn_opencv(x):
    """OpenCV composite: separable Gaussian of I and I^2 per plane (cv2 threads inside)."""
    g = gaussian()
    planes = x.reshape(-1, *x.shape[-2:])
    out = np.empty_like(planes)
    for i, p in enumerate(planes):
        mu = cv2.sepFilter2D(p, -1, g, g, borderType=cv2.BORDER_REPLICATE)
        mu2 = cv2.sepFilter2D(cv2.multiply(p, p), -1, g, g, borderType=cv2.BORDER_REPLICATE)
        sd = cv2.sqrt(cv2.max(cv2.subtract(mu2, cv2.multiply(mu, mu)), 0.0))
        out[i] = cv2.divide(cv2.subtract(p, mu), cv2.add(sd, EPS))
    return out.reshape(x.shape)


@pytest.mark.benchmark(group="lcn 8x3x384x512")
@pytest.mark.parametrize("impl", ["hyperkit", "torch_conv2d", "opencv"])
def test_lcn(benchmark, tid_images, impl):
    x_np = tid_images.numpy()
    fn = {"hyperkit": lambda: hyperkit.lcn(x_np),
          "torch_conv2d": lambda: lcn_torch_conv2d(tid_images),
          "opencv": lambda: lcn_opencv(x_np)}[impl]
    out = benchmark(fn)
    ref = hyperkit.lcn(x_np)
    np.testing.assert_allclose(np.asarray(out), ref, atol=5e-3)  # same transform


@pytest.mark.benchmark(group="minmax 512x50x26x26")
@pytest.mark.parametrize("impl", ["hyperkit", "amax_amin", "max_pool2d_pair", "aminmax",
                                  "sum_floor"])
def test_minmax(benchmark, kang_conv1, impl):
    x = kang_conv1
    fn = {"hyperkit": lambda: hyperkit.minmax_pool2d(x),
          "amax_amin": lambda: (x.amax((2, 3), keepdim=True), x.amin((2, 3), keepdim=True)),
          "max_pool2d_pair": lambda: (F.max_pool2d(x, 26), -F.max_pool2d(-x, 26)),
          "aminmax": lambda: torch.aminmax(x.flatten(2), dim=-1),
          "sum_floor": lambda: x.sum((2, 3))}[impl]
    with torch.no_grad():
        benchmark(fn)


@pytest.mark.benchmark(group="gather 8x3x384x512 -> 23x31 of 32x32")
@pytest.mark.parametrize("impl", ["hyperkit", "unfold_contiguous"])
def test_gather(benchmark, tid_images, impl):
    x = tid_images
    u, v = hyperkit.grid_shape(384, 512, 32, 16)
    fn = {"hyperkit": lambda: hyperkit.gather_patches(x, 32, (u, v)),
          "unfold_contiguous": lambda: x.unfold(2, 32, 16).unfold(3, 32, 16)
          .permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, 32, 32)}[impl]
    out = benchmark(fn)
    assert out.shape == (8 * u * v, 3, 32, 32) and math.isfinite(float(out[-1].sum()))


@pytest.mark.benchmark(
    group="stage-1 training batch: 128 random 16x16 patches of 600 128x128 images")
@pytest.mark.parametrize("impl", ["hyperkit", "slice_stack"])
def test_training_batch(benchmark, impl):
    """What stage-1 training does per batch (hyperkit.patches.GridPatches.batch):
    the one gather kernel at explicit positions, against slicing each patch and
    stacking them in torch."""
    from hyperkit.patches import GridPatches

    rng = np.random.default_rng(0)
    images = [rng.random((128, 128), dtype=np.float32) for _ in range(600)]
    source = GridPatches(images, np.zeros(600), (16, 16), (10, 10), lcn=False)
    idx = rng.integers(0, len(source), 128)
    n, cell = idx // 100, idx % 100
    ys, xs = source._rows[n, cell // 10], source._cols[n, cell % 10]

    def slice_stack():
        return torch.stack([source.images[i][:, y:y + 16, x:x + 16]
                            for i, y, x in zip(n.tolist(), ys.tolist(), xs.tolist())])

    fn = {"hyperkit": lambda: source.batch(idx)[0][0], "slice_stack": slice_stack}[impl]
    out = benchmark(fn)
    assert torch.equal(out, slice_stack())


@pytest.fixture(scope="module")
def kang_map():
    """Kang's conv1 map of one whole TID image: (1, 50, 378, 506) float32, NCHW."""
    return torch.randn(1, 50, 378, 506, generator=torch.Generator().manual_seed(0))


@pytest.mark.benchmark(group="grid min+max 1x50x378x506, 26x26 windows on a 23x31 grid")
@pytest.mark.parametrize("impl", ["hyperkit", "hyperkit_channels_last",
                                  "max_pool2d_pair_separable_index"])
def test_grid_minmax(benchmark, kang_map, impl):
    """The shared route's pooling: windows of a whole image's conv map at the patch
    offsets, against torch's max_pool2d + -max_pool2d(-x) (separable: 26x1 then 1x26,
    which is far faster than one 26x26 pooling) and indexing the grid."""
    x = kang_map
    xcl = x.contiguous(memory_format=torch.channels_last)
    rows = torch.from_numpy(hyperkit.grid_positions(378, 26, 23))
    cols = torch.from_numpy(hyperkit.grid_positions(506, 26, 31))

    def torch_pair():
        mx = F.max_pool2d(F.max_pool2d(x, (26, 1), 1)[:, :, rows], (1, 26), 1)[:, :, :, cols]
        mn = -F.max_pool2d(F.max_pool2d(-x, (26, 1), 1)[:, :, rows], (1, 26), 1)[:, :, :, cols]
        return mx, mn

    fn = {"hyperkit": lambda: hyperkit.grid_minmax_pool(x, 26, (23, 31)),
          "hyperkit_channels_last": lambda: hyperkit.grid_minmax_pool(xcl, 26, (23, 31)),
          "max_pool2d_pair_separable_index": torch_pair}[impl]
    with torch.no_grad():
        mx, mn = benchmark(fn)
        want = torch_pair()
    assert torch.equal(mx, want[0]) and torch.equal(mn, want[1])
