"""Where one stage-1 training step spends its time, part by part (issue 19).

Kang et al.'s stage 1 on 32 x 32 RGB patches cut from LCN-normalized 192 x 256 images
(the demo's size) at random positions, with the paper's SGD: per batch, the time of
the patch gather, the forward pass, the backward pass and the optimizer step, and the
patches per second of the whole loop. A second table splits forward + backward by
operator (torch.profiler, self CPU time).

    python bench/stage1_profile.py --batch 128 --steps 200
    OMP_WAIT_POLICY=PASSIVE python bench/stage1_profile.py      # see bench/RESULTS.md

Run it alone: two torch processes on 2 cores slow each other down several-fold.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from hyperkit.nets.kang import KangStage1
from hyperkit.patches import PositionedPatches
from hyperkit.training.objectives import MAE


def cpu_name() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def source(images: int, seed: int) -> PositionedPatches:
    """Random training rows over ``images`` LCN-normalized random-texture images."""
    from hyperkit.ops.lcn import lcn

    rng = np.random.default_rng(seed)
    ims = [lcn(torch.from_numpy(rng.random((3, 192, 256), dtype=np.float32)))
           for _ in range(images)]
    n = 50_000
    return PositionedPatches(ims, (32, 32), rng.integers(0, images, n),
                             rng.integers(0, 192 - 32, n), rng.integers(0, 256 - 32, n),
                             rng.normal(60, 15, n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--images", type=int, default=64)
    a = ap.parse_args()
    torch.manual_seed(0)
    src = source(a.images, 0)
    net = KangStage1(3)
    opt = torch.optim.SGD(net.parameters(), lr=0.005, momentum=0.9, nesterov=True)
    order = np.random.default_rng(1).permutation(len(src))
    parts = dict(gather=0.0, forward=0.0, backward=0.0, optimizer=0.0)

    def step(i: int, timed: bool) -> None:
        t0 = time.perf_counter()
        (x,), y = src.batch(order[(i * a.batch) % (len(order) - a.batch):][:a.batch])
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = MAE()(net(x), y)
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        opt.step()
        loss.item()
        t4 = time.perf_counter()
        if timed:
            for k, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                parts[k] += dt

    for i in range(10):
        step(i, False)
    t = time.perf_counter()
    for i in range(a.steps):
        step(i, True)
    total = time.perf_counter() - t
    print(f"CPU {cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, batch {a.batch}")
    print(f"{a.steps * a.batch / total:,.0f} patches/s")
    print("| part | share |\n|---|---|")
    for k, v in parts.items():
        print(f"| {k} | {100 * v / total:.0f} % |")
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(20):
            step(i, False)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
