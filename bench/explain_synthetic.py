"""Importance maps against the synthetic task's ground truth (issue 13).

    hyperkit synthetic --experiment 1 --quick --out /tmp/explain-synth     # ~2.5 min
    python bench/explain_synthetic.py /tmp/explain-synth [--out results/explain]

On the run's test images (the run's own split of the seed-2017 data set) every method's
maps are scored against the overlaid patches' known positions
(:func:`hyperkit.tasks.explain.evaluate_synthetic`): cell AUROC and pointing game,
plus whether the maps rank an image's patches by eq. 3's alpha_i. The two-stage
variants are also scored with the other neutral vectors. Writes OUT/synthetic.json,
OUT/synthetic_maps.png and the 'explain-synthetic' section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from hyperkit.evaluation.importance import METHODS
from hyperkit.files import write_text
from hyperkit.tasks.explain import LABELS, evaluate_synthetic
from results import write_section

KEYS = ("auroc_pooled", "auroc_per_image", "pointing_game", "top_region_hit",
        "pair_concordance")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a folder written by `hyperkit synthetic`")
    ap.add_argument("--out", default="results/explain")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    res = {"run": str(args.run),
           "median": evaluate_synthetic(args.run, figure=out / "synthetic_maps.png")}
    for neutral in ("mean", "zero"):
        res[neutral] = evaluate_synthetic(args.run, ("gradient", "occlusion"), neutral=neutral)
    res["seconds"] = time.perf_counter() - t0
    res["machine"] = platform.processor() or platform.machine()
    write_text(out / "synthetic.json", json.dumps(res, indent=2))
    rows = ["| method | neutral | cell AUROC (pooled) | cell AUROC (per image) | pointing game "
            "| top-patch hit | patch pairs ordered |", "|---|---|---|---|---|---|---|"]
    for neutral in ("median", "mean", "zero"):
        for run in res[neutral]["runs"]:
            for m in METHODS:
                if m not in run:
                    continue
                n = "median patch score" if m == "patch_average" else neutral
                rows.append(f"| {LABELS[m]} | {n} | " +
                            " | ".join(f"{run[m][k]:.4f}" for k in KEYS) + " |")
    r0 = res["median"]["runs"][0]
    text = (f"## Importance maps against synthetic ground truth (bench/explain_synthetic.py)\n\n"
            f"Run `{args.run}` ({r0['model']}: {r0['test_images']} test images, "
            f"{r0['gradient']['region_images']} with >= 2 patches, "
            f"{r0['gradient']['region_pairs']} patch pairs); {res['seconds']:.0f} s.\n\n"
            + "\n".join(rows) + "\n")
    write_section("explain-synthetic", text)
    print(text)


if __name__ == "__main__":
    main()
