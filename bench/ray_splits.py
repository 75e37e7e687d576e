"""Issue 23: is `hyperkit iqa --executor ray` with single-thread workers, one per core,
slower than the sequential run over the same demo splits? One run of each, alone, wall
clock; the merged results must be identical (same seeds, CPU determinism per thread count
is not assumed: the comparison of metrics is reported, not asserted).

    python bench/ray_splits.py --splits 4 --out /tmp/ray-bench

Writes the section "ray-splits" of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch


def run(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--splits", type=int, default=4)
    ap.add_argument("--out", required=True, help="a scratch folder (replaced)")
    a = ap.parse_args()
    out = Path(a.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cores = os.cpu_count() or 2
    base = [sys.executable, "-m", "hyperkit.cli", "iqa", "--dataset", "demo", "--quick",
            "--splits", str(a.splits), "--no-progress"]
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    seq = run(base + ["--out", str(out / "sequential")], env)
    ray = run(base + ["--out", str(out / "ray"), "--executor", "ray",
                      "--cpus-per-split", "1"], env)
    res = {k: json.loads((out / k / "results.json").read_text())["summary"]
           for k in ("sequential", "ray")}
    same = json.dumps(res["sequential"], sort_keys=True) == json.dumps(res["ray"], sort_keys=True)
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                if ln.startswith("model name")), platform.machine())
    text = (f"## `hyperkit iqa --executor ray` against the sequential run "
            f"(`python bench/ray_splits.py --splits {a.splits} --out DIR`; issue 23)\n\n"
            f"{cpu}, {cores} cores, torch {torch.__version__}; `hyperkit iqa --dataset demo "
            f"--quick --splits {a.splits}`, each run alone, once; Ray: one task per split, "
            f"1 CPU and 1 torch thread each ({cores} at once); sequential: one process, "
            f"{torch.get_num_threads()} threads.\n\n"
            f"| run | wall s |\n|---|---|\n| sequential | {seq:.0f} |\n| ray | {ray:.0f} |\n\n"
            f"Ray / sequential: {ray / seq:.2f}. Merged summaries identical: "
            f"{'yes' if same else 'no (thread counts differ: float sums in another order)'}.\n")
    print(text)
    sys.path.insert(0, str(Path(__file__).parent))
    from results import write_section

    write_section("ray-splits", text)


if __name__ == "__main__":
    main()
