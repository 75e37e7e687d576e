"""Fused min+max pooling (the MaxPool / MinPool pair of Kang et al.'s stage 1, Table 5).

One read of the input gives both the window maximum and the window minimum. The
torch op ``hyperkit::minmax_pool2d`` is registered with torch.library (fake kernel
for torch.compile, autograd through ``hyperkit::minmax_pool2d_backward``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .. import checks, interop
from . import kernels


def _out_size(size: int, k: int, s: int) -> int:
    return (size - k) // s + 1


def _forward(x: Any, kh: int, kw: int, sh: int, sw: int, with_indices: bool):
    """Runs the kernel on a C-contiguous (N, C, H, W) float array."""
    n, c, h, w = x.shape
    shape = (n, c, _out_size(h, kh, sh), _out_size(w, kw, sw))
    mx, mn = interop.empty(x, shape), interop.empty(x, shape)
    # Without indices the op returns empty index arrays: inference skips their cost.
    idx_shape = shape if with_indices else (0,)
    imx, imn = interop.empty(x, idx_shape, "int64"), interop.empty(x, idx_shape, "int64")
    nan = kernels.launch(
        x, "minmax_pool2d", interop.dtype_name(x), interop.address(x),
        interop.address(mx), interop.address(mn),
        interop.address(imx) if with_indices else 0,  # 0: the kernel skips indices
        interop.address(imn) if with_indices else 0,
        n * c, h, w, kh, kw, sh, sw)
    if nan:
        raise ValueError("x contains NaN; min+max pooling has no winner for NaN windows")
    return mx, mn, imx, imn


@torch.library.custom_op("hyperkit::minmax_pool2d", mutates_args=(),
                         device_types=("cpu", "cuda"))
def _minmax_op(x: Tensor, kernel_size: list[int], stride: list[int], with_indices: bool
               ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    checks.check_float(x, "x")
    checks.check_rank(x, "x", min_ndim=4, max_ndim=4, layout="(N, C, H, W)")
    kh, kw, sh, sw = _window(x.shape, list(kernel_size), list(stride))
    return _forward(x.contiguous(), kh, kw, sh, sw, with_indices=with_indices)


@_minmax_op.register_fake
def _(x: Tensor, kernel_size: list[int], stride: list[int], with_indices: bool):
    n, c, h, w = x.shape
    shape = (n, c, _out_size(h, kernel_size[0], stride[0]),
             _out_size(w, kernel_size[1], stride[1]))
    vals = [x.new_empty(shape) for _ in range(2)]
    idx = [x.new_empty(shape if with_indices else (0,), dtype=torch.int64) for _ in range(2)]
    return vals[0], vals[1], idx[0], idx[1]


@torch.library.custom_op("hyperkit::minmax_pool2d_backward", mutates_args=(),
                         device_types=("cpu", "cuda"))
def _minmax_backward_op(grad_max: Tensor, grad_min: Tensor, idx_max: Tensor, idx_min: Tensor,
                        height: int, width: int, kernel_size: list[int], stride: list[int]
                        ) -> Tensor:
    gmx, gmn = grad_max.contiguous(), grad_min.contiguous()
    imx, imn = idx_max.contiguous(), idx_min.contiguous()
    _check_backward_args(gmx, gmn, imx, imn, height * width)
    _check_backward_window(gmx.shape, height, width, kernel_size, stride)
    n, c = gmx.shape[:2]
    grad_in = torch.empty((n, c, height, width), dtype=gmx.dtype, device=gmx.device)
    kernels.launch(gmx, "minmax_pool2d_backward", interop.dtype_name(gmx), gmx.data_ptr(),
                gmn.data_ptr(), imx.data_ptr(), imn.data_ptr(), grad_in.data_ptr(),
                n * c, height, width, *kernel_size, *stride)
    return grad_in


def _check_backward_window(grad_shape: Any, height: int, width: int, kernel_size: Any,
                           stride: Any) -> None:
    """The kernel takes each plane's output count from the window and stride: they must
    give exactly the grad's (OH, OW), or it would read past the grad."""
    for name, v in (("kernel_size", kernel_size), ("stride", stride)):
        if len(v) != 2 or any(isinstance(e, bool) or int(e) < 1 for e in v):
            raise ValueError(f"{name} must be two integers >= 1, got {list(v)}")
    if height < 1 or width < 1 or kernel_size[0] > height or kernel_size[1] > width:
        raise ValueError(f"kernel_size {list(kernel_size)} must fit the {height} x {width} "
                         "input")
    want = (_out_size(height, kernel_size[0], stride[0]),
            _out_size(width, kernel_size[1], stride[1]))
    if tuple(grad_shape[2:]) != want:
        raise ValueError(f"grad_max is {tuple(grad_shape)}, but a {height} x {width} input with "
                         f"kernel_size {list(kernel_size)} and stride {list(stride)} pools to "
                         f"(N, C, {want[0]}, {want[1]})")


