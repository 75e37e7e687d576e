"""Argument checks shared by every public function: each error names the argument
and says what was expected."""

from __future__ import annotations

import numbers
from typing import Any

from .interop import dtype_name

FLOAT_DTYPES = ("float32", "float64")


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


def named(value: Any, table: dict[str, Any], cls: type, name: str) -> Any:
    """``table[value]`` for a name in ``table``, ``value`` itself when it is a ``cls``;
    ValueError naming ``name`` and the choices otherwise (a task's named settings)."""
    got = table[value] if isinstance(value, str) and value in table else value
    if not isinstance(got, cls):
        raise ValueError(f"{name} must be one of {', '.join(table)} or a {cls.__name__}, "
                         f"got {value!r}")
    return got
