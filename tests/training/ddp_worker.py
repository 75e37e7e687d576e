"""Run by test_loop.py under torchrun: trains a tiny net with DDP and saves its weights."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # noqa: E402  (the repo root)

from hyperkit.training import dist, fit, init_distributed  # noqa: E402
from tests.training.test_loop import CFG, fresh, toy  # noqa: E402

out = Path(sys.argv[1])
assert init_distributed() and dist.world() == 2
rank = dist.rank()
tr, va = toy()
net = fresh()
lines = []
fit(net, tr, va, config=CFG, checkpoint=out / "ddp.ckpt", device="cpu", log=lines.append)
(out / f"log{rank}.txt").write_text("\n".join(lines))
torch.save(net.state_dict(), out / f"rank{rank}.pt")
torch.distributed.destroy_process_group()
