"""Selective patch training: the SSIM threshold, measured on the demo data.

The paper keeps "patches that have low SSIM scores" without a number. This runs the
quick demo's stage 1 (patch averaging) once per threshold, and once without selection
(Kang et al.: every patch, the image's score), on the same split and seed, and reports
test SROCC overall, on uniform and on local distortions, with the patch counts. Writes
the 'iqa-threshold' section of bench/RESULTS.md and bench/iqa_threshold.json.

    python bench/iqa_threshold.py --out /tmp/iqa-threshold --thresholds 0.7,0.8,0.9,0.95
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from hyperkit.data.iqa.demo import load_demo
from hyperkit.devices import describe_machine
from hyperkit.tasks.iqa import Options, run_iqa
from results import write_section


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="a folder for the runs")
    ap.add_argument("--thresholds", default="0.7,0.8,0.9,0.95")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    table = load_demo(log=None)
    rows = []
    runs = [("none", "cnn", None)] + [(t, "cnn_selective", float(t))
                                      for t in args.thresholds.split(",")]
    for label, arm, thr in runs:
        out = Path(args.out) / f"thr-{label}"
        t0 = time.perf_counter()
        opts = Options(seed=args.seed, arms=(arm,), **({"ssim_threshold": thr} if thr else {}))
        res = run_iqa(table, "demo", None, "quick", out, opts, resume=True, progress=False,
                      log=lambda s: None)
        m = res["runs"][0]["metrics"][arm]
        rows.append({"threshold": label, "arm": arm, "srocc": m["srocc"], "plcc": m["plcc"],
                     "uniform": m["per_extent"]["uniform"], "local": m["per_extent"]["local"],
                     "patches": m["patches"]["train"], "seconds": time.perf_counter() - t0})
        print(rows[-1], flush=True)
    machine = describe_machine()
    Path(__file__).with_name("iqa_threshold.json").write_text(
        json.dumps({"rows": rows, "machine": machine}, indent=2))
    lines = ["## Selective patch training: SSIM threshold (`python bench/iqa_threshold.py`)", "",
             f"Machine: {machine.get('cpu', '?')}, torch {torch.__version__}. Demo data, "
             "quick setting, split 0, seed 0; stage 1 + patch averaging on the test images.",
             "", "| SSIM threshold | distorted patches kept | training patches | test SROCC | "
             "uniform | local | PLCC |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        p = r["patches"]
        kept = (f"{p['distorted_kept']} / {p['distorted_total']}" if "distorted_kept" in p
                else "all (no selection, no references)")
        lines.append(f"| {r['threshold']} | {kept} | {p['rows']} | {r['srocc']:.3f} | "
                     f"{r['uniform']:.3f} | {r['local']:.3f} | {r['plcc']:.3f} |")
    write_section("iqa-threshold", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
