"""One split of an NR-IQA run: every arm trained and scored on the same test images."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ...evaluation.metrics import iqa_metrics
from .arms import ARMS, Split, stage1_kind
from .data import Run
from .report import KEYS


def run_split(run: Run, arms: Sequence[str], k: int, split: dict, sdir: Path, resume: bool
              ) -> dict:
    """Trains and scores every arm on split ``k``; writes sdir/metrics.json last."""
    t = run.table
    tr, va, te = (np.asarray(split[p], dtype=np.int64) for p in ("train", "val", "test"))
    sp = Split(run, k, tr, va, te, run.options.seed * 1000 + k, sdir, resume,
               lambda s: run.log(f"[split {k}] {s}"))
    t0 = time.perf_counter()
    preds: dict[str, np.ndarray] = {}
    fits: dict[str, dict] = {}
    for arm in arms:
        kind = stage1_kind(arm, t)
        s1 = sp.stage1(kind) if kind is not None else None
        preds[arm], fits[arm] = ARMS[arm].score(sp, arm, s1)
    metrics = score_arms(preds, fits, t.scores[te],
                         np.asarray(t.dist_types)[te] if t.dist_types else None, sp.log)
    out = {"split": k, "train": len(tr), "val": len(va), "test": len(te),
           "seconds": time.perf_counter() - t0, "metrics": metrics}
    run.folder.finish(sdir, out, {"index": te, "true": t.scores[te], **preds})
    # the hyper-image caches only serve a resume inside this split (TID2013: ~5.5 GB a
    # split); the finished split keeps its models and predictions
    run.folder.on_rank0(_drop_hyperimages, sdir)
    return out


def _drop_hyperimages(sdir: Path) -> None:
    for f in sdir.glob("*/hyper_*.npy"):
        f.unlink()


def score_arms(preds: dict[str, np.ndarray], fits: dict[str, dict], true: np.ndarray,
               types: np.ndarray | None, log: Callable[[str], None]) -> dict:
    """Test metrics per arm (:func:`~hyperkit.evaluation.metrics.iqa_metrics`); a diverged
    arm is recorded, never scored (its predictions in ``preds`` zeroed)."""
    metrics = {}
    for a, p in preds.items():
        if not np.all(np.isfinite(p)):  # a diverged network: recorded, never scored
            log(f"{a}: DIVERGED: non-finite predictions; its correlations are not results")
            metrics[a] = {**{k: 0.0 for k in KEYS}, "collapsed": True, "diverged": True,
                          **fits[a]}
            preds[a] = np.nan_to_num(p)
            continue
        metrics[a] = {**iqa_metrics(p, true, types), **fits[a]}
    if types is not None and all("/" in str(x) for x in types):
        # types named 'kind/extent' (the demo): SROCC over each extent as well
        extent = np.array([str(x).rsplit("/", 1)[1] for x in types])
        for a, p in preds.items():
            if not metrics[a].get("diverged"):
                metrics[a]["per_extent"] = iqa_metrics(p, true, extent)["per_type"]
    for a, m in metrics.items():
        if m["collapsed"]:
            log(f"{a}: COLLAPSED: predicts one constant for every test image "
                "(see README, 'Stage 2 on real photographs'); its correlations are not results")
    return metrics
