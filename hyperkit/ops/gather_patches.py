"""Patch gathering: cut ph x pw windows out of images in one kernel call.

The kernel copies patch q from image index[q] at rows ys[q].., columns xs[q]..; a
grid (:func:`hyperkit.grid.grid_cells`) and sampled positions fill the same table.
The torch op ``hyperkit::gather_patches`` is registered with torch.library (fake
kernel for torch.compile).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .. import checks, interop
from ..grid import grid_cells
from ..layout import split_images
from . import kernels


def _copy_dtype(im: Any, name: str) -> str:
    """The dtype name of an image the gather may copy: float32/float64 anywhere, float16
    on the CPU (the half-size prepared-image cache; a gather is a pure copy)."""
    if interop.dtype_name(im) == "float16" and not interop.is_cuda(im):
        return "float16"
    return checks.check_float(im, name)


def check_images(ims: Sequence[Any], ph: int, pw: int) -> str:
    """Common dtype / channels / device, rank 3 and size >= patch; returns the dtype name
    (float32 or float64; float16 for CPU images)."""
    if len(ims) == 0:
        raise ValueError("images is empty; give at least one (C, H, W) image")
    for i, im in enumerate(ims):
        checks.check_rank(im, f"images[{i}]", min_ndim=3, max_ndim=3, layout="(C, H, W)")
    dts = {_copy_dtype(im, f"images[{i}]") for i, im in enumerate(ims)}
    if len(dts) > 1:
        raise TypeError(f"images mixes dtypes {sorted(dts)}; use one")
    chans = {im.shape[0] for im in ims}
    if len(chans) > 1:
        raise ValueError(f"images have different channel counts {sorted(chans)}")
    devices = {str(getattr(im, "device", "cpu")) for im in ims}
    if len(devices) > 1:
        raise ValueError(f"images are on different devices {sorted(devices)}")
    for i, im in enumerate(ims):
        h, w = im.shape[1], im.shape[2]
        if h < ph or w < pw:
            raise ValueError(f"images[{i}] is {h}x{w}, smaller than the {ph}x{pw} patch")
    return dts.pop()


def _int64(a: Any, name: str) -> np.ndarray:
    arr = a.cpu().numpy() if isinstance(a, Tensor) else np.asarray(a)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


class ImageTable:
    """Images checked once, with the kernel's table of their addresses and sizes.

    One table serves every gather from the same images: stage-1 training draws a batch
    per step from one table (measured in bench/: 128 random patches cost less than
    slicing and stacking them in torch). Keeps the images alive. Every gather checks its
    positions, because the kernel trusts them.
    """

    def __init__(self, images: Sequence[Any], patch: tuple[int, int]) -> None:
        check_images(images, *patch)
        self.images = [interop.contiguous(im) for im in images]
        self.patch = tuple(patch)
        self.heights = np.array([im.shape[1] for im in self.images], dtype=np.int64)
        self.widths = np.array([im.shape[2] for im in self.images], dtype=np.int64)
        self.ptrs = np.array([interop.address(im) for im in self.images], dtype=np.uint64)

    def check_positions(self, index: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> None:
        """ValueError unless every ph x pw window lies inside its image."""
        (ph, pw), n = self.patch, len(self.images)
        if not (index.ndim == ys.ndim == xs.ndim == 1 and len(index) == len(ys) == len(xs)):
            raise ValueError("positions must be three 1-D integer arrays (index, ys, xs) of one "
                             f"length, got shapes {index.shape}, {ys.shape}, {xs.shape}")
        if len(index) == 0:
            return
        if index.min() < 0 or index.max() >= n:
            raise ValueError(f"positions: image index outside 0..{n - 1}")
        hs, ws = self.heights[index], self.widths[index]
        # ys > hs - ph rather than ys + ph > hs: the sum overflows int64 near 2**63
        bad = (ys < 0) | (xs < 0) | (ys > hs - ph) | (xs > ws - pw)
        if bad.any():
            q = int(np.flatnonzero(bad)[0])
            raise ValueError(f"positions: patch {q} at ({int(ys[q])}, {int(xs[q])}) of "
                             f"images[{int(index[q])}] ({int(hs[q])}x{int(ws[q])}) does not "
                             f"fit a {ph}x{pw} window")

    def gather(self, index: Any, ys: Any, xs: Any) -> Any:
        """(P, C, ph, pw) patches at integer positions (image index, top row, left column),
        of the images' kind and device."""
        index, ys, xs = _int64(index, "index"), _int64(ys, "ys"), _int64(xs, "xs")
        self.check_positions(index, ys, xs)
        (ph, pw), like = self.patch, self.images[0]
        out = interop.empty(like, (len(index), like.shape[0], ph, pw))
        kernels.launch(like, "gather_patches", interop.dtype_name(like), self.ptrs.ctypes.data,
                       self.heights.ctypes.data, self.widths.ctypes.data, len(self.images),
                       like.shape[0], ph, pw, index.ctypes.data, ys.ctypes.data,
                       xs.ctypes.data, len(index), interop.address(out))
        return out


