"""Importance maps against the NR-IQA demo's known distortion regions (issue 13).

    hyperkit iqa --dataset demo --quick --out RUN
    python bench/explain_iqa_demo.py RUN

On split 0's test images with a local distortion, the two-stage model's maps (every
method of hyperkit.evaluation.importance) are scored against the region masks the demo
generator kept: cell AUROC of importance against "the cell overlaps a distorted
region", and the pointing game. Importance is taken as |map|: a distorted region lowers
the score. Writes the 'explain-iqa-demo' section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from hyperkit.data.iqa.demo import read_demo
from hyperkit.evaluation.importance import METHODS, evaluate_localization
from hyperkit.images import read_image
from hyperkit.model import TwoStage
from results import write_section


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a folder written by `hyperkit iqa --dataset demo`")
    args = ap.parse_args()
    run = Path(args.run)
    cfg = json.loads((run / "config.json").read_text())
    root = Path(cfg["table"]["root"])
    table = read_demo(root)
    test = json.loads((run / "splits.json").read_text())["splits"][0]["test"]
    local = [i for i in test if table.dist_types[i].endswith("/local")]
    images = [read_image(table.images[i]) for i in local]
    masks = [read_image(root / "masks" / table.images[i].name) > 127 for i in local]
    model = TwoStage.load(run / "split0" / "models" / "two_stage")
    res = evaluate_localization(model, images, masks, tuple(METHODS))
    print(json.dumps(res, indent=2))
    keys = [k for k in ("auroc_pooled", "auroc_per_image", "pointing_game")
            if k in next(iter(res.values()))]
    lines = ["## Importance maps against the NR-IQA demo's distortion regions "
             "(`python bench/explain_iqa_demo.py RUN`)", "",
             f"Run: `hyperkit iqa --dataset demo --quick`, split 0, its {len(local)} test "
             f"images with a local distortion; chance: AUROC 0.5, pointing game "
             f"{np.mean([m.mean() for m in masks]):.2f} (mean region share, pixels).", "",
             "| method | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for m, r in res.items():
        lines.append(f"| {m} | " + " | ".join(f"{r[k]:.3f}" for k in keys) + " |")
    write_section("explain-iqa-demo", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
