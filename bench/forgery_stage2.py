"""Forgery stage-2 variants against pooling baselines on a finished run's hyper-images
(issue 20).

Takes a finished ``hyperkit forgery`` run (its seeds' cached hyper-images in
seed<s>/work/hyper_{train,val,test}.npy and stage-1 checkpoints), rebuilds each seed's
split from the data set, and scores the seed's test images with:

* ``run``: the run's own stage 2 (seed<s>/predictions.npz), for reference;
* ``pool-lr``: logistic regression (scikit-learn, C picked by 5-fold CV on the training
  images) on the grid mean, max and std of every standardized channel: the simple
  pooling baseline a learned stage 2 has to beat;
* ``rank-min``/``rank-p10``: stage 1's own ranking head applied cell by cell against the
  image's mean features, d(C_cell, mean C) -- how much less authentic than the rest of
  the image a cell looks -- pooled by the minimum or 10th percentile (no training);
* ``run: test-set bootstrap std``: the std of the run's test AUC over resamples of the
  test images (the noise of a 41-image test set, not a method);
* GridHead variants (``head(...)`` strings, the 'head' recipe, weighted BCE), each with
  ``--heads-seeds`` training seeds, selected on validation BCE (as the run does) or on
  validation ROC AUC (``...@auc``); with ``--center`` each also on hyper-images minus
  their own per-channel grid median (``... centered``: the image's content level removed,
  only what stands out within the image left; bench/RESULTS.md forgery-edge-negatives).

Prints mean ± std, worst and per-seed test ROC AUC per variant and writes every number
to --out as JSON with the machine and library versions.

    python bench/forgery_stage2.py --run RUN --data RUN/data --out results/forgery/stage2.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hyperkit import nets
from hyperkit.data.forgery import casia2
from hyperkit.devices import describe_machine
from hyperkit.evaluation.classification import roc_auc
from hyperkit.nets.siamese import SiameseRanker
from hyperkit.runs import library_versions
from hyperkit.tasks.forgery.seed import class_weights, fit_stage2
from hyperkit.tasks.forgery.settings import Setting
from hyperkit.training.loop import predict
from hyperkit.training.objectives import Objective
from hyperkit.training.recipes import stage2_recipe


class NegAUC(Objective):
    """Minus ROC AUC: a validation criterion only (no gradient)."""

    name = "neg_auc"

    def __call__(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.tensor(-roc_auc(outputs.detach().cpu().numpy(),
                                     targets.detach().cpu().numpy()))


def bootstrap_std(scores: np.ndarray, labels: np.ndarray, draws: int = 500) -> float:
    """Std of the test ROC AUC over bootstrap resamples of the test images: how much
    of a seed-to-seed difference the test set's size alone explains."""
    rng, out = np.random.default_rng(0), []
    while len(out) < draws:
        i = rng.integers(0, len(labels), len(labels))
        if labels[i].min() != labels[i].max():
            out.append(roc_auc(scores[i], labels[i]))
    return float(np.std(out))


def seed_sets(run: Path, data: casia2.Casia2, seed: int) -> dict:
    """{'train'|'val'|'test': (hyper-images (N, D, U, V), labels (N,))} of one seed."""
    paths, labels, groups = data.classification_set()
    parts = dict(zip(("train", "val", "test"), casia2.grouped_split(groups, seed)))
    wd = run / f"seed{seed}" / "work"
    if not (wd / "hyper_train.npy").is_file() and (wd / "hyper_train_splices.npy").is_file():
        raise SystemExit(f"{wd}: stage 2 of this run trained on synthetic splices "
                         "(hyper_train_splices.npy); this bench reads the real training "
                         "images' hyper-images only")
    return {k: (np.load(wd / f"hyper_{k}.npy"), labels[idx]) for k, idx in parts.items()}


