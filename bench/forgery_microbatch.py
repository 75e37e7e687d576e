"""Forgery stage-1 training speed against the micro-batch size and the memory format
(issue 19): one step of 64 random patch pairs through the quick channel's SiameseRanker,
forward and backward, split into micro-batches whose gradients add up to the step's (the
ranking hinge is a mean over pairs), with the network and the patches in NCHW or in
channels-last. Prints patches/s per case, and how far channels-last's gradients are from
NCHW's; nothing is trained.

    python bench/forgery_microbatch.py [--formats nchw,channels_last] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from hyperkit import nets
from hyperkit.nets.siamese import SiameseRanker
from hyperkit.tasks.forgery.settings import QUICK_CHANNEL
from hyperkit.training.objectives import RankingHinge

PAIRS = 64  # the quick setting's stage-1 batch
FORMATS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--formats", default="nchw,channels_last")
    ap.add_argument("--micro", default="64,32,16,8", help="micro-batch sizes in pairs")
    ap.add_argument("--repeats", type=int, default=2, help="passes over every case (>= 1)")
    a = ap.parse_args()
    formats = a.formats.split(",")
    if not formats or any(f not in FORMATS for f in formats):
        raise SystemExit(f"--formats must name some of {sorted(FORMATS)}, got {a.formats!r}")
    micros = [int(m) for m in a.micro.split(",")]
    if a.repeats < 1 or any(m < 1 for m in micros):
        raise SystemExit("--repeats and every --micro size must be >= 1")
    torch.manual_seed(0)
    ranker = SiameseRanker(nets.build(QUICK_CHANNEL)).eval()  # eval: no dropout, comparable
    loss = RankingHinge(3.0)
    x1, x2 = torch.rand(PAIRS, 3, 64, 64), torch.rand(PAIRS, 3, 64, 64)
    y = torch.sign(torch.randn(PAIRS))

    inputs = {f: (x1.contiguous(memory_format=FORMATS[f]),
                  x2.contiguous(memory_format=FORMATS[f])) for f in formats}

    def step(micro: int, f: str) -> list[torch.Tensor]:
        """One step in format ``f`` (the ranker must already be in it)."""
        a1, a2 = inputs[f]
        ranker.zero_grad()
        for i in range(0, PAIRS, micro):
            part = slice(i, i + micro)
            share = min(micro, PAIRS - i) / PAIRS  # the mean over the whole step
            (loss(ranker(a1[part], a2[part]), y[part]) * share).backward()
        return [p.grad.clone() for p in ranker.parameters()]

    grads = {}
    for f in formats:
        ranker.to(memory_format=FORMATS[f])
        grads[f] = step(16, f)
    if len(grads) == 2:
        diff = max(float((g - h).abs().max()) for g, h in zip(*grads.values()))
        scale = max(float(g.abs().max()) for g in grads["nchw"])
        print(f"largest gradient difference channels_last - nchw: {diff:.2e} "
              f"(largest gradient {scale:.2e})")
    for _ in range(a.repeats):
        for f in formats:
            ranker.to(memory_format=FORMATS[f])  # once per format, outside the timing
            for micro in micros:
                step(micro, f)  # warm-up
                t = time.perf_counter()
                for _ in range(5):
                    step(micro, f)
                rate = 5 * 2 * PAIRS / (time.perf_counter() - t)
                print(f"{f}, micro-batches of {micro} pairs: {rate:.0f} patches/s "
                      "(forward + backward)", flush=True)


if __name__ == "__main__":
    main()
