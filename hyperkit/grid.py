"""Patch grids with run-time strides (eq. 2 of the paper, generalized) and gathering.

The paper fixes the grid U x V for a data set and, for each image, picks strides
s = rnd((size - patch) / (n - 1)). Rounding the stride and stepping n - 1 times can
overrun the border (e.g. size 100, patch 32, n 4: s = rnd(22.67) = 23, last patch
at 69..100, one pixel outside) or fall short of it. We instead round each offset:

    offset_k = round(k * (size - patch) / (n - 1)),   k = 0 .. n-1

so the first patch starts at 0, the last ends exactly at the border, consecutive
steps differ by at most one pixel, and no patch leaves the image. When the strides
of eq. 2 are exact (TID2013: 384 x 512, patch 32, 23 x 31 grid, stride 16) both
agree. With n = 1 the single patch is centred.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from . import _arrays, _ext


def grid_positions(size: int, patch: int, n: int) -> np.ndarray:
    """Offsets of ``n`` patches of length ``patch`` spread over ``size`` pixels.

    Args:
        size: image length along the axis, in pixels.
        patch: patch length along the axis, in pixels (<= size).
        n: number of patches along the axis (>= 1).

    Returns:
        int64 numpy array (n,): the first offset is 0, the last is size - patch,
        steps differ by at most 1 (offsets repeat when n > size - patch + 1).
    """
    size = _arrays.positive_int(size, "size")
    patch = _arrays.positive_int(patch, "patch")
    n = _arrays.positive_int(n, "n")
    if patch > size:
        raise ValueError(f"patch ({patch}) is larger than size ({size})")
    span = size - patch
    if n == 1:
        return np.array([span // 2], dtype=np.int64)
    k = np.arange(n, dtype=np.int64)
    # round-half-up of k * span / (n - 1), in exact integer arithmetic
    return (2 * k * span + (n - 1)) // (2 * (n - 1))


def grid_shape(max_height: int, max_width: int, patch: Any, stride: Any) -> tuple[int, int]:
    """Grid (U, V) for a data set whose largest image is max_height x max_width.

    U = ceil((max_height - ph) / sh) + 1 patches cover the tallest image at the
    nominal stride sh with the last patch on the border (likewise V); smaller images
    get the same grid with smaller strides (:func:`grid_positions`). TID2013
    (384 x 512, patch 32, stride 16) gives (23, 31), as in Table 4.

    Args:
        max_height, max_width: largest image size in the data set, pixels.
        patch: patch size, an int or (ph, pw), pixels.
        stride: nominal stride, an int or (sh, sw), pixels.
    """
    mh = _arrays.positive_int(max_height, "max_height")
    mw = _arrays.positive_int(max_width, "max_width")
    ph, pw = _arrays.pair(patch, "patch")
    sh, sw = _arrays.pair(stride, "stride")
    if ph > mh or pw > mw:
        raise ValueError(f"patch {(ph, pw)} is larger than the image size {(mh, mw)}")
    return math.ceil((mh - ph) / sh) + 1, math.ceil((mw - pw) / sw) + 1


def _as_image_list(images: Any) -> tuple[list[Any], str]:
    """(list of (C, H, W) arrays, kind) from an (N, C, H, W) array or a list."""
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError("images is an empty list")
        kinds = {_arrays.kind(im, f"images[{i}]") for i, im in enumerate(images)}
        if len(kinds) > 1:
            raise TypeError(f"images mixes array types {sorted(kinds)}; use one kind")
        for i, im in enumerate(images):
            _arrays.check_rank(im, f"images[{i}]", min_ndim=3, max_ndim=3, layout="(C, H, W)")
        return list(images), kinds.pop()
    k = _arrays.kind(images, "images")
    _arrays.check_rank(images, "images", min_ndim=4, max_ndim=4, layout="(N, C, H, W)")
    return [images[i] for i in range(images.shape[0])], k


def _check_images(ims: list[Any], ph: int, pw: int) -> str:
    """Common dtype / channels / device and size >= patch; returns the dtype name."""
    dts = {_arrays.check_float(im, f"images[{i}]") for i, im in enumerate(ims)}
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


def _gather(ims: Sequence[Any], ph: int, pw: int, u: int, v: int, first: int, count: int):
    """Patches first .. first+count-1 of the U x V grids of C-contiguous (C, H, W) images."""
    like = ims[0]
    hs = np.array([im.shape[1] for im in ims], dtype=np.int64)
    ws = np.array([im.shape[2] for im in ims], dtype=np.int64)
    ys = np.stack([grid_positions(int(h), ph, u) for h in hs])
    xs = np.stack([grid_positions(int(w), pw, v) for w in ws])
    ptrs = np.array([_arrays.address(im) for im in ims], dtype=np.uint64)
    out = _arrays.empty(like, (count, like.shape[0], ph, pw))
    _ext.launch(like, "gather_patches", _arrays.dtype_name(like), ptrs.ctypes.data,
                hs.ctypes.data, ws.ctypes.data, like.shape[0], ph, pw, u, v,
                ys.ctypes.data, xs.ctypes.data, first, count, _arrays.address(out))
    return out


@torch.library.custom_op("hyperkit::gather_patches", mutates_args=(),
                         device_types=("cpu", "cuda"))
def _gather_op(images: list[Tensor], patch: list[int], grid: list[int], first: int,
               count: int) -> Tensor:
    ph, pw = _arrays.pair(list(patch), "patch")
    u, v = _arrays.pair(list(grid), "grid")
    _check_images(images, ph, pw)
    if first < 0 or count < 0 or first + count > len(images) * u * v:
        raise ValueError(f"patches {first}..{first + count - 1} are outside the "
                         f"{len(images)} x {u} x {v} grid")
    ims = [im.contiguous() for im in images]
    return _gather(ims, ph, pw, u, v, first, count)


@_gather_op.register_fake
def _(images, patch, grid, first, count):
    return images[0].new_empty((count, images[0].shape[0], patch[0], patch[1]))


def gather_range(images: list[Any], patch: tuple[int, int], grid: tuple[int, int],
                 first: int, count: int) -> Any:
    """Patches first .. first+count-1 (global order image, row u, column v) of the
    grids of a validated list of (C, H, W) float images; used to stream patches."""
    if isinstance(images[0], Tensor):
        return torch.ops.hyperkit.gather_patches(list(images), list(patch), list(grid),
                                                 first, count)
    ims = [_arrays.contiguous(im) for im in images]
    return _gather(ims, patch[0], patch[1], grid[0], grid[1], first, count)


def gather_patches(images: Any, patch: Any, grid: Any) -> Any:
    """Cuts a U x V grid of patches from every image in one kernel call.

    Args:
        images: float32/float64 (N, C, H, W) array, or a list of (C, H, W) arrays of
            possibly different sizes (one kind, dtype, channel count and device).
        patch: patch size, int or (ph, pw), pixels; no image may be smaller.
        grid: (U, V) patches per column and per row; each image uses
            :func:`grid_positions` along each axis.

    Returns:
        (N * U * V, C, ph, pw) of the caller's type, ordered image, then row u, then
        column v: patch (n, u, v) is image n at rows ys[u]:ys[u]+ph, columns
        xs[v]:xs[v]+pw with ys = grid_positions(H_n, ph, U), xs = grid_positions(W_n, pw, V).
    """
    ims, _ = _as_image_list(images)
    ph, pw = _arrays.pair(patch, "patch")
    u, v = _arrays.pair(grid, "grid")
    _check_images(ims, ph, pw)
    return gather_range(ims, (ph, pw), (u, v), 0, len(ims) * u * v)
