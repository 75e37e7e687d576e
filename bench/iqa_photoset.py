"""Stage 1 (and the paper's stage 2) of every split of the photo set, for bench/iqa_heads.py.

The photo set of bench/make_photo_set.py is made at the demo's 192 x 256, so it is trained
on the demo's 11 x 15 grid and networks (``--dataset csv`` would take TID2013's 23 x 31
grid, made for 384 x 512 images: four times the patches). The quick setting, with
``--stage1-epochs`` stage-1 epochs (issue 18's runs: 8).

    python bench/make_photo_set.py --out ~/data/hyperkit-photoset
    python bench/iqa_photoset.py --root ~/data/hyperkit-photoset --out runs/photo5 --splits 5
    python bench/iqa_heads.py --run runs/photo5 --root ~/data/hyperkit-photoset --seeds 3 \\
        --variants weighted,grid --section iqa-heads-photoset
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from hyperkit.data.iqa.demo import read_demo
from hyperkit.tasks.iqa import SETTINGS, Options, run_iqa


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True, help="the photo set (bench/make_photo_set.py)")
    ap.add_argument("--out", required=True, help="the run folder")
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--stage1-epochs", type=int, default=8)
    ap.add_argument("--methods", default="cnn_selective,two_stage",
                    help="arms (default: the stage 1 and the paper's stage 2 that "
                         "bench/iqa_heads.py reads)")
    a = ap.parse_args()
    table = read_demo(a.root)  # the demo's layout and labels
    setting = replace(SETTINGS["quick"], stage1_epochs=a.stage1_epochs)
    run_iqa(table, "demo", None, setting, a.out,
            Options(splits=a.splits, arms=tuple(a.methods.split(","))), resume=True,
            device="cpu", progress=False)


if __name__ == "__main__":
    main()
