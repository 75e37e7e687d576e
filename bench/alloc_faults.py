"""Where the gather's speed against torch's ``unfold`` comes from (issue 19): page faults.

One process: the median over 30 interleaved rounds (rotating order, after 3 warm-up calls)
of hyperkit's gather of the stride-16 grid of 32 x 32 patches of 8 x 3 x 384 x 512 (a fresh
70 MB output a call), torch's ``unfold`` + copy of the same, filling a fresh tensor of that
size, and filling a reused one; and each call's minor page faults (``getrusage``). Prints one
JSON line, name -> [ms, faults]. Run it in fresh processes, with and without torch on huge
pages:

    export OMP_WAIT_POLICY=PASSIVE
    for i in 1 2 3 4 5 6 7 8; do python bench/alloc_faults.py; done
    for i in 1 2 3 4 5 6 7 8; do THP_MEM_ALLOC_ENABLE=1 python bench/alloc_faults.py; done
"""

from __future__ import annotations

import json
import resource
import statistics
import time

import torch

import hyperkit


def main() -> None:
    """Times the four cases in this process and prints name -> [median ms, median faults]."""
    torch.manual_seed(0)
    x = torch.rand(8, 3, 384, 512)
    u, v = hyperkit.grid_shape(384, 512, 32, 16)
    shape = (8 * u * v, 3, 32, 32)
    reused = torch.empty(shape)
    cases = {
        "gather": lambda: hyperkit.gather_patches(x, 32, (u, v)),
        "unfold": lambda: x.unfold(2, 32, 16).unfold(3, 32, 16).permute(0, 2, 3, 1, 4, 5)
        .reshape(-1, 3, 32, 32),
        "fill_fresh": lambda: torch.empty(shape).fill_(1.0),
        "fill_reused": lambda: reused.fill_(1.0),
    }
    for f in cases.values():
        for _ in range(3):
            f()
    names = list(cases)
    per: dict[str, list[float]] = {k: [] for k in names}
    faults: dict[str, list[int]] = {k: [] for k in names}
    for r in range(30):
        k0 = r % len(names)  # rotate: no case always runs first
        for k in names[k0:] + names[:k0]:
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t = time.perf_counter()
            out = cases[k]()
            per[k].append(time.perf_counter() - t)
            faults[k].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
            del out
    print(json.dumps({k: [round(1e3 * statistics.median(per[k]), 2),
                          statistics.median(faults[k])] for k in names}))


if __name__ == "__main__":
    main()
