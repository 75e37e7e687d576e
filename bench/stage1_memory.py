"""Peak memory of stage-1 training on synthetic images, as the patch count grows.

Each configuration runs in a fresh process: generate the images, reset the kernel's
peak-RSS counter (/proc/self/clear_refs), train the synthetic stage 1 for one epoch on
every grid patch of the training split (60/20/20), and report the peak resident set
size during training (VmHWM) next to the RSS just before it (VmRSS). The grid, not the image
count, sets the patches per image, so a flat peak across grids means memory no longer
grows with the number of patches.

    python bench/stage1_memory.py                      # this checkout
    PYTHONPATH=/path/to/old/checkout python bench/stage1_memory.py --label before
    (then both rows are in bench/RESULTS.md, section stage1-memory)
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
STATE = HERE / "stage1_memory.json"


def _status_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status, KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(images: int, grid: int) -> None:
    """Trains one epoch and prints a JSON line with the peak RSS."""
    import torch

    import hyperkit
    try:  # the layout since the restructure
        from hyperkit.data import synthetic
        from hyperkit.data.splits import random_split as split
        from hyperkit.training.config import stage1_config
        from hyperkit.training.recipes import train_stage1
    except ImportError:  # the flat layout before it, to measure "before"
        from hyperkit.synthetic import split
        from hyperkit.train import stage1_config
        from hyperkit.twostage import train_stage1

        from hyperkit import synthetic

    torch.set_num_threads(2)
    d = synthetic.generate(images, seed=2017)
    tr, va, _ = split(len(d), 0)
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS (Linux >= 4.0)
    base = _status_kib("VmRSS")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as wd:
        train_stage1(d.images[tr], d.scores[tr], d.images[va], d.scores[va],
                     stage1_arch="synthetic_stage1", patch=(16, 16), grid=(grid, grid),
                     lcn=False, config=stage1_config(epochs=1, batch_size=128), workdir=wd,
                     device="cpu", log=None, progress=False)
    peak = _status_kib("VmHWM")
    print(json.dumps({"images": images, "grid": grid, "train_patches": len(tr) * grid * grid,
                      "peak_rss_mib": peak / 1024, "rss_before_training_mib": base / 1024,
                      "seconds": time.perf_counter() - t0,
                      "hyperkit": getattr(hyperkit, "__version__", "?")}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--grids", type=int, nargs="*", default=[10, 20],
                    help="grids to measure (none: rewrite the report from stage1_memory.json)")
    ap.add_argument("--label", default="after", help="row label (e.g. before / after)")
    ap.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    rows = json.loads(STATE.read_text()) if STATE.exists() else {}
    for g in args.grids:
        out = subprocess.run([sys.executable, __file__, "--child", str(args.images), str(g)],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(args.label, r)
        rows[f"{args.label} grid {g}"] = {"label": args.label, **r}
    STATE.write_text(json.dumps(rows, indent=2))
    write_report(rows)


def write_report(rows: dict) -> None:
    """The stage-1-memory section of bench/RESULTS.md from the measured rows."""
    from results import write_section

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    lines = ["## Stage-1 training memory (`python bench/stage1_memory.py`)", "",
             f"Synthetic stage 1, one epoch on every grid patch of the training split, "
             f"16 x 16 patches, batch 128, CPU. Machine: {cpu}. Each row is a fresh process; "
             "peak RSS is the high-water mark during training (VmHWM after resetting it once "
             "the images exist); 'before' is the flat layout (commit bebb8ff) that materialized "
             "every patch, 'after' streams patches from the images. 'growth' is what training adds "
             "to the process: it grows with the patch count before and stays flat after.", "",
             "| code | images | grid | training patches | RSS before training MiB "
             "| peak RSS in training MiB | growth MiB | seconds (1 epoch) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows.values():
        lines.append(f"| {r['label']} | {r['images']} | {r['grid']}x{r['grid']} | "
                     f"{r['train_patches']:,} | {r['rss_before_training_mib']:.0f} | "
                     f"{r['peak_rss_mib']:.0f} | "
                     f"{r['peak_rss_mib'] - r['rss_before_training_mib']:.0f} | "
                     f"{r['seconds']:.0f} |")
    write_section("stage1-memory", "\n".join(lines))


if __name__ == "__main__":
    main()
