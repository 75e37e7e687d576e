"""How much of a forgery run's score is the image's content? (issue 20)

Reads a finished run's test predictions (seed<s>/predictions.npz) and groups each test
image by the source photograph its name records (the demo's ``Au_<src>_<n>`` and
``Tp_D_<...>_<src><n>_<donor><n>_<n>``, CASIA v2's category codes alike). Prints, over the
seeds:

* the mean P(authentic) of the authentic and of the tampered test images per source: an
  offset shared by both classes of one source is content, not evidence of tampering;
* ROC AUC over all (authentic, tampered) test pairs, over pairs on the same source, and
  over pairs across sources (per seed, then averaged): when same-source pairs rank much
  better, the content offset costs the difference.

    python bench/forgery_content.py results/forgery/demo-quick-10seeds-views --out OUT.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


def source(name: str) -> str:
    """Source photograph code of a CASIA-style file name (3 letters): the category
    after ``Au_``, or the background (target) category of a ``Tp_`` name."""
    parts = Path(name).stem.split("_")
    if parts[0] == "Au" and len(parts) >= 2:
        return parts[1][:3]
    if parts[0] == "Tp" and len(parts) >= 6:
        return parts[5][:3]
    raise ValueError(f"{name!r} is not a CASIA v2 style name (Au_<cat>_... or Tp_D_..._<src>_...)")


def pair_aucs(score: np.ndarray, true: np.ndarray, src: np.ndarray) -> dict[str, float]:
    """ROC AUC (ties count half) over all, same-source and cross-source pairs of one test
    set; NaN where a group has no pair."""
    a, t = np.where(true == 1)[0], np.where(true == 0)[0]
    win = (score[a][:, None] > score[t][None, :]) + 0.5 * (score[a][:, None] == score[t][None, :])
    same = src[a][:, None] == src[t][None, :]
    def mean(m: np.ndarray) -> float:
        return float(win[m].mean()) if m.any() else float("nan")
    return {"all": mean(np.ones_like(same)), "same_source": mean(same),
            "cross_source": mean(~same), "same_source_pairs": int(same.sum())}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--approach", default="two_stage")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    files = sorted(args.run.glob("seed*/predictions.npz"))
    if not files:
        raise SystemExit(f"{args.run}: no seed*/predictions.npz")
    per_seed, by_source = [], defaultdict(list)
    for f in files:
        d = np.load(f)
        src = np.array([source(str(p)) for p in d["path"]])
        y, s = np.asarray(d["true"]), np.asarray(d[args.approach], np.float64)
        per_seed.append(pair_aucs(s, y, src))
        for c, yy, ss in zip(src, y, s):
            by_source[f"{'authentic' if yy == 1 else 'tampered'} {c}"].append(float(ss))
    means = {k: float(np.nanmean([r[k] for r in per_seed]))
             for k in ("all", "same_source", "cross_source")}
    for k in sorted(by_source, key=lambda k: (k.split()[1], k)):
        print(f"{k:16s} {len(by_source[k]):3d} images, mean P(authentic) "
              f"{np.mean(by_source[k]):.3f}")
    print(", ".join(f"{k} pairs AUC {v:.3f}" for k, v in means.items()))
    if args.out:
        args.out.write_text(json.dumps({
            "run": str(args.run), "approach": args.approach, "pairs": means,
            "per_seed": per_seed,
            "mean_by_source": {k: float(np.mean(v)) for k, v in by_source.items()},
            "images_by_source": {k: len(v) for k, v in by_source.items()},
            "command": " ".join(map(str, sys.argv))}, indent=1))


if __name__ == "__main__":
    main()
