"""Does this machine's speed drift within one process (issue 19: kernel ratios that hold)?

One process times, block after block for ``--seconds``, the median of 9 calls of
hyperkit's LCN, OpenCV's LCN composite and hyperkit's patch gather on the kernel
benchmarks' TID-sized input (bench/kernel_cases.py), and prints one line per block. If
every implementation's time moves over the blocks, by different factors, no ratio of two of
them can hold to 1.3 from one run to the next, however the runs are timed.

    OMP_WAIT_POLICY=PASSIVE python bench/kernel_drift.py --seconds 90

Run it alone.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from kernel_cases import gather_cases, lcn_cases, tid_images


def median_ms(fn: Callable[[], object], calls: int = 9) -> float:
    """Median milliseconds of ``calls`` calls of ``fn``."""
    ts = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return 1e3 * statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=90.0, help="how long to keep timing (> 0)")
    a = ap.parse_args()
    if not a.seconds > 0:
        raise SystemExit(f"--seconds must be > 0, got {a.seconds}")
    x = tid_images()
    lcn, gather = lcn_cases(x), gather_cases(x)
    fns = {"hyperkit lcn": lcn["hyperkit"], "opencv lcn": lcn["opencv"],
           "hyperkit gather": gather["hyperkit"]}
    for fn in fns.values():  # warm-up: first-touch page faults of the first outputs
        for _ in range(3):
            fn()
    rows: dict[str, list[float]] = {name: [] for name in fns}
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < a.seconds:
        for name, fn in fns.items():
            rows[name].append(median_ms(fn))
        print(f"{time.perf_counter() - t0:5.1f} s  " + "  ".join(
            f"{name} {v[-1]:6.2f} ms" for name, v in rows.items()), flush=True)
    print("over the blocks (min-max, largest / smallest): " + "; ".join(
        f"{name} {min(v):.2f}-{max(v):.2f} ms ({max(v) / min(v):.2f})" for name, v in rows.items()))


if __name__ == "__main__":
    main()
