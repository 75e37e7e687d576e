"""Local contrast normalization (eq. 4 of the paper; Mittal et al. 2012, BRISQUE).

    I_hat(i, j) = (I(i, j) - mu(i, j)) / (sigma(i, j) + eps)
    mu          = sum_{k,l=-r..r} w_kl I(i+k, j+l)
    sigma       = sqrt(sum_{k,l} w_kl (I(i+k, j+l) - mu(i, j))^2)

w is a circularly symmetric Gaussian with standard deviation ``sigma`` pixels,
truncated to a (2r+1) x (2r+1) window and normalized to sum 1. The defaults are
BRISQUE's: r = 3 (the window spans 3 standard deviations each side: 7 / 6 * 3 = 3.5),
sigma = 7/6, and C = 1 on the 0-255 scale, which is eps = 1/255 for images in [0, 1].
Borders replicate the edge pixel.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from .. import checks, interop
from . import kernels


def _check_params(radius: Any, sigma: Any, eps: Any) -> tuple[int, float, float]:
    r = checks.positive_int(radius, "radius", minimum=0)
    for name, v in (("sigma", sigma), ("eps", eps)):
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise TypeError(f"{name} must be a number, got {type(v).__name__}")
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must be finite and > 0, got {v}")
    # The kernel's weights are exp(-k^2 / (2 sigma^2)): below ~1e-150, sigma^2 underflows
    # to 0 and the weights become NaN (0/0), which the kernel would report as NaN pixels.
    if float(sigma) ** 2 == 0 or not math.isfinite(1 / (2 * float(sigma) ** 2)):
        raise ValueError(f"sigma must be at least 1e-150 (its square must not underflow), "
                         f"got {sigma}")
    return r, float(sigma), float(eps)


def _run(x: Any, radius: int, sigma: float, eps: float) -> Any:
    """Runs the kernel on a C-contiguous float array, returns a new array."""
    out = interop.empty(x, x.shape)
    h, w = x.shape[-2], x.shape[-1]
    planes = math.prod(x.shape[:-2])
    bad = kernels.launch(x, "lcn", interop.dtype_name(x), interop.address(x),
                      interop.address(out), planes, h, w, radius, sigma, eps)
    if bad:
        raise ValueError("images contain NaN or Inf values; LCN needs finite pixels")
    return out


@torch.library.custom_op("hyperkit::lcn", mutates_args=(),
                         device_types=("cpu", "cuda"))
def _lcn_op(images: Tensor, radius: int, sigma: float, eps: float) -> Tensor:
    checks.check_float(images, "images")
    checks.check_rank(images, "images", min_ndim=2, layout="(..., H, W)")
    return _run(images.contiguous(), *_check_params(radius, sigma, eps))


@_lcn_op.register_fake
def _(images: Tensor, radius: int, sigma: float, eps: float) -> Tensor:
    return torch.empty_like(images, memory_format=torch.contiguous_format)


def _channel_axis(images: Any, kind: str, channel_axis: Any) -> int | None:
    """The axis to move in front of (H, W) so that each channel is normalized, or None
    when every leading index already is a plane."""
    nd, shape = images.ndim, tuple(images.shape)
    if channel_axis is None:
        return None
    if isinstance(channel_axis, str) and channel_axis == "auto":
        if nd < 3 or shape[-1] > 4 or min(shape[-3:-1]) <= 4:
            return None  # (..., H, W) planes; a channel-first axis is a leading index
        if kind == "numpy":
            return nd - 1  # numpy images are (H, W, C): normalize each channel
        raise ValueError(f"images has shape {shape}, which looks like channels-last, but {kind} "
                         "images keep channels first (..., C, H, W); pass channel_axis=-1 to "
                         f"normalize each channel, or channel_axis=None if these are planes "
                         f"{shape[-1]} pixels wide")
    if isinstance(channel_axis, bool) or not isinstance(channel_axis, int) \
            or not -nd <= channel_axis < nd:
        raise ValueError(f"channel_axis must be None, 'auto' or an axis of images (shape "
                         f"{shape}), got {channel_axis!r}")
    axis = channel_axis % nd
    return axis if axis >= nd - 2 else None


def lcn(images: Any, radius: int = 3, sigma: float = 7 / 6, eps: float = 1 / 255, *,
        channel_axis: Any = "auto") -> Any:
    """Local contrast normalization of every H x W plane (eq. 4).

    Args:
        images: float32 or float64 array, pixel values scaled to [0, 1]: planes
            (..., H, W), every leading index an independent plane (so a torch RGB image
            (3, H, W) is normalized per channel), or, for numpy, images in numpy's
            layout (H, W, C) / (N, H, W, C) with C <= 4, normalized per channel and
            returned in the same layout. numpy, torch (CPU/CUDA) or cupy.
        radius: window radius r in pixels; the window is (2r+1) x (2r+1).
        sigma: standard deviation of the Gaussian weights, in pixels.
        eps: added to the local deviation; 1/255 is BRISQUE's C = 1 for [0, 1] images.
        channel_axis: 'auto' reads the layout as above and refuses a torch or cupy
            array that looks channels-last; None: every leading index is a plane; an
            int: that axis holds the channels.

    Returns:
        Array of the same type, shape, dtype and device: unitless normalized values.

    Shape:
        images (..., H, W) -> (..., H, W), each plane normalized on its own.

    Example:
        >>> import numpy as np, hyperkit
        >>> hyperkit.lcn(np.random.rand(2, 3, 64, 64).astype(np.float32)).shape
        (2, 3, 64, 64)

    Raises:
        TypeError: images is not a float32/float64 array, or a parameter has the wrong type.
        ValueError: images has fewer than 2 dimensions, an empty dimension, NaN or Inf.
    """
    k = interop.kind(images, "images")
    checks.check_float(images, "images")
    checks.check_rank(images, "images", min_ndim=2, layout="(..., H, W)")
    r, s, e = _check_params(radius, sigma, eps)
    axis = _channel_axis(images, k, channel_axis)
    if axis is not None:  # channels among the last two axes: normalize each channel
        out = lcn(interop.moveaxis(images, axis, -3), r, s, e, channel_axis=None)
        return interop.contiguous(interop.moveaxis(out, -3, axis))
    if k == "torch":
        return torch.ops.hyperkit.lcn(images, r, s, e)
    return _run(interop.contiguous(images), r, s, e)


class LocalContrastNorm(nn.Module):
    """Module form of :func:`lcn`: (..., H, W) -> (..., H, W)."""

    def __init__(self, radius: int = 3, sigma: float = 7 / 6, eps: float = 1 / 255) -> None:
        super().__init__()
        self.radius, self.sigma, self.eps = _check_params(radius, sigma, eps)

    def forward(self, images: Tensor) -> Tensor:
        return lcn(images, self.radius, self.sigma, self.eps)

    def extra_repr(self) -> str:
        return f"radius={self.radius}, sigma={self.sigma:.4g}, eps={self.eps:.4g}"
