"""Min+max pooling over windows placed on a patch grid (the shared route of stage 1).

Kang et al.'s stage 1 convolves each 32x32 patch ('valid' 7x7, 26x26 map) and takes
the map's global max and min. Convolution commutes with translation, so the same
numbers come from convolving the whole image once and pooling 26x26 windows of that
map at the patches' grid offsets; this op does the pooling. Offsets of a map of
height H with windows of kh rows follow :func:`hyperkit.grid_positions` (H, kh, U):
for a map from a 'valid' k x k convolution of an image of height H + k - 1 and
patches of kh + k - 1 rows, H - kh equals (image height - patch height), so the map's
windows start exactly where the image's patches do (eq. 2).

The torch op ``hyperkit::grid_minmax_pool`` is registered with torch.library (fake
kernel for torch.compile, autograd through ``hyperkit::grid_minmax_pool_backward``:
each output's gradient goes to its window's first winner, as in
:func:`hyperkit.minmax_pool2d`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from .. import checks, interop
from ..grid import grid_positions
from . import kernels
from .minmax_pool2d import _check_backward_args  # the same guards as minmax_pool2d


def _channels_last(x: Any) -> bool:
    """True for a CPU torch map stored channels-last (N, H, W, C) and not also plain
    contiguous: the kernel reads it in place (torch's channels-last convolution is
    several times faster than its contiguous one on CPU, and a layout copy of the map
    would cost more than the pooling)."""
    return (isinstance(x, Tensor) and x.device.type == "cpu" and not x.is_contiguous()
            and x.is_contiguous(memory_format=torch.channels_last))


def _forward(x: Any, kh: int, kw: int, rows: np.ndarray, cols: np.ndarray,
             with_indices: bool):
    """Runs the kernel on a C-contiguous or (CPU torch) channels-last (N, C, H, W)
    float array; rows/cols int64 numpy arrays already checked against the map.
    Outputs (N, C, U, V) in x's layout."""
    n, c, h, w = x.shape
    nu, nv = len(rows), len(cols)
    nhwc = _channels_last(x)
    shape = (n, nu, nv, c) if nhwc else (n, c, nu, nv)
    mx, mn = interop.empty(x, shape), interop.empty(x, shape)
    # Without indices the op returns empty index arrays: inference skips their cost.
    idx_shape = shape if with_indices else (0,)
    imx, imn = interop.empty(x, idx_shape, "int64"), interop.empty(x, idx_shape, "int64")
    addr = [interop.address(t) for t in (x, mx, mn)] + [
        interop.address(t) if with_indices else 0 for t in (imx, imn)]  # 0: no indices
    if nhwc:
        nan = kernels.cpu.grid_minmax_pool_nhwc(interop.dtype_name(x), *addr, n, h, w, c, kh,
                                                kw, rows.ctypes.data, nu, cols.ctypes.data, nv)
        mx, mn = mx.permute(0, 3, 1, 2), mn.permute(0, 3, 1, 2)
        if with_indices:
            imx, imn = imx.permute(0, 3, 1, 2), imn.permute(0, 3, 1, 2)
    else:
        nan = kernels.launch(x, "grid_minmax_pool", interop.dtype_name(x), *addr, n * c, h, w,
                             kh, kw, rows.ctypes.data, nu, cols.ctypes.data, nv)
    if nan:
        raise ValueError("fmap contains NaN inside a window; min+max pooling has no winner "
                         "there")
    return mx, mn, imx, imn


