"""Stage 2 against every pooling baseline, paired on the same splits (issue 18).

Takes a finished ``hyperkit iqa`` run (its splits and, per split, the selective stage 1
in split<k>/models/cnn_selective), builds each split's hyper-images once, and scores on
the split's test images:

* pooling baselines of the stage-1 patch scores: mean (Kang et al.), min, 10th
  percentile, softmin with the temperature picked on validation SROCC;
* learned weighted pooling (WaDIQaM: ``head(...,ctx=0,coords=0,res=0)``), per seed;
* the run's own paper-style stage 2 (two_stage, seed 0 of the run);
* GridHead stage-2 variants (hyperkit.nets.heads), per seed: the default and one
  ablation per lever.

Writes every per-split, per-seed SROCC (all / uniform / local) to --out as JSON, and
prints mean ± std, worst, and paired bootstrap differences against the best baseline.

    python bench/iqa_heads.py --run runs/demo5 --demo --seeds 3 --out bench/results/heads-demo.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from hyperkit.data.image_files import ImageFiles
from hyperkit.data.iqa.demo import default_demo_dir, read_demo
from hyperkit.evaluation.paired import paired_difference
from hyperkit.model import TwoStage
from hyperkit.nets.heads import score_layer
from hyperkit.pooling import pick_temperature, pool_scores
from hyperkit.training.loop import predict
from hyperkit.training.recipes import fit_stage2, head_config

BASELINES = ("mean", "min", "p10", "softmin", "weighted", "weighted-select_srocc",
             "weighted-select_srocc-plcc")


def load_table(args):
    """The demo, or a set in the demo's layout (bench/make_photo_set.py)."""
    return read_demo(default_demo_dir() if args.demo else args.root)


def split_sets(run: Path, k: int, table, cache: Path) -> dict:
    """Per part: hyper-images (N, D, U, V), patch scores (N, U, V), labels, extents."""
    split = json.loads((run / "splits.json").read_text())["splits"][k]
    model = TwoStage.load(run / f"split{k}" / "models" / "cnn_selective")
    out_layer = score_layer(model.stage1)
    files = ImageFiles(table.images)
    extent = np.array([str(t).rsplit("/", 1)[-1] for t in table.dist_types])
    sets = {"model": model}
    for part in ("train", "val", "test"):
        idx = np.asarray(split[part], dtype=np.int64)
        path = cache / f"split{k}-{part}.npy"
        if path.is_file():
            h = np.load(path)
        else:
            h = np.concatenate([model.hyperimages(list(files[idx[i:i + 64]])).numpy()
                                for i in range(0, len(idx), 64)])
            np.save(path, h)
        with torch.no_grad():
            s = (torch.einsum("ndhw,d->nhw", torch.from_numpy(h),
                              out_layer.weight[0]) + out_layer.bias[0]).double().numpy()
        sets[part] = {"h": h, "s": s, "y": table.scores[idx].astype(np.float32),
                      "extent": extent[idx], "idx": idx}
    return sets


def srocc(p: np.ndarray, part: dict) -> dict:
    y, e = part["y"], part["extent"]
    out = {"all": float(spearmanr(p, y)[0])}
    for ext in ("uniform", "local"):
        m = e == ext
        out[ext] = float(spearmanr(p[m], y[m])[0]) if m.sum() > 2 else float("nan")
    out["constant"] = bool(np.std(p) < 1e-9)
    return out


def train_head(sets: dict, spec: str, seed: int, flips: bool, epochs: int,
               select: str = "loss", plcc: float = 0.0, **overrides) -> torch.nn.Module:
    """Stage 2 by the library's 'head' recipe (what `hyperkit iqa` trains). ``plcc`` > 0:
    the loss is MAE + plcc x std(train labels) x (1 - batch PLCC)."""
    tr, va = sets["train"], sets["val"]
    cfg = head_config(epochs, seed, **overrides)
    net, _ = fit_stage2(sets["model"].stage1, tr["h"], tr["y"], va["h"], va["y"],
                        stage2_arch=spec, config=cfg, standardize=True, flips=flips,
                        select=select, plcc=plcc,
                        device="cpu", log=None, progress=False)
    return net


