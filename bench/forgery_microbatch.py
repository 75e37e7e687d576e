"""Forgery stage-1 training speed against the micro-batch size (issue 19): one step of
64 random patch pairs through the quick channel's SiameseRanker, forward and backward,
split into micro-batches whose gradients add up to the step's (the ranking hinge is a
mean over pairs). Prints patches/s per micro-batch size; nothing is trained.

    python bench/forgery_microbatch.py
"""

from __future__ import annotations

import time

import torch

from hyperkit import nets
from hyperkit.nets.siamese import SiameseRanker
from hyperkit.tasks.forgery.settings import QUICK_CHANNEL
from hyperkit.training.objectives import RankingHinge

PAIRS = 64  # the quick setting's stage-1 batch


def main() -> None:
    torch.manual_seed(0)
    ranker = SiameseRanker(nets.build(QUICK_CHANNEL)).train()
    loss = RankingHinge(3.0)
    x1, x2 = torch.rand(PAIRS, 3, 64, 64), torch.rand(PAIRS, 3, 64, 64)
    y = torch.sign(torch.randn(PAIRS))

    def step(micro: int) -> None:
        ranker.zero_grad()
        for i in range(0, PAIRS, micro):
            part = slice(i, i + micro)
            share = min(micro, PAIRS - i) / PAIRS  # the mean over the whole step
            (loss(ranker(x1[part], x2[part]), y[part]) * share).backward()

    for micro in (64, 32, 16, 8, 64, 16):
        step(micro)  # warm-up
        t = time.perf_counter()
        for _ in range(5):
            step(micro)
        rate = 5 * 2 * PAIRS / (time.perf_counter() - t)
        print(f"micro-batches of {micro} pairs: {rate:.0f} patches/s (forward + backward)")


if __name__ == "__main__":
    main()
