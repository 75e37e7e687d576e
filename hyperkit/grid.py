"""Patch grid geometry: run-time strides (eq. 2 of the paper, generalized).

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
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import checks


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
    size = checks.positive_int(size, "size")
    patch = checks.positive_int(patch, "patch")
    n = checks.positive_int(n, "n")
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
    mh = checks.positive_int(max_height, "max_height")
    mw = checks.positive_int(max_width, "max_width")
    ph, pw = checks.pair(patch, "patch")
    sh, sw = checks.pair(stride, "stride")
    if ph > mh or pw > mw:
        raise ValueError(f"patch {(ph, pw)} is larger than the image size {(mh, mw)}")
    return math.ceil((mh - ph) / sh) + 1, math.ceil((mw - pw) / sw) + 1


def grid_cells(heights: Sequence[int], widths: Sequence[int], patch: tuple[int, int],
               grid: tuple[int, int], first: int, count: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where grid patches first .. first+count-1 of a list of images lie.

    Patches are numbered image by image, then row u, then column v: patch
    p = (n * U + u) * V + v. Image n's rows start at grid_positions(heights[n], ph, U)
    and its columns at grid_positions(widths[n], pw, V).

    Returns:
        (index, ys, xs), int64 numpy arrays (count,): the image of each patch and the
        top row and left column of its ph x pw window, in pixels.
    """
    (ph, pw), (u, v) = patch, grid
    per_image = u * v
    p = np.arange(first, first + count, dtype=np.int64)
    index = p // per_image
    if count == 0:
        return index, index.copy(), index.copy()
    n0 = int(index[0])
    # Offsets of only the images this range touches: a chunk of a long list is cheap.
    touched = range(n0, int(index[-1]) + 1)
    rows = np.stack([grid_positions(int(heights[n]), ph, u) for n in touched])
    cols = np.stack([grid_positions(int(widths[n]), pw, v) for n in touched])
    return index, rows[index - n0, (p % per_image) // v], cols[index - n0, p % v]
