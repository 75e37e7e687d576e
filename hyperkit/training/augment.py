"""Hyper-image augmentation: the symmetries of the patch grid.

A hyper-image's cells are image patches on a U x V grid, so flipping the grid left-right
or up-down is the hyper-image of the flipped photograph (up to the patches' own
contents, which stage 1 saw in both orientations only by chance). Quality and forgery
labels do not change under a flip, so stage 2 can see each training image four ways
(identity, left-right, up-down, both; the 90-degree turns need U = V and are left out).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

# flip code -> the (N, D, U, V) axes it flips
FLIPS: dict[int, tuple[int, ...]] = {1: (3,), 2: (2,), 3: (2, 3)}


class FlippedHyperimages:
    """A batch source of hyper-images (N, D, U, V) and labels (N,) whose samples are
    each flipped by one of the grid's four symmetries.

    The flip of a batch is drawn from a generator seeded by ``seed`` and the batch's
    sample numbers, so a resumed run replays the same batches (the loop replays the
    order). ``hyper`` may be memory-mapped: only the rows a batch asks for are read.
    """

    def __init__(self, hyper: Any, labels: Any, seed: int = 0) -> None:
        if getattr(hyper, "ndim", 0) != 4:
            raise ValueError(f"hyper must be (N, D, U, V) hyper-images, got shape "
                             f"{getattr(hyper, 'shape', None)}")
        y = torch.as_tensor(np.asarray(labels, dtype=np.float32).reshape(-1))
        if len(y) != len(hyper) or len(y) == 0:
            raise ValueError(f"{len(hyper)} hyper-images and {len(y)} labels; need the same "
                             "non-zero count")
        self.hyper, self.labels, self.seed = hyper, y, int(seed)

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, idx: np.ndarray) -> tuple[tuple[Tensor], Tensor]:
        """((hyper-images (B, D, U, V),), labels (B,)), each sample flipped."""
        idx = np.asarray(idx, dtype=np.int64)
        x = torch.from_numpy(np.ascontiguousarray(self.hyper[idx], dtype=np.float32))
        flips = np.random.default_rng([self.seed, *idx[:8].tolist()]).integers(0, 4, len(idx))
        for code, dims in FLIPS.items():
            m = torch.from_numpy(flips == code)
            if m.any():
                x[m] = x[m].flip(dims)
        return (x,), self.labels[torch.from_numpy(idx)]
