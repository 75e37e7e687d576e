"""Distributed data parallel under torchrun: who we are, and joining the group.

Rank 0 decides (early stopping, schedule) and writes; other ranks follow.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from ..devices import rank, world  # noqa: F401  (re-exported: dist.world(), dist.rank())


def barrier() -> None:
    """Waits for every rank (a no-op without a process group)."""
    if world() > 1:
        dist.barrier()


def broadcast_from_rank0(value: float, device: torch.device) -> float:
    """Rank 0's ``value`` on every rank, so all of them take the same branch."""
    if world() == 1:
        return value
    v = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(v, 0)
    return float(v.item())


def init_distributed() -> bool:
    """Joins the process group torchrun describes (WORLD_SIZE > 1); True if it did.

    gloo on CPU, nccl when CUDA is available; each rank uses cuda:LOCAL_RANK.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or world() > 1:
        return world() > 1
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend)
    return True
