"""Run by test_train.py under torchrun: trains a tiny net with DDP and saves its weights."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent.parent))  # noqa: E402

from hyperkit import train  # noqa: E402
from tests.test_train import CFG, fresh, toy  # noqa: E402

out = Path(sys.argv[1])
assert train.init_distributed() and train.dist_world() == 2
rank = train.dist_rank()
tr, va = toy()
net = fresh()
lines = []
train.fit(net, tr, va, CFG, checkpoint=out / "ddp.ckpt", device="cpu", log=lines.append)
(out / f"log{rank}.txt").write_text("\n".join(lines))
torch.save(net.state_dict(), out / f"rank{rank}.pt")
torch.distributed.destroy_process_group()
