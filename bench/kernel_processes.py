"""Kernel times over fresh processes (issue 19): is the spread between runs a property of
the process (page placement, thread start-up) rather than of the kernel?

Each configuration runs ``--runs`` fresh Python processes in a row; each times the median
of 30 calls (after 3 warm-up calls) of hyperkit's LCN (8 x 3 x 384 x 512), min+max
(512 x 50 x 26 x 26) and gather (8 x 3 x 384 x 512 -> 23 x 31 of 32 x 32) and prints them.
Configurations: 2 and 1 OpenMP threads, each with and without ``THP_MEM_ALLOC_ENABLE=1``
(torch backs large tensors with transparent huge pages where the kernel allows madvise).

    OMP_WAIT_POLICY=PASSIVE python bench/kernel_processes.py --runs 8

Run it alone: another heavy process on the machine is the largest source of spread.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

ONE = r"""
import statistics, time, torch, hyperkit
torch.manual_seed(0)
x, m = torch.rand(8, 3, 384, 512), torch.randn(512, 50, 26, 26)
def med(f):
    for _ in range(3): f()
    ts = []
    for _ in range(30):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return 1e3 * statistics.median(ts)
print(med(lambda: hyperkit.lcn(x)), med(lambda: hyperkit.minmax_pool2d(m)),
      med(lambda: hyperkit.gather_patches(x, 32, (23, 31))))
"""
CONFIGS = {"2 threads": {}, "2 threads, huge pages": {"THP_MEM_ALLOC_ENABLE": "1"},
           "1 thread": {"OMP_NUM_THREADS": "1"},
           "1 thread, huge pages": {"OMP_NUM_THREADS": "1", "THP_MEM_ALLOC_ENABLE": "1"}}
KERNELS = ("LCN", "min+max", "gather")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=8, help="fresh processes per configuration")
    a = ap.parse_args()
    if a.runs < 2:
        raise SystemExit(f"--runs must be >= 2, got {a.runs}")
    print("| configuration | " + " | ".join(f"{k} ms (spread)" for k in KERNELS) + " |")
    print("|---|" + "---|" * len(KERNELS))
    for name, env in CONFIGS.items():
        times = []
        for _ in range(a.runs):
            out = subprocess.run([sys.executable, "-c", ONE], env={**os.environ, **env},
                                 capture_output=True, text=True, check=True).stdout
            times.append([float(v) for v in out.split()])
        cells = []
        for k in range(len(KERNELS)):
            col = [t[k] for t in times]
            cells.append(f"{min(col):.2f}-{max(col):.2f} ({max(col) / min(col):.2f})")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
