"""Kang et al.'s NR-IQA network (Table 5 of the paper): the LIVE and TID2013 stage 1."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..ops.conv_minmax import conv_minmax
from ..ops.grid_minmax_pool import grid_minmax_pool
from ..ops.minmax_pool2d import MinMaxPool2d


class KangStage1(nn.Module):
    """Table 5: Conv1 50x7x7 -> global MaxPool + MinPool -> Concat -> FC1 800 -> FC2 800 -> 1.

    Input (P, C, 32, 32) patches (C = 3 for TID2013, 1 for LIVE); Conv1 gives
    (P, 50, 26, 26), pooled to (P, 100). :meth:`features` is the ReLU-activated FC2
    output (P, 800), the hyper-image's D = 800; :meth:`forward` is the score (P,).

    Whole-image path (the shared route of :func:`hyperkit.build_hyperimage`):
    :meth:`grid_features` and :meth:`grid_scores` give, for every patch of a grid at
    once, what :meth:`features` and :meth:`scores` give patch by patch. Conv1 runs once
    over each whole image, and min+max pooling takes the conv map's windows at the
    patches' offsets (:func:`hyperkit.grid_minmax_pool`): overlapping patches share
    their convolution instead of repeating it.
    """

    def __init__(self, in_channels: int = 3, patch: int = 32, kernels: int = 50,
                 hidden: int = 800) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, kernels, 7)
        self.pool = MinMaxPool2d(concat=True)  # Table 5's layer; features() fuses it with conv1
        self.fc1 = nn.Linear(2 * kernels, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)
        self.relu = nn.ReLU()
        self.patch = patch
        self.input_shape = (in_channels, patch, patch)  # (C, H, W), as SpecNet declares it
        self.feature_dim = hidden

    def features(self, patches: Tensor) -> Tensor:
        """(P, C, 32, 32) -> (P, 800), the ReLU-activated penultimate layer."""
        # conv1 + Concat(MinPool, MaxPool) in one op: the same values as
        # self.pool(self.conv1(patches)), with a backward over the winners' windows only.
        # (Forward hooks on self.conv1 / self.pool therefore do not run here.)
        mx, mn = conv_minmax(patches, self.conv1.weight, self.conv1.bias)
        h = torch.cat([mn, mx], 1)
        return self.relu(self.fc2(self.relu(self.fc1(h))))

    def forward(self, patches: Tensor) -> Tensor:
        """(P, C, 32, 32) -> (P,) patch scores."""
        return self.out(self.features(patches)).squeeze(1)

    def scores(self, patches: Tensor) -> Tensor:
        """(P, C, 32, 32) -> (P, 1): :meth:`forward` with the unit axis kept, the (P, D)
        form :func:`hyperkit.build_hyperimage` takes (patch scores on a grid)."""
        return self.forward(patches)[:, None]

    def _grid_pooled(self, images: Tensor, rows: Any, cols: Any) -> Tensor:
        """(N, C, H, W) -> (N, U, V, 2 * kernels): Concat(MinPool, MaxPool) of every
        grid patch, from one convolution of each whole image."""
        if not isinstance(images, Tensor) or images.ndim != 4 \
                or images.shape[1] != self.input_shape[0]:
            got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise ValueError(f"images must be (N, {self.input_shape[0]}, H, W), got {got}")
        if images.shape[2] < self.patch or images.shape[3] < self.patch:
            raise ValueError(f"images are {images.shape[2]}x{images.shape[3]}, smaller than the "
                             f"{self.patch}x{self.patch} patch")
        if images.device.type == "cpu":
            # torch's channels-last convolution is ~3x faster on CPU for this shape
            # (3 -> 50 channels, 7x7), and grid_minmax_pool reads its map in place.
            images = images.contiguous(memory_format=torch.channels_last)
        fmap = self.conv1(images)  # (N, kernels, H - 6, W - 6)
        # A patch at (y, x) convolves to the map's window at (y, x) of this size.
        window = self.patch - self.conv1.kernel_size[0] + 1
        mx, mn = grid_minmax_pool(fmap, window, positions=(rows, cols))
        return torch.cat([mn, mx], 1).permute(0, 2, 3, 1)

    def grid_features(self, images: Tensor, rows: Any, cols: Any) -> Tensor:
        """:meth:`features` of every grid patch, from whole images.

        Args:
            images: normalized images (N, C, H, W), float32, each at least 32 x 32.
            rows: (U,) top rows of the patches, ints in [0, H - 32] (e.g.
                ``hyperkit.grid_positions(H, 32, U)``); cols: (V,) left columns.

        Returns:
            (N, 800, U, V): point (u, v) of image n is features of the patch
            images[n, :, rows[u]:rows[u] + 32, cols[v]:cols[v] + 32].
        """
        h = self._grid_pooled(images, rows, cols)
        f = self.relu(self.fc2(self.relu(self.fc1(h))))  # (N, U, V, 800)
        return f.permute(0, 3, 1, 2)

    def grid_scores(self, images: Tensor, rows: Any, cols: Any) -> Tensor:
        """:meth:`scores` of every grid patch, from whole images: (N, 1, U, V); the
        arguments are those of :meth:`grid_features`."""
        h = self._grid_pooled(images, rows, cols)
        return self.out(self.relu(self.fc2(self.relu(self.fc1(h))))).permute(0, 3, 1, 2)

    def grid_bytes(self, height: int, width: int, cells: int) -> int:
        """Bytes the whole-image path holds for one float32 height x width image with
        ``cells`` grid cells: the image, conv1's map (the largest part) and the pooled
        and hidden vectors of every cell. :func:`hyperkit.build_hyperimage` sizes its
        groups of images (or bands of one image) with it."""
        c, k = self.input_shape[0], self.conv1.out_channels
        kk = self.conv1.kernel_size[0]
        per_cell = 2 * k + 2 * self.feature_dim + 1
        return 4 * (c * height * width + k * (height - kk + 1) * (width - kk + 1)
                    + per_cell * cells)
