"""Convolution of whole images followed by min+max pooling of every grid patch, trainable.

Kang et al.'s stage 1 on a grid of overlapping patches (the shared route of
:func:`hyperkit.build_hyperimage`, now differentiable for training): conv1 runs once over
each whole image and :func:`hyperkit.grid_minmax_pool` takes each patch's map window, so
patches that overlap share their convolution instead of repeating it. At the NR-IQA
stride of half a patch a 32 x 32 patch then costs about 2.1 M multiply-adds of conv1
instead of 5.0 M. The backward is that of :func:`hyperkit.ops.conv_minmax`: each pooled
value's weight gradient is the input window under its winning map position, so only
2 x K windows per patch are gathered; no backward convolution over the map runs.

Values equal :func:`hyperkit.ops.conv_minmax` of the gathered patches up to float
summation order (the convolution of a whole image and of a patch are different oneDNN
calls); they equal ``grid_minmax_pool(conv2d(images))`` bit for bit.

The torch op ``hyperkit::conv_grid_minmax`` is registered with torch.library (fake
kernel for torch.compile, autograd through the winner windows; no gradient flows to the
images: stage 1's input is data).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .. import checks
from ..devices import autocast_dtype
from . import grid_minmax_pool as _registers_op  # noqa: F401  (hyperkit::grid_minmax_pool)
from .conv_minmax import LOW_PRECISION, _map, _windows


@torch.library.custom_op("hyperkit::conv_grid_minmax", mutates_args=(),
                         device_types=("cpu", "cuda"))
def _conv_grid_op(x: Tensor, weight: Tensor, bias: Tensor | None, window: int,
                  rows: list[int], cols: list[int]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    if x.device.type == "cpu":  # oneDNN's channels-last convolution is the fast one here,
        x = x.contiguous(memory_format=torch.channels_last)  # and the pooling reads it in place
    fmap = _map(x, weight, bias)
    mx, mn, imx, imn = torch.ops.hyperkit.grid_minmax_pool(fmap, [window, window], rows, cols,
                                                           True)
    return mx.contiguous(), mn.contiguous(), imx.contiguous(), imn.contiguous()


@_conv_grid_op.register_fake
def _(x, weight, bias, window, rows, cols):
    shape = (x.shape[0], weight.shape[0], len(rows), len(cols))
    dtype = torch.float32 if x.dtype in LOW_PRECISION else x.dtype
    return (x.new_empty(shape, dtype=dtype), x.new_empty(shape, dtype=dtype),
            x.new_empty(shape, dtype=torch.int64), x.new_empty(shape, dtype=torch.int64))


def _setup_context(ctx, inputs, output) -> None:
    x, weight, bias, _, _, _ = inputs
    _, _, imx, imn = output
    ctx.save_for_backward(x, imx, imn)
    ctx.shape, ctx.weight_dtype = weight.shape, weight.dtype
    ctx.bias_dtype = None if bias is None else bias.dtype
    ctx.mark_non_differentiable(imx, imn)


def _backward(ctx, grad_max, grad_min, _gi1, _gi2):
    x, imx, imn = ctx.saved_tensors
    k, c, kh, kw = ctx.shape
    n = x.shape[0]
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    # (N, K, 2 U V): per kernel, the gradients of its max and min in every cell
    g = torch.cat([grad_max.reshape(n, k, -1), grad_min.reshape(n, k, -1)], 2).to(acc)
    idx = torch.cat([imx.reshape(n, k, -1), imn.reshape(n, k, -1)], 2)
    grad_w = grad_b = None
    if ctx.needs_input_grad[1]:
        win = _windows(x, idx.reshape(n, -1), kh, kw).to(acc)  # (N, K 2UV, C kh kw)
        grad_w = torch.einsum("nkm,nkmj->kj", g, win.view(n, k, -1, c * kh * kw))
        grad_w = grad_w.view(k, c, kh, kw).to(ctx.weight_dtype)
    if ctx.bias_dtype is not None and ctx.needs_input_grad[2]:
        grad_b = g.sum((0, 2)).to(ctx.bias_dtype)
    return None, grad_w, grad_b, None, None, None


_conv_grid_op.register_autograd(_backward, setup_context=_setup_context)


def conv_grid_minmax(images: Tensor, weight: Tensor, bias: Tensor | None, patch: int,
                     rows: Any, cols: Any) -> tuple[Tensor, Tensor]:
    """Per-kernel max and min of the 'valid' convolution of every grid patch, from one
    convolution of each whole image.

    Args:
        images: (N, C, H, W) float32/float64 torch tensor (CPU or CUDA); no gradient
            flows to it. Under a bfloat16/float16 ``torch.autocast`` float32 images
            convolve in that dtype (the map is widened to float32 before pooling).
        weight: (K, C, k, k) square kernels with k <= patch, float32 (float64 for
            float64 images); bias: (K,) or None.
        patch: the square patch side (Kang's 32).
        rows: (U,) patch top rows, ints in [0, H - patch]; cols: (V,) left columns.

    Returns:
        (max, min), each (N, K, U, V) float32 (float64 for float64 images): cell
            (u, v) is ``conv_minmax`` of the patch ``images[:, :, rows[u]:rows[u] +
            patch, cols[v]:cols[v] + patch]`` (up to float summation order).
            Differentiable in weight and bias.

    Raises:
        TypeError / ValueError: non-float images, wrong ranks or channel counts, a
            kernel larger than the patch, a patch larger than the images, offsets
            outside the images, or NaN in the map.
    """
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch tensor, got {type(images).__name__}")
    checks.check_float(images, "images")
    checks.check_rank(images, "images", min_ndim=4, max_ndim=4, layout="(N, C, H, W)")
    if weight.ndim != 4 or weight.shape[1] != images.shape[1] or weight.shape[2] != weight.shape[3]:
        raise ValueError(f"weight must be (K, {images.shape[1]}, k, k) for images with "
                         f"{images.shape[1]} channels, got {tuple(weight.shape)}")
    if weight.dtype != images.dtype:
        raise TypeError(f"weight must be {images.dtype} like images, got {weight.dtype}")
    if not weight.shape[2] <= patch <= min(images.shape[2], images.shape[3]):
        raise ValueError(f"patch must be at least the kernel's {weight.shape[2]} and at most "
                         f"the images' {images.shape[2]} x {images.shape[3]}, got {patch}")
    window = patch - weight.shape[2] + 1  # the map window a patch convolves to
    x = images.detach()
    low = autocast_dtype(x)
    if low is not None and x.dtype == torch.float32:
        x = x.to(low)  # autocast casts no custom op's inputs: convolve in its dtype
    mx, mn, _, _ = torch.ops.hyperkit.conv_grid_minmax(
        x, weight, bias, window, [int(r) for r in rows], [int(c) for c in cols])
    return mx, mn
