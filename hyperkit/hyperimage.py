"""Hyper-images: stage-1 features of a U x V patch grid, arranged as (D, U, V).

Point (u, v) of image n's hyper-image is stage1(patch (u, v) of image n), the
patches cut at :func:`hyperkit.grid_positions` offsets (the run-time strides of
eq. 2), so every image gets the same grid without being resized.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import _arrays
from ._ext import cuda_available
from .grid import _check_images, gather_range, grid_shape
from .lcn import lcn as _lcn


def as_image_tensor(image: Any, name: str = "image") -> Tensor:
    """One image as a float32 (C, H, W) torch tensor with values in [0, 1].

    numpy input is (H, W) or (H, W, C) as Pillow / imageio / scikit-image give it;
    torch input is (H, W) or (C, H, W). uint8 is divided by 255, uint16 by 65535,
    floats are taken as they are. The tensor stays on its device.
    """
    k = _arrays.kind(image, name)
    if k == "numpy":
        _arrays.check_rank(image, name, min_ndim=2, max_ndim=3, layout="(H, W) or (H, W, C)")
        arr = np.ascontiguousarray(image)
        if not arr.flags.writeable:  # read-only (memory maps, PIL): torch wants writable
            arr = arr.copy()
        t = torch.from_numpy(arr)
        t = t[None] if t.ndim == 2 else t.permute(2, 0, 1)
    elif k == "torch":
        _arrays.check_rank(image, name, min_ndim=2, max_ndim=3, layout="(H, W) or (C, H, W)")
        t = image[None] if image.ndim == 2 else image
    else:
        t = torch.as_tensor(image, device="cuda")
        t = t[None] if t.ndim == 2 else t
    dt = t.dtype
    if dt == torch.uint8:
        t = t.float() / 255.0
    elif dt == torch.uint16:
        t = t.float() / 65535.0
    elif dt.is_floating_point:
        t = t.float()
    else:
        raise TypeError(f"{name} must be uint8, uint16 or float, got {_arrays.dtype_name(image)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or Inf values")
    return t


def as_image_list(images: Any) -> list[Any]:
    """Splits the accepted forms of ``images`` into a list of single images."""
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError("images is an empty list")
        return list(images)
    k = _arrays.kind(images, "images")
    if images.ndim == 4:  # torch (N, C, H, W) or numpy (N, H, W, C)
        return [images[i] for i in range(images.shape[0])]
    if k == "numpy" or images.ndim in (2, 3):
        return [images]
    raise ValueError(f"images must have 2 to 4 dimensions, got shape {tuple(images.shape)}")


def _fit(t: Tensor, max_size: tuple[int, int] | None) -> Tensor:
    """Scales (C, H, W) down isotropically so that it fits in max_size (never up)."""
    if max_size is None:
        return t
    size = _fitted_hw(t.shape[1], t.shape[2], max_size)
    if size == tuple(t.shape[1:]):
        return t
    return F.interpolate(t[None], size=size, mode="bilinear", antialias=True,
                         align_corners=False)[0]


def _stage1_device(stage1: Callable, device: Any) -> torch.device:
    if device is not None:
        return torch.device(device)
    if isinstance(stage1, nn.Module):
        for p in stage1.parameters():
            return p.device
    return torch.device("cpu")


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
    ph, pw = _arrays.pair(patch, "patch")
    batch_size = _arrays.positive_int(batch_size, "batch_size")
    if max_size is not None:
        max_size = _arrays.pair(max_size, "max_size")
    if not callable(stage1):
        raise TypeError(f"stage1 must be a torch module or callable, got {type(stage1).__name__}")
    raw = as_image_list(images)
    dev = _stage1_device(stage1, device)
    sizes = [_image_hw(im) for im in raw]
    if max_size is not None:
        sizes = [_fitted_hw(h, w, max_size) for h, w in sizes]
    for i, (h, w) in enumerate(sizes):
        if h < ph or w < pw:
            raise ValueError(f"images[{i}] is {h}x{w}, smaller than the {ph}x{pw} patch")
    if grid is None:
        sh, sw = _arrays.pair(stride, "stride") if stride is not None else (
            max(1, ph // 2), max(1, pw // 2))
        ref = max_size or (max(h for h, _ in sizes), max(w for _, w in sizes))
        grid = grid_shape(ref[0], ref[1], (ph, pw), (sh, sw))
    elif stride is not None:
        raise ValueError("give grid or stride, not both")
    u, v = _arrays.pair(grid, "grid")

    # With CUDA kernels, each image goes to the GPU once and its patches never leave it.
    prep_dev = dev if dev.type == "cuda" and cuda_available() else torch.device("cpu")

    def prepare(i: int) -> Tensor:
        t = _fit(as_image_tensor(raw[i], f"images[{i}]").to(prep_dev), max_size)
        return _lcn(t) if lcn else t.contiguous()

    per_image = u * v
    total = len(raw) * per_image
    feats: Tensor | None = None
    cache: dict[int, Tensor] = {}  # prepared images the current chunk still needs
    with torch.set_grad_enabled(requires_grad):
        for p0 in range(0, total, batch_size):
            p1 = min(total, p0 + batch_size)
            n0, n1 = p0 // per_image, (p1 - 1) // per_image
            cache = {n: t for n, t in cache.items() if n >= n0}
            for n in range(n0, n1 + 1):
                if n not in cache:
                    cache[n] = prepare(n)
            ims = [cache[n] for n in range(n0, n1 + 1)]
            _check_images(ims, ph, pw)  # same channels and device across chunks
            chunk = gather_range(ims, (ph, pw), (u, v), p0 - n0 * per_image, p1 - p0)
            out = stage1(chunk.to(dev, non_blocking=True))
            if not isinstance(out, Tensor) or out.ndim != 2 or out.shape[0] != p1 - p0:
                got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise ValueError(f"stage1 must map (P, C, ph, pw) patches to (P, D) features; "
                                 f"for P = {p1 - p0} it returned {got}")
            if feats is None:
                feats = out.new_empty((total, out.shape[1]))
            feats[p0:p1] = out
    return feats.view(len(raw), u, v, -1).permute(0, 3, 1, 2).contiguous()


def _image_hw(image: Any) -> tuple[int, int]:
    """(H, W) of one image in any accepted layout, without converting it."""
    shape = tuple(getattr(image, "shape", ()))
    if len(shape) < 2:
        _arrays.kind(image, "image")  # TypeError for non-arrays
        raise ValueError(f"an image must have 2 or 3 dimensions, got shape {shape}")
    if len(shape) == 2 or not isinstance(image, np.ndarray):
        return shape[-2], shape[-1]
    return shape[0], shape[1]


def image_channels(image: Any, name: str = "image") -> int:
    """Channel count of one image in any accepted layout, from its shape alone
    (numpy (H, W) / (H, W, C), torch or cupy (H, W) / (C, H, W))."""
    k = _arrays.kind(image, name)
    layout = "(H, W) or (H, W, C)" if k == "numpy" else "(H, W) or (C, H, W)"
    _arrays.check_rank(image, name, min_ndim=2, max_ndim=3, layout=layout)
    if image.ndim == 2:
        return 1
    return image.shape[2] if k == "numpy" else image.shape[0]


def _fitted_hw(h: int, w: int, max_size: tuple[int, int]) -> tuple[int, int]:
    scale = min(max_size[0] / h, max_size[1] / w)
    if scale >= 1:
        return h, w
    return (min(max_size[0], max(1, round(h * scale))), min(max_size[1], max(1, round(w * scale))))
