"""The one patch path: normalized patches of a list of images, in bounded memory.

Two ways to draw from it, both cutting with the same kernel from images prepared by
:func:`hyperkit.images.prepare_image`:

* :func:`grid_batches` streams the grid patches of many images in order, chunk by
  chunk, holding only the images the current chunk needs (hyper-images, prediction);
* :class:`GridPatches` gives random access to every grid patch of a training set by
  its global number, holding the prepared images and never the patches (stage-1
  training: peak memory is the images plus a few batches);
* :class:`PositionedPatches` does the same for patches at explicit positions (selective
  patch training).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .grid import grid_cells, grid_positions
from .images import check_channels, fitted_hw, image_hw, prepare_image
from .ops.gather_patches import ImageTable, gather_at


def check_patch_fits(sizes: Sequence[tuple[int, int]], patch: tuple[int, int],
                     name: str = "images") -> None:
    """ValueError naming the first image smaller than the patch."""
    ph, pw = patch
    for i, (h, w) in enumerate(sizes):
        if h < ph or w < pw:
            raise ValueError(f"{name}[{i}] is {h}x{w}, smaller than the {ph}x{pw} patch")


def grid_batches(images: Sequence[Any], patch: tuple[int, int], grid: tuple[int, int], *,
                 batch_size: int, device: torch.device | str = "cpu",
                 max_size: tuple[int, int] | None = None, lcn: bool = True,
                 channels: int | None = None) -> Iterator[Tensor]:
    """Every grid patch of ``images`` in order (image, row u, column v), in chunks.

    Args:
        images: single images in their ecosystem's layout (see
            :func:`hyperkit.images.split_images`), converted one by one when a chunk
            first needs them.
        patch: (ph, pw) pixels; grid: (U, V).
        batch_size: patches per chunk (the last may be smaller).
        device: where images are prepared and patches cut.
        max_size, lcn, channels: as :func:`hyperkit.images.prepare_image`.

    Yields:
        float32 (P, C, ph, pw) chunks on ``device``; chunks may span images.
    """
    per_image = grid[0] * grid[1]
    total = len(images) * per_image
    cache: dict[int, Tensor] = {}  # prepared images the current chunk still needs
    for p0 in range(0, total, batch_size):
        p1 = min(total, p0 + batch_size)
        n0, n1 = p0 // per_image, (p1 - 1) // per_image
        cache = {n: t for n, t in cache.items() if n >= n0}
        for n in range(n0, n1 + 1):
            if n not in cache:
                cache[n] = prepare_image(images[n], f"images[{n}]", device=device,
                                         max_size=max_size, lcn=lcn, channels=channels)
        ims = [cache[n] for n in range(n0, n1 + 1)]
        index, ys, xs = grid_cells([t.shape[1] for t in ims], [t.shape[2] for t in ims],
                                   patch, grid, p0 - n0 * per_image, p1 - p0)
        yield gather_at(ims, patch, index, ys, xs)


class GridPatches:
    """Every grid patch of a set of images, each labelled with its image's label.

    Patch p is cell ((p % (U V)) // V, p % V) of image p // (U V), the order of
    :func:`grid_batches`. Images are prepared once (CPU, float32); patches are cut only
    when a batch asks for them, so memory does not grow with the number of patches.

    Args:
        images: single images in their ecosystem's layout (see
            :func:`hyperkit.images.split_images`).
        labels: (N,) image labels.
        patch: (ph, pw) pixels; grid: (U, V); lcn, max_size, channels: as
            :func:`hyperkit.images.prepare_image` (without ``channels`` all images must
            have the same count).
        name: how errors name the images ('train images', ...).
    """

    def __init__(self, images: Sequence[Any], labels: Any, patch: tuple[int, int],
                 grid: tuple[int, int], *, lcn: bool, max_size: tuple[int, int] | None = None,
                 channels: int | None = None, name: str = "images") -> None:
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.float32).reshape(-1))
        if len(self.labels) != len(images):
            raise ValueError(f"{len(images)} {name} for {len(self.labels)} labels")
        self.channels = check_channels(list(images), channels, name)
        check_patch_fits([fitted_hw(*image_hw(im), max_size) for im in images], patch, name)
        self.patch, self.grid = tuple(patch), tuple(grid)
        self.images = [prepare_image(im, f"{name}[{i}]", max_size=max_size, lcn=lcn,
                                     channels=channels)
                       for i, im in enumerate(images)]
        self._table = ImageTable(self.images, self.patch)  # checked once, gathered per batch
        self._rows = np.stack([grid_positions(t.shape[1], patch[0], grid[0])
                               for t in self.images])
        self._cols = np.stack([grid_positions(t.shape[2], patch[1], grid[1])
                               for t in self.images])

    def __len__(self) -> int:
        return len(self.images) * self.grid[0] * self.grid[1]

    def batch(self, idx: np.ndarray) -> tuple[tuple[Tensor], Tensor]:
        """((patches (B, C, ph, pw),), labels (B,)) for global patch numbers ``idx``."""
        u, v = self.grid
        n = idx // (u * v)
        patches = self._table.gather(n, self._rows[n, (idx % (u * v)) // v],
                                     self._cols[n, idx % v])
        return (patches,), self.labels[torch.from_numpy(n)]


class PositionedPatches:
    """Labelled patches at explicit positions of prepared images, cut when a batch asks.

    The stage-1 training set of selective patch training
    (:mod:`hyperkit.data.iqa.selection`): rows (image, top, left, label) in four compact
    arrays (about 14 bytes a patch), the pixels only in ``images``.

    Args:
        images: prepared (C, H, W) float32 tensors, or float16 ones (a
            :class:`hyperkit.data.prepared.PreparedImages` or a list); patches come out
            as float32 either way.
        patch: (ph, pw) pixels.
        index, ys, xs: (P,) image number, top row and left column of each patch.
        labels: (P,) float labels.
    """

    def __init__(self, images: Sequence[Tensor], patch: tuple[int, int], index: Any, ys: Any,
                 xs: Any, labels: Any) -> None:
        self.index = np.asarray(index, dtype=np.int32)
        self.ys, self.xs = np.asarray(ys, dtype=np.int32), np.asarray(xs, dtype=np.int32)
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.float32).reshape(-1))
        if not len(self.index) == len(self.ys) == len(self.xs) == len(self.labels):
            raise ValueError(f"index, ys, xs and labels must have one length, got "
                             f"{len(self.index)}, {len(self.ys)}, {len(self.xs)}, "
                             f"{len(self.labels)}")
        if len(self.labels) == 0:
            raise ValueError("no patches: index is empty")
        if not torch.isfinite(self.labels).all():
            raise ValueError("labels contain NaN or Inf")
        self.patch = tuple(patch)
        self._table = ImageTable(list(images), self.patch)
        self._table.check_positions(self.index.astype(np.int64), self.ys.astype(np.int64),
                                    self.xs.astype(np.int64))  # once; batches are subsets

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, idx: np.ndarray) -> tuple[tuple[Tensor], Tensor]:
        """((patches (B, C, ph, pw),), labels (B,)) for patch numbers ``idx``."""
        patches = self._table.gather(self.index[idx].astype(np.int64),
                                     self.ys[idx].astype(np.int64), self.xs[idx].astype(np.int64))
        return (patches.float(),), self.labels[torch.from_numpy(np.asarray(idx))]

