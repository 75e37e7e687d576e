"""Convolution followed by global min+max pooling, with a backward that touches only the winners.

Kang et al.'s stage 1 convolves each 32 x 32 patch ('valid' 7 x 7, 50 kernels) and keeps,
per kernel, only the map's maximum and minimum. The gradient of those two numbers with
respect to the kernel's weights is the input window under the winning position, so the
weight gradient is a weighted sum of 2 x K input windows per patch (2 x 50 x 147
multiply-adds) instead of a full backward convolution over the 26 x 26 map (50 x 26 x 26
x 147). Measured on a 2-core AMD EPYC (bench/RESULTS.md "train-speed"): the backward of
the first layer fell from ~5 ms to ~1.3 ms per 128 RGB patches, and that layer was 40 %
of a training step. The forward is the same convolution and the same min+max kernel as
``conv2d`` followed by :func:`hyperkit.minmax_pool2d`, so values are bitwise identical;
gradients equal the dense route's up to float summation order.

The torch op ``hyperkit::conv_minmax`` is registered with torch.library (fake kernel for
torch.compile, autograd through the winner windows).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import checks
from ..devices import autocast_dtype
from .minmax_pool2d import _forward as _minmax_forward

LOW_PRECISION = (torch.bfloat16, torch.float16)


def _map(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """The 'valid' stride-1 convolution map (N, K, H - kh + 1, W - kw + 1), float32 or
    float64: a bfloat16/float16 input convolves in its own dtype (oneDNN's native bf16 on
    CPUs that have it), and the map is widened for the min+max kernel."""
    # Autocast would still apply in here (a custom op is not cast for, but its body is):
    # the caller's dtype decides, so that the map matches the fake kernel's dtype.
    with torch.autocast(x.device.type, enabled=False):
        if x.dtype in LOW_PRECISION:
            fmap = F.conv2d(x, weight.to(x.dtype), None if bias is None else bias.to(x.dtype))
            return fmap.float()
        return F.conv2d(x, weight, bias)


def _check(x: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    if not isinstance(x, Tensor) or x.dtype not in (torch.float32, torch.float64, *LOW_PRECISION):
        raise TypeError("x must be a float32/float64/bfloat16/float16 torch tensor, got "
                        f"{getattr(x, 'dtype', type(x).__name__)}")
    checks.check_rank(x, "x", min_ndim=4, max_ndim=4, layout="(N, C, H, W)")
    if not isinstance(weight, Tensor) or weight.ndim != 4 or weight.shape[1] != x.shape[1] \
            or min(weight.shape) < 1:
        got = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
        raise ValueError(f"weight must be (K, {x.shape[1]}, kh, kw) with K, kh, kw >= 1 for x "
                         f"with {x.shape[1]} channels, got {got}")
    if weight.shape[2] > x.shape[2] or weight.shape[3] > x.shape[3]:
        raise ValueError(f"weight's {tuple(weight.shape[2:])} window is larger than x's "
                         f"H x W {tuple(x.shape[2:])}")
    want = torch.float32 if x.dtype in LOW_PRECISION else x.dtype
    if weight.dtype != want:
        raise TypeError(f"weight must be {want} for {x.dtype} x, got {weight.dtype}")
    if bias is not None:
        if not isinstance(bias, Tensor) or bias.ndim != 1 or bias.shape[0] != weight.shape[0]:
            got = tuple(bias.shape) if isinstance(bias, Tensor) else type(bias).__name__
            raise ValueError(f"bias must be a ({weight.shape[0]},) tensor or None, got {got}")
        if bias.dtype != weight.dtype:
            raise TypeError(f"bias must be {weight.dtype} like weight, got {bias.dtype}")
    if len({t.device for t in (x, weight, bias) if t is not None}) != 1:
        raise ValueError("x, weight and bias must be on one device")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x must not be empty, got {tuple(x.shape)}")


@torch.library.custom_op("hyperkit::conv_minmax", mutates_args=(), device_types=("cpu", "cuda"))
def _conv_minmax_op(x: Tensor, weight: Tensor, bias: Tensor | None, with_indices: bool
                    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    _check(x, weight, bias)
    fmap = _map(x, weight, bias).contiguous()
    h, w = fmap.shape[2:]
    try:
        mx, mn, imx, imn = _minmax_forward(fmap, h, w, h, w, with_indices)
    except ValueError as e:
        raise ValueError("the convolution of x contains NaN (NaN or Inf in x, weight or "
                         "bias); min+max pooling has no winner there") from e
    n, k = fmap.shape[:2]
    idx = (imx.view(n, k), imn.view(n, k)) if with_indices else (imx, imn)
    return mx.view(n, k), mn.view(n, k), idx[0], idx[1]


@_conv_minmax_op.register_fake
def _(x: Tensor, weight: Tensor, bias: Tensor | None, with_indices: bool):
    n, k = x.shape[0], weight.shape[0]
    dt = torch.float32 if x.dtype in LOW_PRECISION else x.dtype
    vals = [x.new_empty((n, k), dtype=dt) for _ in range(2)]
    idx = [x.new_empty((n, k) if with_indices else (0,), dtype=torch.int64) for _ in range(2)]
    return vals[0], vals[1], idx[0], idx[1]


def winner_windows(x: Tensor, idx: Tensor, kh: int, kw: int) -> Tensor:
    """The input windows under map positions: x (N, C, H, W), idx (N, M) flat positions
    in the (H - kh + 1) x (W - kw + 1) 'valid' map -> (N, M, C * kh * kw), in x's dtype.

    One ``gather`` over flat offsets (window top-left + the window's fixed offsets): on
    CPU it beat ``unfold`` + advanced indexing 1.3 ms to 2.5 ms for 128 x 100 windows."""
    h, w = x.shape[2:]
    map_width = w - kw + 1
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= (h - kh + 1) * map_width):
        raise ValueError(f"idx holds positions outside the {h - kh + 1} x {map_width} map")
    return _windows(x, idx, kh, kw)


def _windows(x: Tensor, idx: Tensor, kh: int, kw: int) -> Tensor:
    """:func:`winner_windows` without the range check (the backward's indices come from
    the forward; a data-dependent check would also stop torch.compile tracing it)."""
    n, c, h, w = x.shape
    map_width = w - kw + 1
    top_left = (idx // map_width) * w + idx % map_width
    dev = x.device
    offsets = (torch.arange(c, device=dev)[:, None, None] * (h * w)
               + torch.arange(kh, device=dev)[None, :, None] * w
               + torch.arange(kw, device=dev)[None, None, :]).view(-1)
    flat = x.reshape(n, 1, c * h * w).expand(n, idx.shape[1], c * h * w)
    return flat.gather(2, top_left[..., None] + offsets)


def _setup_context(ctx, inputs, output) -> None:
    x, weight, bias, _ = inputs
    _, _, idx_max, idx_min = output
    ctx.save_for_backward(x, weight, idx_max, idx_min)
    ctx.has_bias = bias is not None
    ctx.bias_dtype = None if bias is None else bias.dtype
    ctx.mark_non_differentiable(idx_max, idx_min)


def _backward(ctx, grad_max, grad_min, _gi1, _gi2):
    x, weight, idx_max, idx_min = ctx.saved_tensors
    if idx_max.numel() == 0 and grad_max.numel() != 0 and (
            ctx.needs_input_grad[0] or ctx.needs_input_grad[1]):  # the bias needs no winner
        raise RuntimeError("conv_minmax ran with with_indices=False, so it has no gradient; "
                           "call it with with_indices=True to differentiate it")
    k, c, kh, kw = weight.shape
    n, _, h, w = x.shape
    mh, mw = h - kh + 1, w - kw + 1
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32  # accumulation dtype
    g = torch.stack([grad_max, grad_min], 1).to(acc)  # (N, 2, K)
    idx = torch.stack([idx_max, idx_min], 1)  # (N, 2, K)
    grad_x = grad_w = grad_b = None
    if ctx.needs_input_grad[1]:
        win = _windows(x, idx.view(n, 2 * k), kh, kw).to(acc)  # (N, 2K, C*kh*kw)
        grad_w = torch.einsum("nk,nkj->kj", g.view(n, 2 * k), win).view(2, k, -1).sum(0)
        grad_w = grad_w.view(k, c, kh, kw).to(weight.dtype)
    if ctx.has_bias and ctx.needs_input_grad[2]:
        grad_b = g.sum((0, 1)).to(ctx.bias_dtype)
    if ctx.needs_input_grad[0]:
        # Rarely needed (stage 1's input is data): scatter into the dense map and run the
        # transposed convolution.
        gmap = torch.zeros((n, k, mh * mw), dtype=acc, device=x.device)
        gmap.scatter_add_(2, idx.permute(0, 2, 1), g.permute(0, 2, 1))
        grad_x = torch.nn.grad.conv2d_input(x.shape, weight.to(acc), gmap.view(n, k, mh, mw))
        grad_x = grad_x.to(x.dtype)
    return grad_x, grad_w, grad_b, None


_conv_minmax_op.register_autograd(_backward, setup_context=_setup_context)


def conv_minmax(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Per-kernel maximum and minimum of a 'valid' stride-1 convolution over the whole map.

    The same numbers as ``hyperkit.minmax_pool2d(torch.nn.functional.conv2d(x, weight,
    bias))`` (global pooling), without the (N, K, H', W') map in autograd's memory and
    with a backward that gathers only the winners' input windows (see the module
    docstring for the measured cost).

    Args:
        x: torch tensor (N, C, H, W), float32/float64 (CPU or CUDA); bfloat16/float16
            convolve in that dtype (the map is widened to float32 before pooling), and so
            does a float32 x under a bfloat16/float16 ``torch.autocast``.
        weight: (K, C, kh, kw), kh <= H and kw <= W.
        bias: (K,) or None.

    Returns:
        (max, min), each (N, K), float32 for low-precision x, else x's dtype.
        Differentiable in x, weight and bias; each output's gradient goes to the single
        map position that won (the first in row-major order on ties).

    Shape:
        x (N, C, H, W), weight (K, C, kh, kw) -> max and min, each (N, K).

    Example:
        >>> import torch, hyperkit
        >>> x, w = torch.rand(8, 3, 32, 32), torch.rand(50, 3, 7, 7)
        >>> mx, mn = hyperkit.ops.conv_minmax(x, w)
        >>> mx.shape, bool((mx >= mn).all())
        (torch.Size([8, 50]), True)

    Raises:
        TypeError / ValueError: x not a float tensor, wrong ranks or channel counts, a
            kernel larger than x, an empty batch, or NaN in the map.
    """
    low = autocast_dtype(x) if isinstance(x, Tensor) else None
    if low is not None and x.dtype == torch.float32:
        x = x.to(low)  # autocast casts no custom op's inputs: convolve in its dtype
    _check(x, weight, bias)
    need = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, weight, bias))
    mx, mn, _, _ = torch.ops.hyperkit.conv_minmax(x, weight, bias, need)
    return mx, mn