def _offsets(values: Any, name: str, size: int, window: int) -> np.ndarray:
    """Window offsets as a C-contiguous int64 numpy array, each in [0, size - window]."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of offsets, got shape "
                         f"{arr.shape}")
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind != "f" or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise TypeError(f"{name} must hold integer offsets, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if int(arr.min()) < 0 or int(arr.max()) > size - window:
        raise ValueError(f"{name} must lie in [0, {size - window}] so that a window of "
                         f"{window} fits in {size}; got {int(arr.min())} .. {int(arr.max())}")
    return arr


def grid_offsets(height: int, width: int, window: Any, grid: Any = None, *,
                 positions: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows (U,), cols (V,)) int64 window offsets in a height x width map, from
    ``grid`` (U, V) via :func:`hyperkit.grid_positions` or explicit ``positions``."""
    kh, kw = checks.pair(window, "window")
    if kh > height or kw > width:
        raise ValueError(f"window {(kh, kw)} is larger than the map's H x W {(height, width)}")
    if (grid is None) == (positions is None):
        raise ValueError("give grid=(U, V) or positions=(rows, cols), exactly one")
    if grid is not None:
        u, v = checks.pair(grid, "grid")
        return grid_positions(height, kh, u), grid_positions(width, kw, v)
    if not isinstance(positions, (tuple, list)) or len(positions) != 2:
        raise ValueError("positions must be (rows, cols): the windows' top rows and left "
                         "columns")
    return (_offsets(positions[0], "positions[0] (rows)", height, kh),
            _offsets(positions[1], "positions[1] (cols)", width, kw))


@torch.library.custom_op("hyperkit::grid_minmax_pool", mutates_args=(),
                         device_types=("cpu", "cuda"))
def _grid_op(x: Tensor, window: list[int], rows: list[int], cols: list[int],
             with_indices: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    checks.check_float(x, "x")
    checks.check_rank(x, "x", min_ndim=4, max_ndim=4, layout="(N, C, H, W)")
    r, c = grid_offsets(x.shape[2], x.shape[3], list(window), positions=(rows, cols))
    if not _channels_last(x):
        x = x.contiguous()
    return _forward(x, window[0], window[1], r, c, with_indices)


@_grid_op.register_fake
def _(x: Tensor, window: list[int], rows: list[int], cols: list[int], with_indices: bool):
    shape = (x.shape[0], x.shape[1], len(rows), len(cols))
    fmt = torch.channels_last if _channels_last(x) else torch.contiguous_format
    vals = [torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=fmt)
            for _ in range(2)]
    idx = [torch.empty(shape, dtype=torch.int64, device=x.device, memory_format=fmt)
           if with_indices else x.new_empty((0,), dtype=torch.int64) for _ in range(2)]
    return vals[0], vals[1], idx[0], idx[1]


@torch.library.custom_op("hyperkit::grid_minmax_pool_backward", mutates_args=(),
                         device_types=("cpu", "cuda"))
def _grid_backward_op(grad_max: Tensor, grad_min: Tensor, idx_max: Tensor, idx_min: Tensor,
                      height: int, width: int, window: list[int], rows: list[int],
                      cols: list[int]) -> Tensor:
    gmx, gmn = grad_max.contiguous(), grad_min.contiguous()
    imx, imn = idx_max.contiguous(), idx_min.contiguous()
    _check_backward_args(gmx, gmn, imx, imn, height * width)
    r, c = grid_offsets(height, width, list(window), positions=(rows, cols))
    if tuple(gmx.shape[2:]) != (len(r), len(c)):
        raise ValueError(f"grad_max is {tuple(gmx.shape)}, not (N, C, {len(r)}, {len(c)}) for "
                         "this grid")
    n, ch = gmx.shape[:2]
    grad_in = torch.empty((n, ch, height, width), dtype=gmx.dtype, device=gmx.device)
    kernels.launch(gmx, "grid_minmax_pool_backward", interop.dtype_name(gmx), gmx.data_ptr(),
                   gmn.data_ptr(), imx.data_ptr(), imn.data_ptr(), grad_in.data_ptr(),
                   n * ch, height, width, window[0], window[1], r.ctypes.data, len(r),
                   c.ctypes.data, len(c))
    return grad_in


