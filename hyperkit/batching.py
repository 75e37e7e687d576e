"""Batches: where training batches come from (anything with ``len`` and ``batch(idx)``),
and running a network over a whole source or array batch by batch (:func:`predict`),
which trained models use as much as the training loop does.

The loop owns the order (a seeded permutation per epoch, split across ranks), so a
source only answers "give me samples idx" and a resumed run replays the same batches.
A source returns CPU tensors ``(inputs, targets)`` with ``inputs`` a tuple passed to
``model(*inputs)``: one tensor for a regression network, two for a siamese pair.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor, nn

from .devices import module_device, resolve_device


@runtime_checkable
class BatchSource(Protocol):
    """A training or validation set the loop can index."""

    def __len__(self) -> int: ...

    def batch(self, idx: np.ndarray) -> tuple[tuple[Tensor, ...], Tensor]:
        """(inputs, targets) for the int64 sample numbers ``idx``."""
        ...


class ArraySource:
    """Inputs (N, ...) and labels (N,) held as arrays: numpy (memory-mapped is fine:
    only the rows asked for are read) or torch tensors."""

    def __init__(self, inputs: Any, labels: Any, name: str = "data") -> None:
        if not isinstance(inputs, (np.ndarray, Tensor)):
            raise TypeError(f"{name} inputs must be a numpy array (memory-mapped is fine) or "
                            f"torch tensor, got {type(inputs).__name__}")
        if not isinstance(labels, (np.ndarray, Tensor)):
            raise TypeError(f"{name} labels must be a numpy array or torch tensor, got "
                            f"{type(labels).__name__}")
        y = torch.as_tensor(labels).float().reshape(-1)
        if len(inputs) != len(y) or len(y) == 0:
            raise ValueError(f"{name}: {len(inputs)} inputs and {len(y)} labels; need the same "
                             "non-zero count")
        if not torch.isfinite(y).all():
            raise ValueError(f"{name} labels contain NaN or Inf")
        self.inputs, self.labels = inputs, y

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, idx: np.ndarray) -> tuple[tuple[Tensor], Tensor]:
        x = self.inputs
        if isinstance(x, np.ndarray):
            b = torch.from_numpy(np.ascontiguousarray(x[idx]))
        else:
            b = x[torch.from_numpy(idx).to(x.device)]
        return (b,), self.labels[torch.from_numpy(idx)]


def as_source(data: Any, name: str) -> BatchSource:
    """A :class:`BatchSource` as it is, or an (inputs, labels) pair as an ArraySource."""
    if isinstance(data, BatchSource):
        if len(data) == 0:
            raise ValueError(f"{name} is empty")
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return ArraySource(data[0], data[1], name)
    raise TypeError(f"{name} must be a batch source (len and batch(idx)) or a pair "
                    f"(inputs, labels), got {type(data).__name__}")


def all_finite(x: Tensor) -> bool:
    """Whether every value of ``x`` is finite, exactly.

    A finite sum proves it (a NaN or an infinity never sums to a finite value), and a
    sum reads ``x`` without allocating: 0.6 ms against 18 ms for ``isfinite(x).all()`` on a
    36 MB batch of hyper-images (2 cores). Only a sum that overflows from finite values
    takes the elementwise check."""
    if x.numel() == 0 or not (x.is_floating_point() or x.is_complex()):
        return True
    # 16-bit floats sum in float32, so a large finite batch does not overflow the check
    total = x.sum(dtype=torch.float32) if x.is_floating_point() and x.element_size() < 4 \
        else x.sum()
    return bool(torch.isfinite(total)) or bool(torch.isfinite(x).all())


def to_device(batch: tuple[tuple[Tensor, ...], Tensor], device: torch.device
              ) -> tuple[tuple[Tensor, ...], Tensor]:
    """Inputs as float32 and targets on ``device``; ValueError for non-finite inputs."""
    inputs, targets = batch
    moved = tuple(x.to(device, torch.float32, non_blocking=True) for x in inputs)
    for x in moved:
        if not all_finite(x):
            raise ValueError("training inputs contain NaN or Inf")
    return moved, targets.to(device)


@torch.no_grad()
def batch_outputs(model: Callable[..., Tensor], source: BatchSource, batch_size: int,
                  device: torch.device) -> tuple[Tensor, Tensor]:
    """(float64 CPU outputs, CPU targets) over the whole source, in eval mode."""
    was = getattr(model, "training", False)
    if isinstance(model, nn.Module):
        model.eval()
    try:
        outs, targets = [], []
        for i in range(0, len(source), batch_size):
            inputs, y = source.batch(np.arange(i, min(len(source), i + batch_size)))
            outs.append(model(*to_device((inputs, y), device)[0]).double().cpu())
            targets.append(y)
    finally:
        if isinstance(model, nn.Module):
            model.train(was)
    return torch.cat(outs), torch.cat(targets)


def predict(model: Callable[..., Tensor], data: Any, batch_size: int = 512,
            device: Any = None) -> np.ndarray:
    """Model outputs in eval mode, batch by batch, as float64 numpy (N, ...).

    Args:
        data: a :class:`BatchSource`, or an array (N, ...)
            of inputs (numpy, memory-mapped or torch).
        device: default where the model's weights are.
    """
    if isinstance(data, (np.ndarray, Tensor)):
        data = as_source((data, np.zeros(len(data), np.float32)), "inputs")
    dev = resolve_device(device) if device is not None else module_device(model)
    return batch_outputs(model, as_source(data, "inputs"), batch_size, dev)[0].numpy()
