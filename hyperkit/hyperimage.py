"""Hyper-images: stage-1 features of a U x V patch grid, arranged as (D, U, V).

Point (u, v) of image n's hyper-image is stage1(patch (u, v) of image n), the
patches cut at :func:`hyperkit.grid_positions` offsets (the run-time strides of
eq. 2), so every image gets the same grid without being resized.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from . import checks
from .data.patches import check_patch_fits, check_same_channels, grid_batches
from .devices import module_device
from .grid import grid_shape
from .images import as_image_list, fitted_hw, image_hw
from .ops.kernels import cuda_available


def build_hyperimage(
    images: Any,
    stage1: Callable[[Tensor], Tensor],
    *,
    patch: Any = 32,
    grid: Sequence[int] | None = None,
    stride: Any = None,
    max_size: Any = None,
    lcn: bool = True,
    batch_size: int = 4096,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Turns images into hyper-images with a stage-1 network.

    Args:
        images: one image or many: numpy (H, W) / (H, W, C) (uint8 0-255 or float 0-1),
            torch (C, H, W) / (N, C, H, W), or a list of these with different sizes.
            All must have the same channel count.
        stage1: module or callable mapping patches (P, C, ph, pw) float32 to features
            (P, D), e.g. a stage-1 CNN's ReLU-activated penultimate layer.
        patch: patch size, int or (ph, pw), pixels.
        grid: (U, V). None: :func:`grid_shape` of max_size if given, else of the
            largest image, at ``stride``.
        stride: nominal stride for grid=None, int or (sh, sw); default patch // 2.
        max_size: (max_height, max_width) or int: larger images are first scaled down
            isotropically to fit (the paper's testing procedure).
        lcn: normalize each whole image with :func:`hyperkit.lcn` before cutting patches.
        batch_size: most patches passed to stage1 at once (bounds memory).
        device: where stage1 runs; default the device of stage1's parameters (CPU for
            a callable without parameters).
        requires_grad: run stage1 with autograd enabled (default: under no_grad).

    Returns:
        float tensor (N, D, U, V) on stage1's device; point (u, v) of image n is the
        feature vector of patch (u, v) of image n.
    """
    ph, pw = checks.pair(patch, "patch")
    batch_size = checks.positive_int(batch_size, "batch_size")
    if max_size is not None:
        max_size = checks.pair(max_size, "max_size")
    if not callable(stage1):
        raise TypeError(f"stage1 must be a torch module or callable, got {type(stage1).__name__}")
    raw = as_image_list(images)
    dev = torch.device(device) if device is not None else module_device(stage1)
    sizes = [fitted_hw(*image_hw(im), max_size) for im in raw]
    check_patch_fits(sizes, (ph, pw))
    check_same_channels(raw)  # from shapes, before any image is converted
    if grid is None:
        sh, sw = checks.pair(stride, "stride") if stride is not None else (
            max(1, ph // 2), max(1, pw // 2))
        ref = max_size or (max(h for h, _ in sizes), max(w for _, w in sizes))
        grid = grid_shape(ref[0], ref[1], (ph, pw), (sh, sw))
    elif stride is not None:
        raise ValueError("give grid or stride, not both")
    u, v = checks.pair(grid, "grid")

    # With CUDA kernels, each image goes to the GPU once and its patches never leave it.
    prep_dev = dev if dev.type == "cuda" and cuda_available() else torch.device("cpu")
    total = len(raw) * u * v
    feats: Tensor | None = None
    p0 = 0
    with torch.set_grad_enabled(requires_grad):
        for chunk in grid_batches(raw, (ph, pw), (u, v), batch_size=batch_size,
                                  device=prep_dev, max_size=max_size, lcn=lcn):
            p1 = p0 + len(chunk)
            out = stage1(chunk.to(dev, non_blocking=True))
            if not isinstance(out, Tensor) or out.ndim != 2 or out.shape[0] != p1 - p0:
                got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise ValueError(f"stage1 must map (P, C, ph, pw) patches to (P, D) features; "
                                 f"for P = {p1 - p0} it returned {got}")
            if feats is None:
                feats = out.new_empty((total, out.shape[1]))
            feats[p0:p1] = out
            p0 = p1
    return feats.view(len(raw), u, v, -1).permute(0, 3, 1, 2).contiguous()
