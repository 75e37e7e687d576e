"""Whole images resized to a network's input: the source for end-to-end training.

The end-to-end networks of the paper (NR-IQA experiment 4, forgery experiment 1) take
an entire image, 384x512 for TID2013 and 256x384 for CASIA2, instead of patches.
:class:`ResizedImages` is a :class:`~hyperkit.training.batches.BatchSource` of such
images for :func:`hyperkit.training.fit`.

Memory: each image is converted, resized and held as uint8 (C, H, W) the first time a
batch needs it (lazily: constructing the source reads nothing), so a training set
costs C * H * W bytes per image once every image has been drawn, e.g. 3000 TID2013
images at 3x384x512 take 1.8 GB (float32 would be 7 GB). Images arriving as uint16
or floats are quantized to 8 bits on the way (an error of at most 1/510).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..images import (
    as_image_tensor,
    channel_error,
    image_channels,
    read_image,
    split_images,
    to_gray,
)
from ..ops.lcn import lcn as _lcn


def _check_size(size: Any) -> tuple[int, int]:
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1
                   for v in size)):
        raise ValueError(f"size must be (H, W), two integers >= 1, got {size!r}")
    return int(size[0]), int(size[1])


def _as_items(images: Any, name: str) -> list[Any]:
    """A list of file paths and single images (each in its ecosystem's layout)."""
    if isinstance(images, (str, Path)):
        raise TypeError(f"{name} must be a list of image files or arrays, got the single "
                        f"path {str(images)!r}; wrap it in a list")
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError(f"{name} is an empty list")
        return [im if isinstance(im, (str, Path)) else
                split_images([im], name=f"{name}[{i}]")[0] for i, im in enumerate(images)]
    return split_images(images, name=name)


class ResizedImages:
    """Whole images resized to ``size``, each labelled: a training source for ``fit``.

    Item i is image i converted to ``channels`` (RGB becomes gray for ``channels=1``,
    as :func:`hyperkit.images.prepare_image`), resized to ``size`` with
    ``skimage.transform.resize`` (bilinear, ``anti_aliasing=True``; images already of
    that size are kept as they are, e.g. TID2013's 384x512) and kept as uint8 (see the
    module docstring for memory). :meth:`batch` returns ``((x,), y)`` with x float32
    (B, C, H, W) in [0, 1], or LCN-normalized with ``lcn=True`` (eq. 4, per image and
    channel, applied when the batch is built), and y float32 (B,).

    Flips (``flip=True``): the k-th time item i is drawn it is mirrored left-right when
    a generator seeded with (seed, i, k) says so (probability 1/2). In training every
    item is drawn once per epoch, so k is the epoch and each epoch sees fresh flips
    that do not depend on the batch order; :func:`hyperkit.training.fit` sets k to the
    epoch before each one (:meth:`set_epoch`), so a resumed run and every DDP rank
    replay the flips of one uninterrupted process.

    Args:
        images: image files (read with :func:`hyperkit.images.read_image`) and/or
            arrays (anything :mod:`hyperkit.images` accepts: a list of single images
            or a batch array).
        labels: (N,) finite numbers.
        size: (H, W) in pixels, the network's input.
        channels: what the network takes (1 or 3 usually); checked per image when it
            is first read (arrays are checked here, from their shapes).
        lcn: local contrast normalization of each image in a batch.
        flip: random horizontal flips, seeded as above.
        seed: seeds the flips.
        name: how errors name the images ('train images', ...).
        cache: keep converted images (True, for training); False converts them on
            every draw (prediction over a large set in bounded memory).
    """

    def __init__(self, images: Any, labels: Any, size: tuple[int, int], *, channels: int,
                 lcn: bool = False, flip: bool = False, seed: int = 0,
                 name: str = "images", cache: bool = True) -> None:
        self.size = _check_size(size)
        if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) \
                or not 1 <= channels <= 4:
            raise ValueError(f"channels must be an integer from 1 to 4, got {channels!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.channels, self.seed, self.name = int(channels), int(seed), name
        self.lcn, self.flip, self.cache = bool(lcn), bool(flip), bool(cache)
        self.items = _as_items(images, name)
        y = np.asarray(labels, dtype=np.float64).reshape(-1)
        if len(y) != len(self.items):
            raise ValueError(f"{len(self.items)} {name} for {len(y)} labels; need one label "
                             "per image")
        if not np.isfinite(y).all():
            raise ValueError(f"{name} labels contain NaN or Inf")
        self.labels = torch.from_numpy(y.astype(np.float32))
        for i, im in enumerate(self.items):
            if not isinstance(im, (str, Path)):
                self._check_channels(im, f"{name}[{i}]")
        self._cached: list[np.ndarray | None] = [None] * len(self.items)
        self._draws = np.zeros(len(self.items), np.int64)  # times each item was drawn

    def __len__(self) -> int:
        return len(self.items)

    def _check_channels(self, image: Any, label: str) -> None:
        c = image_channels(image)
        if c != self.channels and not (self.channels == 1 and c == 3):
            raise channel_error(label, c, self.channels)

    def _convert(self, i: int) -> np.ndarray:
        """Item i as uint8 (C, H, W) at ``size``."""
        from skimage.transform import resize

        item, label = self.items[i], f"{self.name}[{i}]"
        if isinstance(item, (str, Path)):
            label = f"{label} ({item})"
            item = read_image(item)
            self._check_channels(item, label)
        t = as_image_tensor(item, label).cpu()
        if self.channels == 1 and t.shape[0] == 3:
            t = to_gray(t)
        arr = t.permute(1, 2, 0).numpy().astype(np.float64)  # (H, W, C) for skimage
        if arr.shape[:2] != self.size:
            arr = resize(arr, (*self.size, arr.shape[2]), order=1, mode="reflect",
                         anti_aliasing=True, preserve_range=True)
        return np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8).transpose(2, 0, 1)

    def image(self, i: int) -> np.ndarray:
        """Item i as uint8 (C, H, W) at ``size``, converted on first use (cached with
        ``cache=True``)."""
        if not 0 <= i < len(self.items):
            raise IndexError(f"{self.name} has {len(self.items)} images, no item {i}")
        if self._cached[i] is not None:
            return self._cached[i]
        arr = self._convert(i)
        if self.cache:
            self._cached[i] = arr
        return arr

    def preload(self, progress: bool = True) -> None:
        """Converts every image now (with a progress bar) instead of on first use."""
        for i in tqdm(range(len(self.items)), desc=f"resizing {self.name}", leave=False,
                      disable=None if progress else True):
            self.image(i)

    def skip_draws(self, draws: int) -> None:
        """Sets every item's draw count (the k of the flips) to ``draws``: call it with
        the number of finished epochs when a training run resumes."""
        if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 0:
            raise ValueError(f"draws must be an integer >= 0, got {draws!r}")
        self._draws[:] = draws

    def set_epoch(self, epoch: int) -> None:
        """Draws of epoch ``epoch`` (0-based) come next: :func:`hyperkit.training.fit`
        calls it before every epoch, so each rank of a DDP run, and a resumed run,
        draws what one uninterrupted process would."""
        self.skip_draws(epoch)

    def _flips(self, idx: np.ndarray) -> np.ndarray:
        """Whether each drawn item is mirrored; counts the draw."""
        out = np.array([np.random.default_rng([self.seed, int(i), int(self._draws[i])]).random()
                        < 0.5 for i in idx], dtype=bool)
        np.add.at(self._draws, idx, 1)
        return out

    def batch(self, idx: np.ndarray) -> tuple[tuple[Tensor], Tensor]:
        """((x (B, C, H, W) float32,), labels (B,)) for item numbers ``idx``."""
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        x = np.stack([self.image(int(i)) for i in idx])
        if self.flip:
            f = self._flips(idx)
            x[f] = x[f, :, :, ::-1]
        t = torch.from_numpy(x).float().div_(255.0)
        if self.lcn:
            t = _lcn(t, channel_axis=None)  # every (H, W) plane of every image
        return (t,), self.labels[torch.from_numpy(idx)]

    def channel_mean(self) -> np.ndarray:
        """(C,) float64 mean of every pixel of every image, per channel, in [0, 1]
        (converts every image not yet converted): for mean subtraction."""
        total = np.zeros(self.channels)
        for i in range(len(self.items)):
            total += self.image(i).mean(axis=(1, 2), dtype=np.float64)
        return total / (255.0 * len(self.items))
