"""Forgery stage 2 on two views of every image: the image and its left-right mirror
(issue 20).

Takes a finished ``hyperkit forgery`` run (each seed's saved model, seed<s>/model, its
cached hyper-images, seed<s>/work/hyper_{train,val,test}.npy, and predictions.npz),
builds the hyper-images of the mirrored train, validation and test images with the
seed's own stage 1 (into --cache, never into the run), and scores each seed's test
images with:

* ``run``: the run's own two-stage probabilities (predictions.npz), for reference;
* ``retrain``: stage 2 trained again as the run trains it (the same function, seed,
  recipe and hyper-images): shows that the comparison below is paired on the same code;
* ``tta``: the run's saved stage 2 on both views, the mean of the two logits
  (:func:`hyperkit.views.combine_views`);
* ``mirror-train``: stage 2 trained on both views of the training images (2x the
  hyper-images; the validation loss over both views of the validation images picks the
  kept epoch), tested as ``tta``;
* ``fused_weighted`` of each with the run's DCT Markov scores
  (:func:`hyperkit.tasks.forgery.fusion.fuse`, validation scores taken the same way).

Why: a stage 2 trained on ~167 hyper-images overfits within a few epochs, and stage 1's
features of one image carry noise that its mirror does not share (the features are not
mirror-invariant; stage 1 trains with flips, so mirrored patches are in its
distribution). Grid flips of a hyper-image (the 'head' recipe) only permute the same
features. The decision rule was written here before any number was seen: ``mirror-train``
is adopted if its paired gain over ``run`` on the quick demo's 10 seeds has a mean > 0
whose 95 % t-interval excludes 0; otherwise it is reported and not adopted.

Prints per-seed and mean ± std (ddof 1) test ROC AUC and balanced accuracy (threshold
picked on validation) per variant, and writes every number to --out as JSON with the
machine and library versions.

    python bench/forgery_views.py --run RUN --cache DIR --out results/forgery/views.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from hyperkit import nets
from hyperkit.data.forgery import casia2
from hyperkit.data.image_files import ImageFiles
from hyperkit.devices import describe_machine
from hyperkit.evaluation.classification import classification_report, pick_threshold, roc_auc
from hyperkit.model import TwoStage
from hyperkit.runs import library_versions
from hyperkit.tasks.forgery.fusion import fuse
from hyperkit.tasks.forgery.seed import _view_of, class_weights, fit_stage2, stage1_layout
from hyperkit.tasks.forgery.settings import Setting
from hyperkit.training.loop import predict
from hyperkit.training.recipes import cached_hyperimages, stage2_options
from hyperkit.views import combine_views

PARTS = ("train", "val", "test")


def seed_views(run: Path, cache: Path, data: casia2.Casia2, seed: int, model: TwoStage
               ) -> tuple[dict, dict, dict]:
    """({part: original hyper-images}, {part: mirrored hyper-images}, {part: labels})."""
    paths, labels, groups = data.classification_set()
    idx = dict(zip(PARTS, casia2.grouped_split(groups, seed)))
    wd = run / f"seed{seed}" / "work"
    if not (wd / "hyper_train.npy").is_file():
        raise SystemExit(f"{wd}: no hyper_train.npy (a run with synthetic splices in stage 2 "
                         "is not read by this bench)")
    orig = {k: np.load(wd / f"hyper_{k}.npy", mmap_mode="r") for k in PARTS}
    out = cache / f"seed{seed}"
    out.mkdir(parents=True, exist_ok=True)
    mirror = {k: cached_hyperimages(f"hyper_{k}_mirror", model,
                                    ImageFiles([paths[i] for i in idx[k]]), out, "mmap",
                                    batch_size=32, group=16, prepare=_view_of("mirror"))
              for k in PARTS}
    return orig, mirror, {k: labels[i] for k, i in idx.items()}


def train(st: Setting, seed: int, train_set: tuple, val_set: tuple):
    """Stage 2 trained as :func:`hyperkit.tasks.forgery.seed._stage2` trains it."""
    torch.manual_seed(seed)
    s2 = nets.build(st.stage2_arch)
    cfg = st.configs(seed)[1]
    net, _ = fit_stage2(s2, train_set, val_set, class_weights(train_set[1]), cfg,
                        flips=stage2_options(st.stage2_recipe)["flips"], seed=seed,
                        log=None)
    return net


def scores(net, *views: dict) -> dict:
    """{'val', 'test'}: ``net``'s probabilities, combined over ``views`` (each {part:
    hyper-images}) as :func:`hyperkit.views.combine_views` does."""
    return {k: combine_views([predict(net, v[k], batch_size=64) for v in views],
                             "classifier") for k in ("val", "test")}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=None, help="default: RUN/data")
    ap.add_argument("--cache", type=Path, required=True,
                    help="where the mirrored hyper-images go (not inside --run)")
    ap.add_argument("--seeds", type=int, default=None, help="default: every seed in --run")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.cache.resolve().is_relative_to(args.run.resolve()):
        ap.error("--cache must lie outside --run (nothing is written into a run)")
    cfg = json.loads((args.run / "config.json").read_text())
    st = Setting(**cfg["setting"])  # the run's own (views: 'original' before they existed)
    data = casia2.scan(args.data or args.run / "data")
    seeds = args.seeds or len(list(args.run.glob("seed*/metrics.json")))
    auc: dict[str, list] = {}
    ba: dict[str, list] = {}
    t0 = time.perf_counter()
    for s in range(seeds):
        model = TwoStage.load(args.run / f"seed{s}" / "model").eval()
        stage1_layout(model.stage1, torch.device("cpu"), st.stage1_channels_last)
        orig, mirror, y = seed_views(args.run, args.cache, data, s, model)
        pred = np.load(args.run / f"seed{s}" / "predictions.npz")

        both = {k: (np.concatenate([orig[k], mirror[k]]), np.r_[y[k], y[k]])
                for k in ("train", "val")}
        variants = {
            "run": {"val": pred["val_two_stage"], "test": pred["two_stage"]},
            "retrain": scores(train(st, s, (orig["train"], y["train"]),
                                    (orig["val"], y["val"])), orig),
            "tta": scores(model.stage2, orig, mirror),
            "mirror-train": scores(train(st, s, both["train"], both["val"]), orig, mirror),
        }
        for name, p in list(variants.items()):
            rows, _, _ = fuse({"two_stage": p["val"], "dct_markov": pred["val_dct_markov"]},
                              {"two_stage": p["test"], "dct_markov": pred["dct_markov"]},
                              y["val"])
            variants[f"{name}+dct"] = dict(zip(("val", "test"), rows["fused_weighted"]))
        for name, p in variants.items():
            rep = classification_report(p["test"], y["test"], pick_threshold(p["val"], y["val"]))
            auc.setdefault(name, []).append(roc_auc(p["test"], y["test"]))
            ba.setdefault(name, []).append(rep["balanced_accuracy"])
        print(f"seed {s}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in auc.items()),
              flush=True)
    summary = {}
    for k in auc:
        a, b = np.array(auc[k]), np.array(ba[k])
        base = np.array(auc["run+dct" if k.endswith("+dct") else "run"])
        d = a - base
        ci = (stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
              if len(d) > 1 and d.std() > 0 else (float(d.mean()), float(d.mean())))
        summary[k] = {"auc_mean": a.mean(), "auc_std": a.std(ddof=1) if len(a) > 1 else 0.0,
                      "auc_worst": a.min(), "balanced_accuracy_mean": b.mean(),
                      "paired_vs_run_mean": d.mean(), "paired_vs_run_ci95": list(ci),
                      "seeds_up": int((d > 0).sum()), "seeds_down": int((d < 0).sum())}
        print(f"{k:18s} AUC {a.mean():.3f} ± {summary[k]['auc_std']:.3f} (worst {a.min():.3f})"
              f"  BA {100 * b.mean():.1f} %  vs run {d.mean():+.3f} "
              f"[{ci[0]:+.3f}, {ci[1]:+.3f}] ({summary[k]['seeds_up']} up, "
              f"{summary[k]['seeds_down']} down)  {np.round(a, 3).tolist()}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "run": str(args.run), "roc_auc": auc, "balanced_accuracy": ba, "summary": summary,
        "seconds": time.perf_counter() - t0, **describe_machine(),
        "versions": library_versions(), "command": " ".join(map(str, sys.argv))},
        indent=1, default=float))


if __name__ == "__main__":
    main()