@_grid_backward_op.register_fake
def _(grad_max, grad_min, idx_max, idx_min, height, width, window, rows, cols):
    n, c = grad_max.shape[:2]
    return grad_max.new_empty((n, c, height, width))


def _setup_context(ctx, inputs, output) -> None:
    x, window, rows, cols, _ = inputs
    _, _, idx_max, idx_min = output
    ctx.save_for_backward(idx_max, idx_min)
    ctx.height, ctx.width = x.shape[2], x.shape[3]
    ctx.window, ctx.rows, ctx.cols = window, rows, cols
    ctx.mark_non_differentiable(idx_max, idx_min)


def _backward(ctx, grad_max, grad_min, _gi1, _gi2):
    idx_max, idx_min = ctx.saved_tensors
    grad = torch.ops.hyperkit.grid_minmax_pool_backward(
        grad_max, grad_min, idx_max, idx_min, ctx.height, ctx.width, ctx.window, ctx.rows,
        ctx.cols)
    return grad, None, None, None, None


_grid_op.register_autograd(_backward, setup_context=_setup_context)


def grid_minmax_pool(fmap: Any, window: Any, grid: Any = None, *,
                     positions: Any = None) -> tuple[Any, Any]:
    """Max and min of kh x kw windows of a map, one window per grid cell.

    Window (u, v) covers rows rows[u] .. rows[u] + kh - 1 and columns
    cols[v] .. cols[v] + kw - 1 of each (H, W) plane. With ``grid=(U, V)``,
    rows = grid_positions(H, kh, U) and cols = grid_positions(W, kw, V): the first
    window at 0, the last ending at the border, as patches on an image (eq. 2). For a
    map from a 'valid' k x k convolution of an image, with window = patch - k + 1,
    these are the image's patch offsets, so window (u, v) of the map is exactly the
    convolution of patch (u, v).

    Args:
        fmap: float32/float64 array (N, C, H, W): numpy, torch (CPU/CUDA) or cupy.
        window: (kh, kw) or an int, at most (H, W).
        grid: (U, V) windows per column and per row.
        positions: instead of grid, explicit (rows (U,), cols (V,)) integer offsets,
            each in [0, H - kh] / [0, W - kw], any order, repeats allowed.

    Returns:
        (max, min), each (N, C, U, V), same type, dtype and device as fmap (a CPU
        tensor stored channels-last is read in place and gives channels-last outputs,
        so that a channels-last convolution needs no layout copy). For torch
        tensors the op is differentiable: each output's gradient goes to the single
        position that won, the first in row-major order on ties.

    Shape:
        fmap (N, C, H, W) -> max and min, each (N, C, U, V): one window per grid cell.

    Example:
        >>> import torch, hyperkit
        >>> mx, mn = hyperkit.grid_minmax_pool(torch.rand(2, 50, 186, 250), 26, grid=(11, 15))
        >>> mx.shape
        torch.Size([2, 50, 11, 15])

    Raises:
        TypeError / ValueError: wrong type, dtype, rank, empty dimension, a window
            larger than the map, a bad grid or offsets, or NaN inside a window.
    """
    k = interop.kind(fmap, "fmap")
    checks.check_float(fmap, "fmap")
    checks.check_rank(fmap, "fmap", min_ndim=4, max_ndim=4, layout="(N, C, H, W)")
    kh, kw = checks.pair(window, "window")
    rows, cols = grid_offsets(fmap.shape[2], fmap.shape[3], (kh, kw), grid,
                              positions=positions)
    if k == "torch":
        # indices (for backward) only when autograd will need them
        need = fmap.requires_grad and torch.is_grad_enabled()
        mx, mn, _, _ = torch.ops.hyperkit.grid_minmax_pool(fmap, [kh, kw], rows.tolist(),
                                                           cols.tolist(), need)
        return mx, mn
    mx, mn, _, _ = _forward(interop.contiguous(fmap), kh, kw, rows, cols, with_indices=False)
    return mx, mn
