"""The kernel benchmarks' cases, in one place: per group, hyperkit's call and what a user
would otherwise write, on the paper's sizes. ``bench/test_kernels.py`` (pytest-benchmark,
one implementation after another) and ``bench/kernel_ratios.py`` (interleaved, paired by
round) time the same callables.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

import hyperkit

RADIUS, SIGMA, EPS = 3, 7 / 6, 1 / 255
LCN = "lcn 8x3x384x512"
MINMAX = "minmax 512x50x26x26"
GATHER = "gather 8x3x384x512 -> 23x31 of 32x32"
BATCH = "stage-1 training batch: 128 random 16x16 patches of 600 128x128 images"
GRID = "grid min+max 1x50x378x506, 26x26 windows on a 23x31 grid"

Cases = dict[str, Callable[[], object]]


def tid_images() -> torch.Tensor:
    """8 TID2013-sized RGB images (8, 3, 384, 512), float32 in [0, 1]."""
    return torch.from_numpy(np.random.default_rng(0).random((8, 3, 384, 512), dtype=np.float32))


def kang_conv1() -> torch.Tensor:
    """Kang et al.'s conv1 output for a 512-patch batch: (512, 50, 26, 26) float32."""
    return torch.randn(512, 50, 26, 26, generator=torch.Generator().manual_seed(0))


def kang_map() -> torch.Tensor:
    """Kang's conv1 map of one whole TID image: (1, 50, 378, 506) float32, NCHW."""
    return torch.randn(1, 50, 378, 506, generator=torch.Generator().manual_seed(0))


def gaussian(radius: int = RADIUS, sigma: float = SIGMA) -> np.ndarray:
    """The LCN window's normalized 1-D Gaussian, (2 radius + 1,) float32."""
    k = np.arange(-radius, radius + 1)
    g = np.exp(-0.5 * k**2 / sigma**2)
    return (g / g.sum()).astype(np.float32)


def lcn_torch_conv2d(x: torch.Tensor) -> torch.Tensor:
    """The usual torch composite: two 7x7 conv2d's over a replicate-padded input."""
    g = torch.from_numpy(gaussian())
    w = torch.outer(g, g)[None, None]
    n, c, h, ww = x.shape
    flat = x.reshape(n * c, 1, h, ww)
    xp = F.pad(flat, (RADIUS,) * 4, mode="replicate")
    mu = F.conv2d(xp, w)
    var = (F.conv2d(xp * xp, w) - mu * mu).clamp_min(0)
    return ((flat - mu) / (var.sqrt() + EPS)).reshape(x.shape)


def lcn_opencv(x: np.ndarray) -> np.ndarray:
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


def lcn_cases(x: torch.Tensor) -> Cases:
    """LCN of ``x`` (N, C, H, W) float32 by hyperkit, torch's conv2d and OpenCV."""
    x_np = x.numpy()
    return {"hyperkit": lambda: hyperkit.lcn(x_np),
            "torch_conv2d": lambda: lcn_torch_conv2d(x),
            "opencv": lambda: lcn_opencv(x_np)}


def minmax_cases(x: torch.Tensor) -> Cases:
    """Global min and max of each (N, C) map of ``x`` (N, C, H, W), and a plain sum
    (``sum_floor``: one pass over the memory, the floor any reduction pays)."""
    return {"hyperkit": lambda: hyperkit.minmax_pool2d(x),
            "amax_amin": lambda: (x.amax((2, 3), keepdim=True), x.amin((2, 3), keepdim=True)),
            "max_pool2d_pair": lambda: (F.max_pool2d(x, 26), -F.max_pool2d(-x, 26)),
            "aminmax": lambda: torch.aminmax(x.flatten(2), dim=-1),
            "sum_floor": lambda: x.sum((2, 3))}


def gather_cases(x: torch.Tensor) -> Cases:
    """The stride-16 grid of 32 x 32 patches of ``x`` (N, 3, 384, 512), as one
    (N U V, 3, 32, 32) tensor: hyperkit's gather against torch's unfold + copy."""
    u, v = hyperkit.grid_shape(384, 512, 32, 16)
    return {"hyperkit": lambda: hyperkit.gather_patches(x, 32, (u, v)),
            "unfold_contiguous": lambda: x.unfold(2, 32, 16).unfold(3, 32, 16)
            .permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, 32, 32)}


def batch_cases() -> Cases:
    """What stage-1 training does per batch (hyperkit.patches.GridPatches.batch): the
    one gather kernel at explicit positions, against slicing each patch and stacking."""
    from hyperkit.patches import GridPatches

    rng = np.random.default_rng(0)
    images = [rng.random((128, 128), dtype=np.float32) for _ in range(600)]
    source = GridPatches(images, np.zeros(600), (16, 16), (10, 10), lcn=False)
    idx = rng.integers(0, len(source), 128)
    n, cell = idx // 100, idx % 100
    ys, xs = source._rows[n, cell // 10], source._cols[n, cell % 10]

    def slice_stack() -> torch.Tensor:
        return torch.stack([source.images[i][:, y:y + 16, x:x + 16]
                            for i, y, x in zip(n.tolist(), ys.tolist(), xs.tolist())])

    return {"hyperkit": lambda: source.batch(idx)[0][0], "slice_stack": slice_stack}


def grid_minmax_cases(x: torch.Tensor) -> Cases:
    """The shared route's pooling of ``x`` (1, 50, 378, 506): 26 x 26 windows at the
    patch offsets of a 23 x 31 grid; hyperkit on NCHW and channels-last against torch's
    separable max_pool2d pair (26x1 then 1x26, far faster than one 26x26 pooling)."""
    xcl = x.contiguous(memory_format=torch.channels_last)
    rows = torch.from_numpy(hyperkit.grid_positions(378, 26, 23))
    cols = torch.from_numpy(hyperkit.grid_positions(506, 26, 31))

    def torch_pair() -> tuple[torch.Tensor, torch.Tensor]:
        mx = F.max_pool2d(F.max_pool2d(x, (26, 1), 1)[:, :, rows], (1, 26), 1)[:, :, :, cols]
        mn = -F.max_pool2d(F.max_pool2d(-x, (26, 1), 1)[:, :, rows], (1, 26), 1)[:, :, :, cols]
        return mx, mn

    return {"hyperkit": lambda: hyperkit.grid_minmax_pool(x, 26, (23, 31)),
            "hyperkit_channels_last": lambda: hyperkit.grid_minmax_pool(xcl, 26, (23, 31)),
            "max_pool2d_pair_separable_index": torch_pair}


def all_cases() -> dict[str, Cases]:
    """Every group's cases on fresh inputs, in the order bench/RESULTS.md lists them."""
    images = tid_images()
    return {LCN: lcn_cases(images), MINMAX: minmax_cases(kang_conv1()),
            GATHER: gather_cases(images), BATCH: batch_cases(),
            GRID: grid_minmax_cases(kang_map())}