def pooled(h: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(N, 3 D): grid mean, max and std of each standardized channel."""
    z = (h - mean[None, :, None, None]) / std[None, :, None, None]
    z = z.reshape(len(z), z.shape[1], -1)
    return np.concatenate([z.mean(2), z.max(2), z.std(2)], 1)


def pool_lr(sets: dict, seed: int) -> np.ndarray:
    """Test probabilities of the pooled-feature logistic regression."""
    return pool_lr_fit(sets["train"][0], sets["train"][1], sets["test"][0], seed)


def pool_lr_fit(htr: np.ndarray, ytr: np.ndarray, hte: np.ndarray, seed: int,
                max_iter: int = 2000) -> np.ndarray:
    """Logistic regression (scikit-learn, C by CV over 5 folds, fewer when the smaller
    class has fewer training images) on :func:`pooled` features of training hyper-images
    (N, D, U, V) and labels; the probabilities of ``hte``."""
    from sklearn.linear_model import LogisticRegressionCV

    folds = int(min(5, np.bincount(np.asarray(ytr, int), minlength=2).min()))
    if folds < 2:
        raise SystemExit("pool-lr needs 2 training images of each class")
    mean, std = htr.mean((0, 2, 3)), htr.std((0, 2, 3)) + 1e-6
    clf = LogisticRegressionCV(Cs=10, cv=folds, class_weight="balanced", max_iter=max_iter,
                               scoring="roc_auc", random_state=seed)
    clf.fit(pooled(htr, mean, std), ytr)
    return clf.predict_proba(pooled(hte, mean, std))[:, 1]


def load_ranker(run: Path, seed: int, st: Setting) -> SiameseRanker:
    """Seed ``seed``'s stage-1 ranker with its best weights (seed<s>/work/stage1.ckpt), on
    the CPU, in eval mode; built as the run's setting ``st`` builds it."""
    ranker = SiameseRanker(nets.build(st.channel_arch), hidden=st.hidden,
                           patch_score=st.patch_score > 0)
    ck = torch.load(run / f"seed{seed}" / "work" / "stage1.ckpt", weights_only=False,
                    map_location="cpu")
    ranker.load_state_dict(ck["best_model"])
    return ranker.eval()


def rank_pool(run: Path, seed: int, sets: dict, st) -> dict:
    """Test scores of stage 1's ranking head on each cell against the image mean."""
    ranker = load_ranker(run, seed, st)
    h = torch.from_numpy(np.asarray(sets["test"][0]))
    n, d, u, v = h.shape
    cells = h.permute(0, 2, 3, 1).reshape(n, u * v, d)
    ref = cells.mean(1, keepdim=True).expand_as(cells)
    with torch.no_grad():
        s = ranker.rank(cells.reshape(-1, d), ref.reshape(-1, d)).reshape(n, u * v).numpy()
    return {"rank-min": s.min(1), "rank-p10": np.percentile(s, 10, axis=1)}


def centered(sets: dict) -> dict:
    """``sets`` with every hyper-image (N, D, U, V) minus its own per-channel median over
    the grid."""
    return {k: (h - np.median(np.asarray(h), axis=(2, 3), keepdims=True), y)
            for k, (h, y) in sets.items()}


def train_head(spec: str, sets: dict, seed: int, epochs: int, select: str) -> np.ndarray:
    """Test probabilities of one GridHead trained as the run's stage 2 is
    (:func:`hyperkit.tasks.forgery.seed.fit_stage2`, the 'head' recipe)."""
    torch.manual_seed(seed)
    cfg, _ = stage2_recipe("head", epochs=epochs, patience=max(5, epochs // 4),
                           plateau_patience=max(2, epochs // 8), batch_size=16, seed=seed)
    s2, _ = fit_stage2(nets.build(spec), sets["train"], sets["val"],
                       class_weights(sets["train"][1]), cfg, flips=True, seed=seed,
                       val_objective=NegAUC() if select == "auc" else None)
    return predict(s2, sets["test"][0], batch_size=64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True, help="the run's data set (Au/, Tp/)")
    ap.add_argument("--seeds", type=int, default=None, help="default: every seed in --run")
    ap.add_argument("--heads", nargs="*", default=["head(128,15,15,sig=1)"])
    ap.add_argument("--heads-seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--select", default="bce", help="bce, auc or bce,auc: the validation "
                                                     "criterion(s) that keep a head's weights")
    ap.add_argument("--center", action="store_true",
                    help="also train each head on per-image median-centered hyper-images")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    # the run's own setting (its channel may not be the quick one, e.g. with SRM())
    st = Setting(**json.loads((args.run / "config.json").read_text())["setting"])
    data = casia2.scan(args.data)
    seeds = args.seeds or len(list(args.run.glob("seed*/metrics.json")))
    res: dict[str, list] = {}
    t0 = time.perf_counter()
    for s in range(seeds):
        sets = seed_sets(args.run, data, s)
        y = sets["test"][1]
        pred = np.load(args.run / f"seed{s}" / "predictions.npz")
        scores = {"run": pred["two_stage"], "pool-lr": pool_lr(sets, s),
                  **rank_pool(args.run, s, sets, st)}
        inputs = [("", sets)] + ([(" centered", centered(sets))] if args.center else [])
        for (tag, ss), spec in ((i, h) for i in inputs for h in args.heads):
            for sel in args.select.split(","):
                runs = [train_head(spec, ss, 100 * s + k, args.epochs, sel)
                        for k in range(args.heads_seeds)]
                name = spec + tag + ("@auc" if sel == "auc" else "")
                res.setdefault(name + " (one)", []).append([roc_auc(p, y) for p in runs])
                scores[name + f" (mean of {args.heads_seeds})"] = np.mean(runs, 0)
        for k, v in scores.items():
            res.setdefault(k, []).append(roc_auc(v, y))
        res.setdefault("run: test-set bootstrap std", []).append(bootstrap_std(scores["run"], y))
        print(f"seed {s}: " + ", ".join(f"{k} {np.mean(v[-1]):.3f}" for k, v in res.items()),
              flush=True)
    for k, v in res.items():
        a = np.array([np.mean(x) for x in v])
        print(f"{k:55s} {a.mean():.3f} ± {a.std(ddof=1):.3f}  worst {a.min():.3f}  "
              f"{np.round(a, 3).tolist()}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "run": str(args.run), "results": res, "seconds": time.perf_counter() - t0,
        **describe_machine(), "versions": library_versions(),
        "command": " ".join(map(str, sys.argv))},
        indent=1))


if __name__ == "__main__":
    main()
