"""Array interop: numpy arrays, torch tensors (CPU or CUDA) and cupy arrays.

hyperkit's ops return results of the caller's type on the caller's device. Kernels
receive raw addresses of C-contiguous buffers; this module is the one place that
turns an array into (kind, dtype name, address) and allocates outputs like it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

try:  # cupy is optional; it comes with the CUDA kernels
    import cupy as _cupy
except Exception:  # noqa: BLE001  (a broken cupy install must not break hyperkit)
    _cupy = None

def kind(x: Any, name: str) -> str:
    """'numpy', 'torch' or 'cupy'; TypeError naming ``name`` for anything else."""
    if isinstance(x, torch.Tensor):
        return "torch"
    if isinstance(x, np.ndarray):
        return "numpy"
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        return "cupy"
    raise TypeError(
        f"{name} must be a numpy array, torch tensor or cupy array, got {type(x).__name__}"
    )


def dtype_name(x: Any) -> str:
    """The element type as a numpy-style name: 'float32', 'uint8', ..."""
    if isinstance(x, torch.Tensor):
        return str(x.dtype).removeprefix("torch.")
    return str(x.dtype)


def is_cuda(x: Any) -> bool:
    """True for data in GPU memory (torch CUDA tensors and cupy arrays)."""
    if isinstance(x, torch.Tensor):
        return x.is_cuda
    return _cupy is not None and isinstance(x, _cupy.ndarray)


def contiguous(x: Any) -> Any:
    """A C-contiguous version of x (x itself when it already is)."""
    if isinstance(x, torch.Tensor):
        return x.contiguous()
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(x)
    return _cupy.ascontiguousarray(x)


def moveaxis(x: Any, src: int, dst: int) -> Any:
    """A view of x with axis src moved to position dst (numpy, torch or cupy)."""
    if isinstance(x, torch.Tensor):
        return x.movedim(src, dst)
    if isinstance(x, np.ndarray):
        return np.moveaxis(x, src, dst)
    return _cupy.moveaxis(x, src, dst)


def address(x: Any) -> int:
    """Address of the first element of a C-contiguous array."""
    if isinstance(x, torch.Tensor):
        return x.data_ptr()
    if isinstance(x, np.ndarray):
        return x.ctypes.data
    return x.data.ptr


def empty(like: Any, shape: Sequence[int], dtype: str | None = None) -> Any:
    """An uninitialized C-contiguous array of like's kind and device."""
    dt = dtype or dtype_name(like)
    if isinstance(like, torch.Tensor):
        if like.is_cuda:
            return torch.empty(tuple(shape), dtype=getattr(torch, dt), device=like.device)
        # numpy asks Linux for transparent huge pages on large arrays; torch's CPU
        # allocator does not by default. Fresh outputs are first-touched by the
        # kernel, and with 4 KiB pages those page faults cost more than the kernel
        # (measured: 70 MB of patches, 20 ms of faults vs 3.5 ms of copying).
        return torch.from_numpy(np.empty(tuple(shape), dtype=dt))
    if isinstance(like, np.ndarray):
        return np.empty(tuple(shape), dtype=dt)
    with like.device:
        return _cupy.empty(tuple(shape), dtype=dt)