# variant -> (head spec options, flips, recipe overrides); 40 epochs (the quick setting)
VARIANTS = {
    "weighted": ("ctx=0,coords=0,res=0", False, {"weight_decay": 0.0}),  # WaDIQaM
    "grid": ("", True, {}),
    "grid-no_coords": ("coords=0", True, {}),
    "grid-no_context": ("ctx=0", True, {}),
    "grid-no_residual": ("res=0", True, {}),
    "grid-no_flips": ("", False, {}),
    "grid-r16": ("r=16", True, {}),
    "grid-no_dropout_wd": ("drop=0", True, {"weight_decay": 0.0}),
    # between the two: WaDIQaM pooling with the residual prior and flips; one context layer
    "weighted-res_flips": ("ctx=0,coords=0,res=1", True, {}),
    "grid-ctx1": ("ctx=1", True, {}),
    # early stopping and the kept weights by validation SROCC instead of MAE
    "grid-select_srocc": ("", True, {"select": "srocc"}),
    "weighted-select_srocc": ("ctx=0,coords=0,res=0", False,
                              {"weight_decay": 0.0, "select": "srocc"}),
    # the default head's prediction averaged over the 4 grid flips it trained on (weighted
    # pooling scores each cell alone, so a flip, a permutation of cells, cannot change it)
    "grid-select_srocc-tta": ("", True, {"select": "srocc", "tta": True}),
    # each cell also sees the grid mean of the reduced features (its image's baseline)
    "grid-select_srocc-glob": ("glob=1", True, {"select": "srocc"}),
    "grid-select_srocc-glob-plcc": ("glob=1", True, {"select": "srocc", "plcc": 1.0}),
    # MAE + std(labels) x (1 - batch PLCC): a loss that also rewards the ranking
    "grid-select_srocc-plcc": ("", True, {"select": "srocc", "plcc": 1.0}),
    "weighted-select_srocc-plcc": ("ctx=0,coords=0,res=0", False,
                                   {"weight_decay": 0.0, "select": "srocc", "plcc": 1.0}),
}
EPOCHS = 40