def _check_backward_args(gmx: Tensor, gmn: Tensor, imx: Tensor, imn: Tensor, size: int) -> None:
    """The kernel writes at the saved indices: refuse anything that could overrun."""
    if gmx.dtype != gmn.dtype or gmx.dtype not in (torch.float32, torch.float64):
        raise TypeError("grad_max and grad_min must share one dtype, float32 or float64; got "
                        f"{gmx.dtype} and {gmn.dtype}")
    if len({t.device for t in (gmx, gmn, imx, imn)}) != 1:
        raise ValueError("grad_max, grad_min, idx_max and idx_min must be on one device")
    if imx.numel() == 0 and gmx.numel() != 0:
        raise RuntimeError("minmax_pool2d ran with with_indices=False, so it has no gradient; "
                           "call it with with_indices=True to differentiate it")
    if not (gmx.shape == gmn.shape == imx.shape == imn.shape) or gmx.dim() != 4:
        raise ValueError("grad_max, grad_min, idx_max and idx_min must share one (N, C, OH, OW) "
                         f"shape, got {[tuple(t.shape) for t in (gmx, gmn, imx, imn)]}")
    if imx.dtype != torch.int64 or imn.dtype != torch.int64:
        raise TypeError("idx_max and idx_min must be int64")
    for name, idx in (("idx_max", imx), ("idx_min", imn)):
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= size):
            raise ValueError(f"{name} holds positions outside the {size}-element input plane")


@_minmax_backward_op.register_fake
def _(grad_max, grad_min, idx_max, idx_min, height, width, kernel_size, stride):
    n, c = grad_max.shape[:2]
    return grad_max.new_empty((n, c, height, width))


def _setup_context(ctx, inputs, output) -> None:
    x, kernel_size, stride, _ = inputs
    _, _, idx_max, idx_min = output
    ctx.save_for_backward(idx_max, idx_min)
    ctx.height, ctx.width = x.shape[2], x.shape[3]
    ctx.kernel_size, ctx.stride = kernel_size, stride
    ctx.mark_non_differentiable(idx_max, idx_min)


def _backward(ctx, grad_max, grad_min, _gi1, _gi2):
    idx_max, idx_min = ctx.saved_tensors
    grad = torch.ops.hyperkit.minmax_pool2d_backward(
        grad_max, grad_min, idx_max, idx_min, ctx.height, ctx.width, ctx.kernel_size,
        ctx.stride)
    return grad, None, None, None


_minmax_op.register_autograd(_backward, setup_context=_setup_context)


def _window(x_shape, kernel_size: Any, stride: Any) -> tuple[int, int, int, int]:
    h, w = x_shape[2], x_shape[3]
    if kernel_size is None:
        if stride is not None:
            raise ValueError("stride needs a kernel_size (kernel_size=None is global pooling)")
        return h, w, h, w
    kh, kw = checks.pair(kernel_size, "kernel_size")
    sh, sw = (kh, kw) if stride is None else checks.pair(stride, "stride")
    if kh > h or kw > w:
        raise ValueError(f"kernel_size {(kh, kw)} is larger than the input's H x W {(h, w)}")
    return kh, kw, sh, sw


def minmax_pool2d(x: Any, kernel_size: Any = None, stride: Any = None) -> tuple[Any, Any]:
    """Window maximum and minimum of (N, C, H, W) in one pass.

    Args:
        x: float32/float64 array (N, C, H, W): numpy, torch (CPU/CUDA) or cupy.
        kernel_size: window (kh, kw) or an int; None pools globally over H x W
            (output (N, C, 1, 1)), Kang et al.'s 26x26 case.
        stride: (sh, sw) or an int; None means kernel_size (non-overlapping windows).

    Returns:
        (max, min), each (N, C, OH, OW) with OH = (H - kh) // sh + 1 as in
        torch's max_pool2d (no padding), same type, dtype and device as x. For torch
        tensors the op is differentiable: each output's gradient goes to the single
        input position that won, the first in row-major order on ties.

    Shape:
        x (N, C, H, W) -> max and min, each (N, C, (H - kh) // sh + 1, (W - kw) // sw + 1).

    Example:
        >>> import torch, hyperkit
        >>> mx, mn = hyperkit.minmax_pool2d(torch.rand(4, 50, 26, 26))  # global: Kang's pooling
        >>> mx.shape, mn.shape
        (torch.Size([4, 50, 1, 1]), torch.Size([4, 50, 1, 1]))

    Raises:
        TypeError / ValueError: wrong type, dtype, rank, empty dimension, NaN, or a
            window larger than the input.
    """
    k = interop.kind(x, "x")
    checks.check_float(x, "x")
    checks.check_rank(x, "x", min_ndim=4, max_ndim=4, layout="(N, C, H, W)")
    kh, kw, sh, sw = _window(x.shape, kernel_size, stride)
    if k == "torch":
        # indices (for backward) only when autograd will need them
        need = x.requires_grad and torch.is_grad_enabled()
        mx, mn, _, _ = torch.ops.hyperkit.minmax_pool2d(x, [kh, kw], [sh, sw], need)
        return mx, mn
    mx, mn, _, _ = _forward(interop.contiguous(x), kh, kw, sh, sw, with_indices=False)
    return mx, mn


class MinMaxPool2d(nn.Module):
    """Module form of :func:`minmax_pool2d`: (N, C, H, W) -> ((N, C, OH, OW), (N, C, OH, OW)).

    With ``concat=True`` the output is one tensor (N, 2C, OH, OW) holding the minima
    then the maxima, the 'Concat(MinPool, MaxPool)' layer of Table 5.
    """

    def __init__(self, kernel_size: Any = None, stride: Any = None, concat: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.concat = kernel_size, stride, concat

    def forward(self, x: Tensor):
        mx, mn = minmax_pool2d(x, self.kernel_size, self.stride)
        return torch.cat([mn, mx], dim=1) if self.concat else (mx, mn)

    def extra_repr(self) -> str:
        k = "global" if self.kernel_size is None else self.kernel_size
        return f"kernel_size={k}, stride={self.stride}, concat={self.concat}"
