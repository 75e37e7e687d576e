"""Runs the kernel benchmarks and writes their section of bench/RESULTS.md (ratios from
one run).

    pip install -e ".[bench]" && python bench/run.py
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from results import write_section

HERE = Path(__file__).parent


def machine() -> str:
    import torch

    import hyperkit
    from hyperkit import _C

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, hyperkit OpenMP threads {_C.get_num_threads()}, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"Python {platform.python_version()}, CUDA kernels usable: {hyperkit.cuda_available()}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(HERE / "test_kernels.py"), f"--benchmark-json={out}",
                        "--benchmark-min-rounds=15"], check=True)
        data = json.loads(out.read_text())
    groups: dict[str, dict[str, float]] = {}
    for b in data["benchmarks"]:
        groups.setdefault(b["group"], {})[b["param"]] = b["stats"]["median"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=HERE).stdout.strip() or "unknown"
    lines = ["## Kernel benchmarks", "",
             f"Measured {datetime.date.today()} at commit {commit} with `python bench/run.py`.",
             f"Machine: {machine()}.", "",
             "Median time per call; ratio = alternative's median / hyperkit's median "
             "(above 1: hyperkit is faster). All rows of a group ran in one process on one input.",
             ""]
    for group, times in groups.items():
        ours = times["hyperkit"]
        lines += [f"### {group}", "", "| implementation | median ms | ratio |", "|---|---|---|"]
        for name, t in sorted(times.items(), key=lambda kv: kv[1]):
            lines.append(f"| {name} | {t * 1e3:.2f} | {t / ours:.2f} |")
        lines.append("")
    write_section("kernels", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
