"""Forgery stage 2 on the pretrained photo-quality stage 1's features (issue 20).

Question: do the local-quality features of the shipped ``photo-iqa`` stage 1 (trained on
blur, noise, JPEG and pixelation, never on forgeries) carry the forgery demo's seams --
feathered pastes, whose blend lowers the noise and softens the edges -- better than the
forgery stage 1 that a quick run trains on ~100 pairs? No stage-1 training at all.

For every seed of the quick setting's grouped splits of the demo set (the same split
function as ``hyperkit forgery``, so the rows pair with a finished run's seeds), the
hyper-images of every image (and its mirror) from ``photo-iqa``'s stage 1 at a chosen
grid, then on them:

* ``head``: a GridHead (``--head``, default ``head(800,U,V,sig=1)``) trained as the
  forgery run's stage 2 is (the 'head' recipe, weighted BCE, grid flips, kept by
  validation BCE) on both views, scored by the mean logit of the two views;
* ``pool-lr``: logistic regression on the grid mean, max and std of every standardized
  channel (C by 5-fold CV), the simple pooling baseline.

With ``--run`` (a finished quick forgery run on the same data), the run's own two-stage
AUC per seed is read from seed<s>/predictions.npz and every row is paired against it.

    python bench/forgery_pretrained.py --data DEMO --seeds 10 \
        --run results/forgery/demo-quick-10seeds-views --out results/forgery/pretrained.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from forgery_stage2 import pool_lr_fit  # bench/, beside this script
from scipy import stats

from hyperkit import build_hyperimage, nets
from hyperkit.data.forgery import casia2
from hyperkit.data.forgery import demo as forgery_demo
from hyperkit.devices import describe_machine
from hyperkit.evaluation.classification import roc_auc
from hyperkit.images import read_inputs
from hyperkit.pretrained import load_pretrained
from hyperkit.runs import library_versions
from hyperkit.tasks.forgery.seed import class_weights, fit_stage2
from hyperkit.tasks.forgery.settings import SETTINGS
from hyperkit.training.loop import predict
from hyperkit.training.recipes import stage2_recipe
from hyperkit.views import combine_views, mirror_image


def hyperimages(paths: list[Path], grid: tuple[int, int], mirror: bool) -> np.ndarray:
    """(N, 800, U, V) float32: photo-iqa's stage-1 features over the grid (its LCN)."""
    model = load_pretrained("photo-iqa")
    out = []
    for i in range(0, len(paths), 16):
        ims = read_inputs([str(p) for p in paths[i:i + 16]])
        ims = [np.asarray(im) for im in ims]
        if mirror:
            ims = [np.ascontiguousarray(mirror_image(im)) for im in ims]
        with torch.no_grad():
            h = build_hyperimage(ims, model.stage1.features, patch=model.patch, grid=grid,
                                 lcn=model.lcn, batch_size=1024, channels=model.channels)
        out.append(h.numpy())
    return np.concatenate(out)


