"""Images in, float32 (C, H, W) tensors out: the conversions and checks every entry
point shares (build_hyperimage, prediction, training, the CLI).

Layouts: numpy images are (H, W) or (H, W, C), as scikit-image and Pillow give them;
torch and cupy images are (H, W) or (C, H, W). uint8 is scaled by 1/255, uint16 by
1/65535, floats are taken as they are (expected in [0, 1]).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import checks
from .ops import interop
from .ops.lcn import lcn as _lcn


def as_image_tensor(image: Any, name: str = "image") -> Tensor:
    """One image as a float32 (C, H, W) torch tensor with values in [0, 1].

    numpy input is (H, W) or (H, W, C) as Pillow / imageio / scikit-image give it;
    torch input is (H, W) or (C, H, W). uint8 is divided by 255, uint16 by 65535,
    floats are taken as they are. The tensor stays on its device.
    """
    k = interop.kind(image, name)
    if k == "numpy":
        checks.check_rank(image, name, min_ndim=2, max_ndim=3, layout="(H, W) or (H, W, C)")
        arr = np.ascontiguousarray(image)
        if not arr.flags.writeable:  # read-only (memory maps, PIL): torch wants writable
            arr = arr.copy()
        t = torch.from_numpy(arr)
        t = t[None] if t.ndim == 2 else t.permute(2, 0, 1)
    elif k == "torch":
        checks.check_rank(image, name, min_ndim=2, max_ndim=3, layout="(H, W) or (C, H, W)")
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
        raise TypeError(f"{name} must be uint8, uint16 or float, got {interop.dtype_name(image)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or Inf values")
    return t


def as_image_list(images: Any, channels: int | None = None) -> list[Any]:
    """Splits the accepted forms of ``images`` into a list of single images, unconverted.

    A list or tuple is taken as it is; a 4-D array is a batch (torch (N, C, H, W), numpy
    (N, H, W, C)); a 2-D array is one image. A 3-D array is one image, unless
    ``channels`` is given and its channel axis (numpy: last, torch: first) does not
    hold that many: then it is a batch of gray (N, H, W) images.
    """
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError("images is an empty list")
        return list(images)
    k = interop.kind(images, "images")
    if images.ndim == 4:
        return [images[i] for i in range(images.shape[0])]
    if images.ndim == 3 and channels is not None:
        channel_axis = 2 if k == "numpy" else 0
        if images.shape[channel_axis] != channels:
            return [images[i] for i in range(images.shape[0])]
    if images.ndim in (2, 3):
        return [images]
    raise ValueError(f"images must have 2 to 4 dimensions, got shape {tuple(images.shape)}")


def images_with_channels(images: Any, channels: int) -> list[Any]:
    """:func:`as_image_list` for a network that takes ``channels`` channels: ValueError
    naming the first image with another count (from shapes; nothing is converted)."""
    ims = as_image_list(images, channels=channels)
    for i, im in enumerate(ims):
        c = image_channels(im, f"images[{i}]")
        if c != channels:
            raise ValueError(f"images[{i}] has {c} channel(s); this model takes {channels}")
    return ims


def image_hw(image: Any) -> tuple[int, int]:
    """(H, W) of one image in any accepted layout, without converting it."""
    shape = tuple(getattr(image, "shape", ()))
    if len(shape) < 2:
        interop.kind(image, "image")  # TypeError for non-arrays
        raise ValueError(f"an image must have 2 or 3 dimensions, got shape {shape}")
    if len(shape) == 2 or not isinstance(image, np.ndarray):
        return shape[-2], shape[-1]
    return shape[0], shape[1]


def image_channels(image: Any, name: str = "image") -> int:
    """Channel count of one image in any accepted layout, from its shape alone
    (numpy (H, W) / (H, W, C), torch or cupy (H, W) / (C, H, W))."""
    k = interop.kind(image, name)
    layout = "(H, W) or (H, W, C)" if k == "numpy" else "(H, W) or (C, H, W)"
    checks.check_rank(image, name, min_ndim=2, max_ndim=3, layout=layout)
    if image.ndim == 2:
        return 1
    return image.shape[2] if k == "numpy" else image.shape[0]


def fitted_hw(h: int, w: int, max_size: tuple[int, int] | None) -> tuple[int, int]:
    """(H, W) after scaling an h x w image down isotropically to fit max_size (never up)."""
    if max_size is None:
        return h, w
    scale = min(max_size[0] / h, max_size[1] / w)
    if scale >= 1:
        return h, w
    return (min(max_size[0], max(1, round(h * scale))), min(max_size[1], max(1, round(w * scale))))


def fit_image(t: Tensor, max_size: tuple[int, int] | None) -> Tensor:
    """Scales (C, H, W) down isotropically to fit max_size (bilinear, antialiased)."""
    size = fitted_hw(t.shape[1], t.shape[2], max_size)
    if size == tuple(t.shape[1:]):
        return t
    return F.interpolate(t[None], size=size, mode="bilinear", antialias=True,
                         align_corners=False)[0]


def prepare_image(image: Any, name: str, *, device: torch.device | str = "cpu",
                  max_size: tuple[int, int] | None = None, lcn: bool = True) -> Tensor:
    """One image as stage 1 sees it before patches are cut: converted
    (:func:`as_image_tensor`), moved to ``device``, fitted into ``max_size`` and, with
    ``lcn``, normalized whole (eq. 4). Returns a C-contiguous float32 (C, H, W)."""
    t = fit_image(as_image_tensor(image, name).to(device), max_size)
    return _lcn(t) if lcn else t.contiguous()
