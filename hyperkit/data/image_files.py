"""Image files read only when asked for: a data set of thousands of photographs is a
list of paths until a batch needs its pixels."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import overload

import numpy as np

from ..images import read_image


class ImageFiles(Sequence):
    """A sequence of image files; item i is read (:func:`hyperkit.images.read_image`,
    numpy layout at the file's depth) each time it is asked for, nothing is kept.

    Slicing or indexing with an integer array gives another ImageFiles. Errors name the
    file: an unreadable or truncated image raises ValueError with its path.
    """

    def __init__(self, paths: Sequence[str | Path]) -> None:
        self.paths = tuple(Path(p) for p in paths)

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, i: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, i: slice | np.ndarray | list) -> ImageFiles: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ImageFiles(self.paths[i])
        if isinstance(i, (np.ndarray, list, tuple)):
            idx = np.asarray(i)
            if idx.dtype == bool:  # a mask, as numpy reads it (not the indices 0 and 1)
                if idx.shape != (len(self),):
                    raise IndexError(f"a boolean mask over {len(self)} files must have shape "
                                     f"({len(self)},), got {idx.shape}")
                idx = np.flatnonzero(idx)
            return ImageFiles([self.paths[int(k)] for k in idx.ravel()])
        return read_image(self.paths[int(i)])

    def __iter__(self) -> Iterator[np.ndarray]:
        for p in self.paths:
            yield read_image(p)

    def __repr__(self) -> str:
        return f"ImageFiles({len(self)} files)"
