"""Does a forgery run's stage 1 rank natural edges of authentic images as tampered?
(issue 20: the hypothesis behind ``--edge-negatives``.)

For each seed of a finished ``hyperkit forgery`` run, its stage-1 ranker (best weights of
seed<s>/work/stage1.ckpt) ranks the validation pairs three ways, each pair's 15 samples
with the run's fixed order (no mirror, no jitter):

* ``same``: authentic and tampered patch at the same contour point (what stage 1 trains
  on; the run's ``val_ranking_accuracy``);
* ``edge``: the authentic image's patch at one of its strongest natural edges
  (:func:`hyperkit.data.forgery.contours.edge_tops`) against the tampered contour patch;
* ``random``: the authentic image's patch at a random position against it.

Accuracy is the share of samples where d ranks the authentic patch as more authentic.
When ``edge`` falls far below ``same``, stage 1 reads natural edges as seams, and an
authentic image with strong edges looks tampered to stage 2.

    python bench/forgery_edge_pairs.py --run RUN --out results/forgery/edge-pairs.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from forgery_stage2 import load_ranker  # bench/ is on sys.path when a script runs

from hyperkit.data.forgery import casia2, contours
from hyperkit.data.forgery.pairs import SiamesePairs
from hyperkit.devices import describe_machine
from hyperkit.images import read_image
from hyperkit.runs import library_versions
from hyperkit.tasks.forgery.seed import ranking_accuracy
from hyperkit.tasks.forgery.settings import PATCH, Setting


def seed_accuracy(run: Path, data: casia2.Casia2, st: Setting, seed: int) -> dict:
    """{'same'|'edge'|'random': ranking accuracy} on seed ``seed``'s validation pairs."""
    paths, _, groups = data.classification_set()
    _, va, _ = casia2.grouped_split(groups, seed)
    val = {str(paths[i]) for i in va}
    known = json.loads((run / "contours.json").read_text())
    # in the data set's pair order, as the run's stage 1 took them: the fixed orders
    # (y) follow the sample index
    pos = {t: known[t] for t in (str(p.tampered) for p in data.pairs)
           if t in val and "tops" in known.get(t, {})}
    if not pos:
        raise SystemExit(f"seed {seed}: no validation pair of {data.root} has contour "
                         f"positions in {run / 'contours.json'} (was the run made with "
                         "another --data path?)")
    pairs = [(v["authentic"], t) for t, v in pos.items()]
    tops = [np.asarray(v["tops"]) for v in pos.values()]
    n = len(tops[0])
    rng = np.random.default_rng(seed)
    edge, rand = [], []
    for a, _ in pairs:
        im = read_image(a)
        h, w = im.shape[:2]
        edge.append(contours.edge_tops(im, n, PATCH))
        rand.append(np.stack([rng.integers(0, h - PATCH + 1, n),
                              rng.integers(0, w - PATCH + 1, n)], 1))
    mean = json.loads((run / f"seed{seed}" / "work" / "patch_mean.json").read_text())
    ranker = load_ranker(run, seed, st)
    out = {"val_pairs": len(pairs)}
    for name, at in (("same", None), ("edge", edge), ("random", rand)):
        src = SiamesePairs(pairs, tops, patch=PATCH, mean=mean, seed=seed, name="val pairs",
                           authentic_tops=at)
        out[name] = ranking_accuracy(ranker, src)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=None, help="default: the run's data root")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    cfg = json.loads((args.run / "config.json").read_text())
    st = Setting(**cfg["setting"])
    data = casia2.scan(args.data or cfg["root"])
    seeds = sorted(int(p.parent.parent.name[4:]) for p in args.run.glob("seed*/work/stage1.ckpt"))
    res = {}
    for s in seeds:
        res[s] = seed_accuracy(args.run, data, st, s)
        print(f"seed {s}: " + ", ".join(f"{k} {v:.3f}" for k, v in res[s].items()
                                        if k != "val_pairs"), flush=True)
    for k in ("same", "edge", "random"):
        a = np.array([r[k] for r in res.values()])
        print(f"{k:7s} {a.mean():.3f} ± {a.std(ddof=1) if len(a) > 1 else 0:.3f}  "
              f"worst {a.min():.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"run": str(args.run), "seeds": res, **describe_machine(),
                                    "versions": library_versions(),
                                    "command": " ".join(map(str, sys.argv))}, indent=1))


if __name__ == "__main__":
    main()
