"""DDP helpers outside torchrun: one rank, no process group, nothing to wait for.
(tests/training/test_loop.py runs two gloo ranks under torchrun.)"""

import torch

from hyperkit.training import dist, init_distributed


def test_single_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert dist.world() == 1 and dist.rank() == 0
    dist.barrier()  # a no-op
    assert dist.broadcast_from_rank0(1.5, torch.device("cpu")) == 1.5
    assert init_distributed() is False
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert init_distributed() is False
    assert not torch.distributed.is_initialized()
