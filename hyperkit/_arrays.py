"""Array interop and argument checks shared by every public function.

hyperkit accepts numpy arrays, torch tensors (CPU or CUDA) and cupy arrays, and
returns results of the caller's type on the caller's device. Kernels receive raw
addresses of C-contiguous buffers; this module is the one place that turns an
array into (kind, dtype name, address) and produces the exact errors users see.
"""

from __future__ import annotations

import numbers
from typing import Any, Sequence

import numpy as np
import torch

try:  # cupy is optional; it comes with the CUDA kernels
    import cupy as _cupy
except Exception:  # noqa: BLE001  (a broken cupy install must not break hyperkit)
    _cupy = None

FLOAT_DTYPES = ("float32", "float64")


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


def check_float(x: Any, name: str) -> str:
    """Returns the dtype name; TypeError unless float32 or float64."""
    dt = dtype_name(x)
    if dt not in FLOAT_DTYPES:
        hint = " (scale integer images to [0, 1] floats, e.g. x / 255)" if "int" in dt else ""
        raise TypeError(f"{name} must be float32 or float64, got {dt}{hint}")
    return dt


def check_rank(x: Any, name: str, *, min_ndim: int, max_ndim: int | None = None,
               layout: str = "") -> None:
    """ValueError unless ``min_ndim <= x.ndim <= max_ndim`` and no dimension is empty."""
    shape = tuple(x.shape)
    too_many = max_ndim is not None and len(shape) > max_ndim
    if len(shape) < min_ndim or too_many:
        want = f"{min_ndim}" if max_ndim == min_ndim else (
            f"at least {min_ndim}" if max_ndim is None else f"{min_ndim} to {max_ndim}")
        lay = f" {layout}" if layout else ""
        raise ValueError(f"{name} must have {want} dimensions{lay}, got shape {shape}")
    if any(s == 0 for s in shape):
        raise ValueError(f"{name} has an empty dimension: shape {shape}")


def contiguous(x: Any) -> Any:
    """A C-contiguous version of x (x itself when it already is)."""
    if isinstance(x, torch.Tensor):
        return x.contiguous()
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(x)
    return _cupy.ascontiguousarray(x)


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


def positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """value as an int; TypeError / ValueError unless it is an integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def pair(value: Any, name: str, *, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints as (rows, columns)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return (positive_int(value[0], f"{name}[0]", minimum=minimum),
                positive_int(value[1], f"{name}[1]", minimum=minimum))
    v = positive_int(value, name, minimum=minimum)
    return v, v
