"""Kernel ratios timed interleaved and paired by round (issue 19: ratios that hold from
run to run).

``bench/run.py`` (pytest-benchmark) times hyperkit for about a second, then each
alternative for about a second: on a virtual machine whose speed drifts over seconds, the
two medians come from different moments and their ratio carries the drift. Here every
round calls each implementation of a group once, in an order that rotates from round to
round, and the ratio of a round is alternative / hyperkit within that round; the figure is
the median over rounds. A slow phase that spans a round slows both sides of its ratio.

One process per run (``--runs``), each a fresh interpreter, nothing else running:

    OMP_WAIT_POLICY=PASSIVE python bench/kernel_ratios.py --runs 10 --rounds 60

writes the section "kernel-ratios-interleaved" of bench/RESULTS.md (every run's ratios and
their spread, largest / smallest: the issue's bar is <= 1.3) and, with ``--out``, JSON.

``--torch-huge-pages`` runs the children with ``THP_MEM_ALLOC_ENABLE=1`` (section
"kernel-ratios-thp"): torch then backs its large CPU tensors with transparent huge pages,
as hyperkit's outputs already are (they are numpy allocations, :func:`hyperkit.interop.empty`).
Without it an alternative that returns a fresh 70 MB tensor pays about 17,000 page faults a
call, so its time, and the ratio, measure the allocator as much as the kernel.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from run import commit, machine, spread_rows

from results import write_section

HERE = Path(__file__).parent


def one_run(rounds: int, warmup: int) -> dict[str, dict[str, list[float]]]:
    """In this process: group -> implementation -> seconds per call, one per round."""
    import torch
    from kernel_cases import all_cases

    times: dict[str, dict[str, list[float]]] = {}
    with torch.no_grad():
        for group, cases in all_cases().items():
            names = list(cases)
            for fn in cases.values():
                for _ in range(warmup):
                    fn()
            per = {name: [] for name in names}
            for r in range(rounds):
                k = r % len(names)  # rotate: no implementation always runs first
                for name in names[k:] + names[:k]:
                    t = time.perf_counter()
                    cases[name]()
                    per[name].append(time.perf_counter() - t)
            times[group] = per
    return times


def ratios(per: dict[str, list[float]]) -> dict[str, float]:
    """Median over rounds of alternative / hyperkit (paired within each round); for
    hyperkit itself, its median milliseconds per call."""
    ours = per["hyperkit"]
    out = {"hyperkit": 1e3 * statistics.median(ours)}
    for name, ts in per.items():
        if name != "hyperkit":
            out[name] = statistics.median(t / o for t, o in zip(ts, ours))
    return out


def section(runs: list[dict[str, dict[str, float]]], argv: str, machine: str,
            commit: str, huge_pages: bool = False) -> list[str]:
    """The RESULTS.md section: every run's figures per group and implementation."""
    title = "Kernel ratios" + (" with torch on huge pages" if huge_pages else "")
    lines = [f"## {title}, interleaved and paired by round (`OMP_WAIT_POLICY=PASSIVE "
             f"python bench/kernel_ratios.py {argv}`; issue 19)", "",
             f"Measured {datetime.date.today()} at commit {commit}, {len(runs)} runs in a row, "
             "each a fresh process, nothing else running.", f"Machine: {machine}.", "",
             "ratio = median over rounds of (alternative's time / hyperkit's time in the same "
             "round); spread = largest / smallest over the runs (the issue's bar: <= 1.3). "
             "hyperkit ms: its own median per call.", "",
             "| group | vs | per run | spread |", "|---|---|---|---|"]
    return lines + spread_rows(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10, help="fresh processes in a row (>= 1)")
    ap.add_argument("--rounds", type=int, default=60, help="rounds per group (>= 5)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed calls first (>= 0)")
    ap.add_argument("--out", type=Path, help="also write every run's figures here (JSON)")
    ap.add_argument("--torch-huge-pages", action="store_true",
                    help="THP_MEM_ALLOC_ENABLE=1 in the runs: torch's large tensors on "
                    "transparent huge pages, like hyperkit's outputs")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    for name, low in (("runs", 1), ("rounds", 5), ("warmup", 0)):
        if getattr(a, name) < low:
            raise SystemExit(f"--{name} must be >= {low}, got {getattr(a, name)}")
    if a.child:  # one run, figures to stdout
        print(json.dumps({g: ratios(p) for g, p in one_run(a.rounds, a.warmup).items()}))
        return
    runs = []
    for i in range(a.runs):
        out = subprocess.run([sys.executable, __file__, "--child", "--rounds", str(a.rounds),
                              "--warmup", str(a.warmup)], capture_output=True, text=True,
                             check=True, cwd=HERE,  # bench/ is the child's sys.path[0]
                             env={**os.environ, "THP_MEM_ALLOC_ENABLE": "1"}
                             if a.torch_huge_pages else None)
        runs.append(json.loads(out.stdout))
        print(f"run {i + 1}/{a.runs}: " + "; ".join(
            f"{g.split()[0]} " + ", ".join(f"{n} {v:.2f}" for n, v in r.items())
            for g, r in runs[-1].items()), flush=True)
    argv = f"--runs {a.runs} --rounds {a.rounds}" + (" --torch-huge-pages" * a.torch_huge_pages)
    lines = section(runs, argv, machine(), commit(), a.torch_huge_pages)
    write_section("kernel-ratios-thp" if a.torch_huge_pages else "kernel-ratios-interleaved",
                  "\n".join(lines))
    if a.out:
        a.out.write_text(json.dumps({"machine": machine(), "commit": commit(),
                                     "torch_huge_pages": a.torch_huge_pages, "runs": runs},
                                    indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
