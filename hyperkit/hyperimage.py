"""Hyper-images: stage-1 features of a U x V patch grid, arranged as (D, U, V).

Point (u, v) of image n's hyper-image is stage1(patch (u, v) of image n), the
patches cut at :func:`hyperkit.grid_positions` offsets (the run-time strides of
eq. 2), so every image gets the same grid without being resized.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from . import checks
from .data.patches import check_patch_fits, grid_batches
from .devices import module_device
from .grid import grid_shape
from .images import AUTO, check_channels, fitted_hw, image_hw, split_images
from .ops.kernels import cuda_available


def _network(stage1: Callable) -> Any:
    """The module behind stage1 (itself, or the owner of a bound method such as
    ``net.features``); None for other callables."""
    owner = getattr(stage1, "__self__", stage1)
    return owner if isinstance(owner, nn.Module) else None


def _check_stage1(stage1: Callable, patch: tuple[int, int]) -> int | None:
    """The channel count stage1 declares (None if it declares none); refuses a network
    passed whole instead of its features, and patches of another size than its input."""
    if not callable(stage1):
        raise TypeError(f"stage1 must be a torch module or callable, got {type(stage1).__name__}")
    net = _network(stage1)
    if net is None:
        return None
    if stage1 is net and callable(getattr(net, "features", None)) \
            and getattr(net, "head", True) is not None:
        raise TypeError(f"stage1 is a whole {type(net).__name__}, whose output is a score per "
                        "patch; hyper-images are built from its features: pass stage1.features")
    shape = getattr(net, "input_shape", None)
    if shape is None:
        return None
    if tuple(shape[1:]) != tuple(patch):
        raise ValueError(f"stage1 takes {shape[1]}x{shape[2]} patches (its input_shape is "
                         f"{tuple(shape)}), not {patch[0]}x{patch[1]}; pass patch="
                         f"({shape[1]}, {shape[2]})")
    return int(shape[0])


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
    channel_axis: Any = AUTO,
    channels: int | None = None,
) -> Tensor:
    """Turns images into hyper-images with a stage-1 network.

    Args:
        images: one image or many, by the rules of :mod:`hyperkit.images`: numpy
            (H, W) / (H, W, C) / (N, H, W, C), torch (C, H, W) / (N, C, H, W), or a list
            of these with different sizes; uint8, uint16 or floats in [0, 1].
        stage1: module or callable mapping patches (P, C, ph, pw) float32 to features
            (P, D), e.g. a stage-1 CNN's ReLU-activated penultimate layer
            (``net.features``; the whole network gives scores and is refused). When it
            declares an ``input_shape`` (every hyperkit network does), ``patch`` must
            match it and the images its channel count.
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
        channel_axis: the channel axis of ``images`` where its shape reads two ways
            (see :func:`hyperkit.images.split_images`).
        channels: channels stage1 takes, when it does not declare them; RGB images are
            converted to gray for 1. Default: from stage1, else the images' own count.

    Returns:
        float tensor (N, D, U, V) on stage1's device; point (u, v) of image n is the
        feature vector of patch (u, v) of image n.
    """
    ph, pw = checks.pair(patch, "patch")
    batch_size = checks.positive_int(batch_size, "batch_size")
    if max_size is not None:
        max_size = checks.pair(max_size, "max_size")
    declared = _check_stage1(stage1, (ph, pw))
    channels = declared if channels is None else checks.positive_int(channels, "channels")
    raw = split_images(images, channel_axis=channel_axis)
    dev = torch.device(device) if device is not None else module_device(stage1)
    sizes = [fitted_hw(*image_hw(im), max_size) for im in raw]
    check_patch_fits(sizes, (ph, pw))
    channels = check_channels(raw, channels)  # from shapes, before anything runs
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
                                  device=prep_dev, max_size=max_size, lcn=lcn,
                                  channels=channels):
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
