"""Runs the kernel benchmarks and writes their section of bench/RESULTS.md (ratios from
one run); with ``--repeat N``, N runs in a row (separate processes) and the spread of every
ratio over them, the "kernel-stability" section (issue 19: are the ratios bimodal?).

    pip install -e ".[bench]" && python bench/run.py
    OMP_WAIT_POLICY=PASSIVE python bench/run.py --repeat 10

Run it alone: a second heavy process on the machine changes every ratio.
"""

from __future__ import annotations

import argparse
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


def run_once() -> dict[str, dict[str, float]]:
    """One pytest-benchmark process over bench/test_kernels.py: group -> implementation ->
    median seconds per call."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(HERE / "test_kernels.py"), f"--benchmark-json={out}",
                        "--benchmark-min-rounds=15"], check=True)
        data = json.loads(out.read_text())
    groups: dict[str, dict[str, float]] = {}
    for b in data["benchmarks"]:
        groups.setdefault(b["group"], {})[b["param"]] = b["stats"]["median"]
    return groups


def commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=HERE).stdout.strip() or "unknown"


def one_run_section(groups: dict[str, dict[str, float]]) -> list[str]:
    lines = ["## Kernel benchmarks", "",
             f"Measured {datetime.date.today()} at commit {commit()} with `python bench/run.py`.",
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
    return lines


def stability_section(runs: list[dict[str, dict[str, float]]]) -> list[str]:
    """Every ratio of every run, and the slowest run over the fastest (max / min)."""
    lines = ["## Kernel ratios over repeated runs (`OMP_WAIT_POLICY=PASSIVE python bench/run.py "
             f"--repeat {len(runs)}`; issue 19)", "",
             f"Measured {datetime.date.today()} at commit {commit()}, {len(runs)} runs in a row, "
             "each a fresh process, nothing else running.", f"Machine: {machine()}.", "",
             "ratio = alternative's median / hyperkit's median in that run; spread = largest "
             "/ smallest over the runs (the issue's bar: <= 1.3). hyperkit ms: its own median "
             "per call.", "",
             "| group | vs | ratios, run by run | spread |", "|---|---|---|---|"]
    figures = [{g: {n: t * 1e3 if n == "hyperkit" else t / times["hyperkit"]
                    for n, t in times.items()} for g, times in r.items()} for r in runs]
    return lines + spread_rows(figures)


def spread_rows(runs: list[dict[str, dict[str, float]]]) -> list[str]:
    """Table rows "| group | vs | per run | spread |" of per-run figures (group ->
    implementation -> hyperkit's ms, or an alternative's ratio to hyperkit); spread =
    largest / smallest over the runs."""
    rows = []
    for group in runs[0]:
        for name in runs[0][group]:
            vals = [r[group][name] for r in runs]
            label = "(hyperkit ms)" if name == "hyperkit" else name
            rows.append(f"| {group} | {label} | {', '.join(f'{v:.2f}' for v in vals)} | "
                        f"{max(vals) / min(vals):.2f} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs in a row; above 1 writes the kernel-stability section")
    a = ap.parse_args()
    if a.repeat < 1:
        raise SystemExit(f"--repeat must be >= 1, got {a.repeat}")
    runs = [run_once() for _ in range(a.repeat)]
    if a.repeat == 1:
        lines = one_run_section(runs[0])
        write_section("kernels", "\n".join(lines))
    else:
        lines = stability_section(runs)
        write_section("kernel-stability", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
