"""Image layouts: which axis of an array holds an image's channels, and how one image, a
batch or a list splits into single images. Shapes only: nothing is converted or copied
(the values' rules are in :mod:`hyperkit.images`, which re-exports these names).

Layouts follow each ecosystem's convention:

=========  =====================  ===========================
kind       one image              a batch
=========  =====================  ===========================
numpy      (H, W) or (H, W, C)    (N, H, W) gray, (N, H, W, C), or a list
torch      (H, W) or (C, H, W)    (N, C, H, W), or a list
cupy       as torch               as torch
=========  =====================  ===========================

C is 1 to 4. Where a shape reads two ways (a numpy (3, 512, 512) is a channel-first
image or three gray images; a torch (512, 512, 3) looks like numpy's layout), the
array is refused with a message saying how to state it: ``channel_axis`` (as in
scikit-image) names the channel axis of the array passed, and ``channel_axis=None``
says it has none (gray images).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import checks, interop

MAX_CHANNELS = 4  # gray, gray + alpha, RGB, RGBA
AUTO = "auto"  # channel_axis default: read the layout from the shape, refuse if it reads two ways


def _channel_first(kind: str) -> bool:
    return kind != "numpy"


def _axis(channel_axis: Any, ndim: int, name: str) -> Any:
    """channel_axis checked and made non-negative; AUTO and None pass through."""
    if channel_axis is None or (isinstance(channel_axis, str) and channel_axis == AUTO):
        return channel_axis
    if isinstance(channel_axis, bool) or not isinstance(channel_axis, (int, np.integer)):
        raise TypeError(f"channel_axis must be an int, None or 'auto', got {channel_axis!r}")
    if not -ndim <= channel_axis < ndim:
        raise ValueError(f"channel_axis {channel_axis} is out of range for {name} with "
                         f"{ndim} dimensions")
    return int(channel_axis) % ndim


def _to_convention(image: Any, axis: int) -> Any:
    """A view of one image with its channel axis where its ecosystem puts it."""
    return interop.moveaxis(image, axis, -1 if isinstance(image, np.ndarray) else 0)


def _say_which(name: str, shape: tuple, reading: str) -> str:
    return (f"{name} has shape {shape}, which {reading}; say which with channel_axis= "
            "(the axis that holds the channels, or None for gray images), or pass a list "
            "of single images")


def single_image(image: Any, *, channel_axis: Any = AUTO, name: str = "image") -> Any:
    """One image in its ecosystem's layout: numpy (H, W) / (H, W, C), torch and cupy
    (H, W) / (C, H, W), C <= 4; a view when ``channel_axis`` moves the channels."""
    k = interop.kind(image, name)
    first = _channel_first(k)
    layout = "(H, W) or (C, H, W)" if first else "(H, W) or (H, W, C)"
    checks.check_rank(image, name, min_ndim=2, max_ndim=3, layout=layout)
    if image.ndim == 2:
        return image
    ca = _axis(channel_axis, 3, name)
    shape = tuple(image.shape)
    if ca is None:
        raise ValueError(f"{name} has shape {shape} but channel_axis=None says it has no "
                         "channels; one image with channels has 3 dimensions")
    if ca != AUTO:
        return _to_convention(image, ca)
    c, other = (shape[0], shape[2]) if first else (shape[2], shape[0])
    if c <= MAX_CHANNELS:
        return image
    if other <= MAX_CHANNELS:
        keep = "first" if first else "last"
        raise ValueError(_say_which(name, shape, f"looks like a channels-"
                                    f"{'last' if first else 'first'} image, but {k} images "
                                    f"keep channels {keep}"))
    raise ValueError(f"{name} has shape {shape}: {c} channels, more than {MAX_CHANNELS}; "
                     f"{k} images are {layout}")


def split_images(images: Any, *, channel_axis: Any = AUTO, name: str = "images") -> list[Any]:
    """Single images, each in its ecosystem's layout (see the module docstring), from one
    image, a batch array or a list. Nothing is converted or copied.

    Args:
        images: one image, a batch, or a list of single images (sizes may differ).
        channel_axis: which axis of the array passed (of each list item) holds the
            channels; None: there is none (an (N, H, W) array is a batch of gray
            images); 'auto': read it from the shape, refusing shapes that read two ways.
    """
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError(f"{name} is an empty list")
        return [single_image(im, channel_axis=channel_axis, name=f"{name}[{i}]")
                for i, im in enumerate(images)]
    k = interop.kind(images, name)
    first = _channel_first(k)
    shape = tuple(images.shape)
    if not 2 <= len(shape) <= 4:
        raise ValueError(f"{name} must have 2 to 4 dimensions, got shape {shape}")
    if len(shape) == 2:
        return [images]
    ca = _axis(channel_axis, len(shape), name)
    if len(shape) == 4:
        if ca is None or ca == 0:
            raise ValueError(f"{name} is a 4-D batch: channel_axis must name axis 1, 2 or 3")
        if ca == AUTO:
            ca = 1 if first else 3
            if shape[ca] > MAX_CHANNELS:
                lay = "(N, C, H, W)" if first else "(N, H, W, C)"
                raise ValueError(_say_which(name, shape, f"does not read as {lay} with at "
                                            f"most {MAX_CHANNELS} channels"))
        return [_to_convention(images[i], ca - 1) for i in range(shape[0])]
    # 3-D: one image with channels, or a batch of gray images
    if ca is None:
        return [images[i] for i in range(shape[0])]
    if ca != AUTO:
        return [_to_convention(images, ca)]
    c, other = (shape[0], shape[2]) if first else (shape[2], shape[0])
    if c <= MAX_CHANNELS and (first or min(shape[:2]) > MAX_CHANNELS):
        return [images]  # the convention: torch (C, H, W), numpy (H, W, C)
    if c > MAX_CHANNELS and other > MAX_CHANNELS:
        return [images[i] for i in range(shape[0])]  # no axis can hold channels: (N, H, W)
    if first:
        reading = (f"reads as one channels-last image (torch images keep channels first) or "
                   f"as {shape[0]} gray {shape[1]}x{shape[2]} images")
    else:
        reading = (f"reads as {shape[0]} gray {shape[1]}x{shape[2]} images or as one "
                   f"channels-first image (numpy images keep channels last)")
    raise ValueError(_say_which(name, shape, reading))


def image_hw(image: Any) -> tuple[int, int]:
    """(H, W) of one image in its ecosystem's layout, without converting it."""
    shape = tuple(image.shape)
    if len(shape) == 2 or not isinstance(image, np.ndarray):
        return shape[-2], shape[-1]
    return shape[0], shape[1]


def image_channels(image: Any) -> int:
    """Channel count of one image in its ecosystem's layout, from its shape alone."""
    if image.ndim == 2:
        return 1
    return image.shape[2] if isinstance(image, np.ndarray) else image.shape[0]
