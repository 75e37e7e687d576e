"""Choosing devices: what the user asked for, where a model already is, and this
process's place in a torchrun process group (:mod:`hyperkit.training.dist` joins it)."""

from __future__ import annotations

import functools
import os
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


def world() -> int:
    """Number of ranks in the default process group (1 without one)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def resolve_device(device: Any = "auto") -> torch.device:
    """'auto' (CUDA when usable, else CPU), 'cpu', 'cuda', 'cuda:N' or a torch.device.

    Under torchrun with CUDA, 'auto' is this rank's GPU (cuda:LOCAL_RANK).
    """
    if device is None or device == "auto":
        if world() > 1 and torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no usable CUDA device")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    return dev


def module_device(model: Any) -> torch.device:
    """Where a module's first parameter is; CPU for a callable without parameters."""
    if isinstance(model, nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device("cpu")


def native_bf16(device: torch.device) -> bool:
    """True where bfloat16 matrix arithmetic runs in hardware: any CUDA device of compute
    capability >= 8.0, or a CPU whose flags include avx512_bf16 or amx_bf16 (Linux's
    /proc/cpuinfo; False elsewhere, where oneDNN would emulate it, slower than float32)."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8
    if device.type != "cpu":
        return False
    return _cpu_has_bf16()


@functools.lru_cache(maxsize=1)
def _cpu_has_bf16() -> bool:
    """/proc/cpuinfo's flags, read once per process."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_dtype(t: torch.Tensor) -> torch.dtype | None:
    """The low-precision dtype autocast is running for t's device type, or None when
    autocast is off there (a network casts its own custom ops' inputs with it)."""
    dev = t.device.type
    if dev not in ("cpu", "cuda"):  # meta tensors and other backends: no autocast cast here
        return None
    try:  # torch >= 2.4 takes the device type
        on = torch.is_autocast_enabled(dev)
        return torch.get_autocast_dtype(dev) if on else None
    except (TypeError, AttributeError):  # pragma: no cover - older spellings
        if dev == "cpu":
            return torch.get_autocast_cpu_dtype() if torch.is_autocast_cpu_enabled() else None
        return torch.get_autocast_gpu_dtype() if torch.is_autocast_enabled() else None


def describe_machine() -> dict:
    """What decides CPU results bit for bit: the CPU model and the instruction set torch's
    kernels dispatch to (AVX2, AVX512, ...), with the torch version and thread count."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "torch": torch.__version__,
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpu_threads": torch.get_num_threads(),
            "native_bf16": native_bf16(torch.device("cpu"))}