def run_variant(sets: dict, name: str, seed: int) -> np.ndarray:
    opts, flips, overrides = VARIANTS[name]
    overrides = dict(overrides)
    tta = overrides.pop("tta", False)
    d, u, v = sets["train"]["h"].shape[1:]
    spec = f"head({d},{u},{v}{',' + opts if opts else ''})"
    net = train_head(sets, spec, seed, flips, EPOCHS, **overrides)
    h = sets["test"]["h"]
    if not tta:
        return predict(net, h)
    views = [np.ascontiguousarray(np.flip(h, axis=dims)) for dims in ((), (3,), (2,), (2, 3))]
    return np.mean([predict(net, x) for x in views], axis=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--demo", action="store_true", help="the run is on the built-in demo")
    ap.add_argument("--root", help="csv data set root (the run's)")
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", required=True)
    ap.add_argument("--cache", default=None, help="hyper-image cache folder")
    ap.add_argument("--section", default=None,
                    help="also write the report into this section of bench/RESULTS.md")
    a = ap.parse_args()
    run = Path(a.run)
    table = load_table(a)
    cache = Path(a.cache or run / "heads-cache")
    cache.mkdir(parents=True, exist_ok=True)
    out_path = Path(a.out)
    res = json.loads(out_path.read_text()) if out_path.is_file() else {"rows": []}
    done = {(r["split"], r["arm"], r["seed"]) for r in res["rows"]}
    res["machine"] = {"cpu": platform.processor() or platform.machine(),
                      "torch": torch.__version__, "numpy": np.__version__,
                      "threads": torch.get_num_threads()}
    try:
        res["machine"]["cpu"] = next(line.split(":", 1)[1].strip() for line in
                                     open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    variants = [v for v in a.variants.split(",") if v]
    for k in range(a.splits):
        if not (run / f"split{k}" / "models" / "cnn_selective" / "model.json").is_file():
            print(f"split {k}: no stage 1 yet; stopping")
            break
        todo = [(name, seed) for name in variants for seed in range(a.seeds)
                if (k, name, seed) not in done]
        if not todo and (k, "mean", 0) in done and str(k) in res.get("extents", {}):
            continue  # nothing to train or score: no hyper-images to build
        t0 = time.perf_counter()
        sets = split_sets(run, k, table, cache)
        te, va = sets["test"], sets["val"]
        rows = []
        if (k, "mean", 0) not in done:
            t = pick_temperature(va["s"], va["y"])
            for arm, p in (("mean", pool_scores(te["s"], "mean")),
                           ("min", pool_scores(te["s"], "min")),
                           ("p10", pool_scores(te["s"], "percentile", percentile=10)),
                           ("softmin", pool_scores(te["s"], "softmin", temperature=t))):
                rows.append({"split": k, "arm": arm, "seed": 0, **srocc(p, te),
                             "pred": [round(float(x), 5) for x in p]})
            pred = run / f"split{k}" / "predictions.npz"
            if pred.is_file():
                z = np.load(pred)
                assert np.array_equal(z["index"], te["idx"])
                rows.append({"split": k, "arm": "paper_stage2", "seed": 0,
                             **srocc(z["two_stage"], te)})
        for name, seed in todo:
            t1 = time.perf_counter()
            p = run_variant(sets, name, seed)
            rows.append({"split": k, "arm": name, "seed": seed, **srocc(p, te),
                         "seconds": time.perf_counter() - t1,
                         "pred": [round(float(x), 5) for x in p]})
            print(f"split {k} {name} seed {seed}: " + " ".join(
                f"{x} {rows[-1][x]:.3f}" for x in ("all", "uniform", "local")), flush=True)
            res["rows"].append(rows.pop())
            out_path.write_text(json.dumps(res, indent=1))
        res["rows"] += rows
        res.setdefault("extents", {})[str(k)] = {"y": te["y"].tolist(),
                                                 "extent": te["extent"].tolist()}
        out_path.write_text(json.dumps(res, indent=1))
        print(f"split {k} done in {time.perf_counter() - t0:.0f} s", flush=True)
    text = report(res)
    for arm in variants:
        spread = ensemble_spread(res, arm)
        if spread is not None:
            text += (f"\nSpread of 3-head means of {arm} between disjoint seed triples "
                     f"({max(r['seed'] for r in res['rows'] if r['arm'] == arm) + 1} seeds "
                     "a split; std per split, mean (largest) over splits): " + ", ".join(
                         f"{e} {spread[e + '_mean']:.3f} ({spread[e + '_max']:.3f})"
                         for e in ("all", "uniform", "local")) + "\n")
    print(text)
    if a.section:
        from results import write_section

        m = res["machine"]
        write_section(a.section, f"## Stage 2 against pooling baselines: {a.section} "
                      f"(`python bench/iqa_heads.py {' '.join(sys.argv[1:])}`)\n\n"
                      f"{m['cpu']}, torch {m['torch']}, numpy {m['numpy']}, "
                      f"{m['threads']} threads; stage 1 of each split from the run "
                      f"{run.name}.\n\n{text}\n")


def _values(rows: list[dict], arm: str, ext: str, splits: list[int]) -> np.ndarray:
    """(K, S) SROCC of ``arm`` on ``ext`` per split and seed (seedless arms: S = 1)."""
    per = [[r[ext] for r in rows if r["arm"] == arm and r["split"] == k] for k in splits]
    per = [p for p in per if p]
    if not per:
        return np.zeros((0, 1))
    s = min(len(p) for p in per)
    return np.array([p[:s] for p in per], dtype=np.float64)


def with_ensembles(res: dict, size: int = 3) -> list[dict]:
    """The rows plus, per split, '<arm>-ens<size>': the mean prediction of the first
    ``size`` seeds of each seeded arm (an ensemble of independently trained heads)."""
    rows = list(res["rows"])
    if "extents" not in res:
        return rows
    for arm in sorted({r["arm"] for r in rows if r["seed"] > 0}):
        for k in sorted({r["split"] for r in rows}):
            preds = [r["pred"] for r in rows if r["arm"] == arm and r["split"] == k
                     and r["seed"] < size and "pred" in r]
            if len(preds) == size and str(k) in res["extents"]:
                part = res["extents"][str(k)]
                p = np.mean(preds, 0)
                rows.append({"split": k, "arm": f"{arm}-ens{size}", "seed": 0,
                             **srocc(p, {"y": np.array(part["y"]),
                                         "extent": np.array(part["extent"])})})
    return rows


def ensemble_spread(res: dict, arm: str, size: int = 3) -> dict[str, float] | None:
    """Spread between seeds of a ``size``-head mean: per split, the seeds cut into
    disjoint groups of ``size`` (0-2, 3-5, ...), the SROCC of each group's mean
    prediction, their std; then the mean and the largest of those stds over splits, per
    extent. None unless every split has at least 2 groups."""
    stds: dict[str, list[float]] = {e: [] for e in ("all", "uniform", "local")}
    for k in sorted({r["split"] for r in res["rows"]}):
        preds = {r["seed"]: r["pred"] for r in res["rows"]
                 if r["arm"] == arm and r["split"] == k and "pred" in r}
        groups = len(preds) // size
        if groups < 2 or str(k) not in res.get("extents", {}):
            return None
        part = res["extents"][str(k)]
        y, ext = np.array(part["y"]), np.array(part["extent"])
        scores = [srocc(np.mean([preds[g * size + i] for i in range(size)], 0),
                        {"y": y, "extent": ext}) for g in range(groups)]
        for e in stds:
            stds[e].append(float(np.std([sc[e] for sc in scores])))
    if not stds["all"]:
        return None
    return {f"{e}_{f}": float(fn(v)) for e, v in stds.items()
            for f, fn in (("mean", np.mean), ("max", np.max))}


def report(res: dict, best_of: tuple[str, ...] = BASELINES) -> str:
    """Markdown: SROCC mean ± std over splits x seeds (worst) per arm and extent, then
    each arm's paired difference to the best baseline of each extent (bootstrap 95 %
    interval over splits)."""
    rows = with_ensembles(res)
    arms = list(dict.fromkeys(r["arm"] for r in rows))
    done = {a: {r["split"] for r in rows if r["arm"] == a} for a in arms}
    splits = sorted(set.union(*done.values()))
    exts = ("all", "uniform", "local")
    out = [f"{len(splits)} splits; SROCC mean ± std over splits x seeds (worst run); runs = "
           "splits x seeds", "",
           "| arm | runs | " + " | ".join(exts) + " | std over seeds (local) |",
           "|---|---|" + "---|" * len(exts) + "---|"]
    for arm in arms:
        cells = []
        for ext in exts:
            v = _values(rows, arm, ext, splits)
            cells.append(f"{v.mean():.3f} ± {v.std():.3f} ({v.min():.3f})")
        loc = _values(rows, arm, "local", splits)
        seed_std = f"{loc.std(1).mean():.3f}" if loc.shape[1] > 1 else "-"
        out.append(f"| {arm} | {_values(rows, arm, 'all', splits).size} | "
                   + " | ".join(cells) + f" | {seed_std} |")
    out += ["", "Paired difference to the best baseline of each extent (by mean SROCC; "
            "seeds averaged per split; bootstrap 95 % interval over splits; splits won):", "",
            "| arm | " + " | ".join(exts) + " |", "|---|" + "---|" * len(exts)]
    for arm in arms:
        if arm.split("-ens")[0] in best_of:
            continue
        # an ensemble is compared with the baselines' ensembles, a single head with
        # single baselines
        suffix = arm[arm.index("-ens"):] if "-ens" in arm else ""
        base = [b + suffix for b in best_of if b + suffix in arms] or \
            [b for b in best_of if b in arms]
        cells = []
        for e in exts:
            shared = {b: sorted(done[arm] & done[b]) for b in base}
            shared = {b: k for b, k in shared.items() if len(k) >= 2}
            if not shared:
                cells.append("fewer than 2 common splits")
                continue
            best = max(shared, key=lambda b: _values(rows, b, e, shared[b]).mean())
            common = shared[best]
            d = paired_difference(_values(rows, arm, e, common).mean(1),
                                  _values(rows, best, e, common).mean(1))
            cells.append(f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] vs {best}, "
                         f"{d['wins']}/{d['splits']}")
        out.append(f"| {arm} | " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