def head(spec: str, views: list[np.ndarray], y: np.ndarray, parts: dict, seed: int,
         epochs: int) -> np.ndarray:
    """Test probabilities of a GridHead trained on every view (mean logit of the views)."""
    tr, va, te = parts["train"], parts["val"], parts["test"]
    k = len(views)
    torch.manual_seed(seed)
    cfg, _ = stage2_recipe("head", epochs=epochs, patience=max(5, epochs // 4),
                           plateau_patience=max(2, epochs // 8), batch_size=16, seed=seed)
    s2, _ = fit_stage2(nets.build(spec), (np.concatenate([v[tr] for v in views]),
                                          np.tile(y[tr], k)),
                       (np.concatenate([v[va] for v in views]), np.tile(y[va], k)),
                       class_weights(y[tr]), cfg, flips=True, seed=seed)
    return combine_views([predict(s2, v[te], batch_size=64) for v in views], "classifier")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True,
                    help="the quick demo set (written there when the folder is new)")
    ap.add_argument("--demo", default=None,
                    help="AUTHENTIC,TAMPERED images of the demo set (default: the quick "
                         "setting's)")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--grid", default="15,15", help="U,V of the hyper-image")
    ap.add_argument("--head", default=None, help="default head(800,U,V,sig=1)")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--run", type=Path, default=None,
                    help="a finished quick forgery run on --data, paired per seed")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    st = SETTINGS["quick"]
    size = (st.demo_authentic, st.demo_tampered)
    try:
        if args.demo is not None:
            size = tuple(int(v) for v in args.demo.split(","))
        grid = tuple(int(v) for v in args.grid.split(","))
    except ValueError:
        raise SystemExit(f"--demo and --grid take two integers A,B; got {args.demo!r}, "
                         f"{args.grid!r}") from None
    if len(size) != 2 or len(grid) != 2 or min(grid) < 1:
        raise SystemExit(f"--demo and --grid take two integers A,B (grid >= 1); got "
                         f"{args.demo!r}, {args.grid!r}")
    if not forgery_demo.matches(args.data, *size, 0):
        forgery_demo.generate(args.data, *size, seed=0)
    spec = args.head or f"head(800,{grid[0]},{grid[1]},sig=1)"
    data = casia2.scan(args.data)
    paths, labels, groups = data.classification_set()
    t0 = time.perf_counter()
    views = [hyperimages(paths, grid, m) for m in (False, True)]
    build_s = time.perf_counter() - t0
    print(f"hyper-images {views[0].shape} x 2 views in {build_s:.0f} s", flush=True)
    res: dict[str, list[float]] = {}
    for s in range(args.seeds):
        parts = dict(zip(("train", "val", "test"), casia2.grouped_split(groups, s)))
        y, te = labels, parts["test"]
        scores = {"pool-lr": pool_lr_fit(views[0][parts["train"]], y[parts["train"]],
                                         views[0][te], s, max_iter=3000),
                  "head": head(spec, views, y, parts, s, args.epochs)}
        if args.run is not None:
            pred = np.load(args.run / f"seed{s}" / "predictions.npz")
            order = {str(p): i for i, p in enumerate(pred["path"])}
            mine = [str(paths[i]) for i in te]
            names = [Path(p).name for p in mine]
            run_names = {Path(p).name: i for p, i in order.items()}
            if sorted(names) != sorted(run_names):
                raise SystemExit(f"seed {s}: the run's test images are not this split's")
            idx = [run_names[n] for n in names]
            scores["run two_stage"] = pred["two_stage"][idx]
            if "dct_markov" in pred:
                scores["run dct_markov"] = pred["dct_markov"][idx]
        for k, v in scores.items():
            res.setdefault(k, []).append(roc_auc(v, y[te]))
        print(f"seed {s}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in res.items()),
              flush=True)
    summary = {}
    for k, v in res.items():
        a = np.array(v)
        summary[k] = {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1
                      else 0.0, "worst": float(a.min())}
        line = f"{k:18s} {a.mean():.3f} ± {summary[k]['std']:.3f}  worst {a.min():.3f}"
        if "run two_stage" in res and k != "run two_stage":
            d = a - np.array(res["run two_stage"])
            half = (stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
                    if len(d) > 1 else float("nan"))
            summary[k]["paired_vs_run"] = {"mean": float(d.mean()), "t95_half": float(half),
                                           "up": int((d > 0).sum()), "down": int((d < 0).sum())}
            line += f"  vs run {d.mean():+.3f} ± {half:.3f} ({(d > 0).sum()} up)"
        print(line)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "data": str(args.data), "grid": list(grid), "head": spec, "epochs": args.epochs,
        "run": str(args.run) if args.run else None, "results": res, "summary": summary,
        "build_seconds": build_s, "seconds": time.perf_counter() - t0,
        **describe_machine(), "versions": library_versions(),
        "command": " ".join(map(str, sys.argv))}, indent=1))


if __name__ == "__main__":
    main()