@torch.library.custom_op("hyperkit::gather_patches", mutates_args=(),
                         device_types=("cpu", "cuda"))
def _gather_op(images: list[Tensor], patch: list[int], index: Tensor, ys: Tensor, xs: Tensor
               ) -> Tensor:
    return ImageTable(images, checks.pair(list(patch), "patch")).gather(index, ys, xs)


@_gather_op.register_fake
def _(images, patch, index, ys, xs):
    if len(images) == 0:
        raise ValueError("images is empty; give at least one (C, H, W) image")
    return images[0].new_empty((index.shape[0], images[0].shape[0], patch[0], patch[1]))


def gather_at(images: Sequence[Any], patch: tuple[int, int], index: Any, ys: Any,
              xs: Any) -> Any:
    """Patches at explicit positions of a list of (C, H, W) float images of one kind
    (torch through the registered op); images and positions are checked."""
    if isinstance(images[0], Tensor):
        index, ys, xs = _int64(index, "index"), _int64(ys, "ys"), _int64(xs, "xs")
        return torch.ops.hyperkit.gather_patches(
            list(images), list(patch), torch.from_numpy(index), torch.from_numpy(ys),
            torch.from_numpy(xs))
    return ImageTable(images, patch).gather(index, ys, xs)


def _channels_first(image: Any) -> Any:
    """One image in the ecosystem's layout as the kernel's C-contiguous (C, H, W)."""
    if image.ndim == 2:
        return image[None]
    if isinstance(image, np.ndarray):
        return np.ascontiguousarray(np.moveaxis(image, -1, 0))
    return image


def gather_patches(images: Any, patch: Any, grid: Any = None, *,
                   positions: tuple[Any, Any, Any] | None = None,
                   channel_axis: Any = "auto") -> Any:
    """Cuts patches from every image in one kernel call: a U x V grid, or given positions.

    Args:
        images: float32/float64 images by the rules of :mod:`hyperkit.images`: numpy
            (H, W) / (H, W, C) / (N, H, W, C), torch or cupy (C, H, W) / (N, C, H, W), or
            a list of single images of possibly different sizes (one kind, dtype,
            channel count and device). Values are copied as they are (no scaling).
        patch: patch size, int or (ph, pw), pixels; no image may be smaller.
        grid: (U, V) patches per column and per row; each image uses
            :func:`hyperkit.grid_positions` along each axis.
        positions: instead of a grid, (index, ys, xs): integer arrays (P,) naming the
            image of each patch and the top row and left column of its window (pixels);
            every window must lie inside its image.
        channel_axis: the channel axis where the shape reads two ways (a numpy
            (N, C, H, W) batch needs channel_axis=1); see
            :func:`hyperkit.layout.split_images`.

    Returns:
        (P, C, ph, pw) of the caller's type, channels first whatever the input layout
        (the layout CNNs take). For a grid P = N * U * V, ordered image,
        then row u, then column v: patch (n, u, v) is image n at rows ys[u]:ys[u]+ph,
        columns xs[v]:xs[v]+pw with ys = grid_positions(H_n, ph, U),
        xs = grid_positions(W_n, pw, V).

    Shape:
        N images (H_n, W_n) with C channels -> (N * U * V, C, ph, pw) for a grid,
        (P, C, ph, pw) for P given positions.

    Example:
        >>> import numpy as np, hyperkit
        >>> images = np.random.rand(2, 192, 256, 3).astype(np.float32)  # (N, H, W, C)
        >>> hyperkit.gather_patches(images, 32, grid=(11, 15)).shape
        (330, 3, 32, 32)
    """
    ims = [_channels_first(im) for im in split_images(images, channel_axis=channel_axis)]
    kinds = {interop.kind(im, f"images[{i}]") for i, im in enumerate(ims)}
    if len(kinds) > 1:
        raise TypeError(f"images mixes array types {sorted(kinds)}; use one kind")
    ph, pw = checks.pair(patch, "patch")
    check_images(ims, ph, pw)
    if (grid is None) == (positions is None):
        raise ValueError("give either grid=(U, V) or positions=(index, ys, xs)")
    if grid is not None:
        u, v = checks.pair(grid, "grid")
        positions = grid_cells([im.shape[1] for im in ims], [im.shape[2] for im in ims],
                               (ph, pw), (u, v), 0, len(ims) * u * v)
    elif not isinstance(positions, (tuple, list)) or len(positions) != 3:
        raise ValueError("positions must be a triple (index, ys, xs) of integer arrays")
    return gather_at(ims, (ph, pw), *positions)
