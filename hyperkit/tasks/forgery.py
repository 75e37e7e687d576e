"""Table 3 of the paper: image forgery classification, end to end.

Data: CASIA v2 as shipped (:mod:`hyperkit.data.forgery.casia2`) or the built-in spliced set
(:mod:`hyperkit.data.forgery.demo`, written into ``out/data`` in the same layout).
Authentic images are label 1, tampered ones 0 (as in the paper). A seeded 2/3, 1/6,
1/6 split keeps every tampered image on the side of its source.

* Stage 1 (experiment 2, Fig. 3): a siamese ranker on (authentic, tampered) patch pairs
  cut at 15 points of each training pair's tampered-region contour
  (:mod:`hyperkit.data.forgery.contours`, :mod:`hyperkit.data.forgery.pairs`), ranking hinge
  with delta = 3, the training patches' mean subtracted, flips on the fly.
* Stage 2: hyper-images of every image, the channel's features over a 15 x 15 eq.-2
  grid of 64 x 64 patches (any image size), cached as memory-mapped .npy files; the
  stage-2 network with a sigmoid output trained with binary cross-entropy on logits,
  each class weighted by n / (2 n_class) of the training set.
* Experiment 1: the end-to-end CNN on images resized to 256 x 384
  (:func:`hyperkit.training.end_to_end.train_end_to_end`, same class weights, flips).

Results: accuracy (the paper's metric), balanced accuracy, ROC AUC and the confusion
matrix on the test images (:mod:`hyperkit.evaluation.classification`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import nets
from ..data.forgery import casia2, contours
from ..data.forgery import demo as forgery_demo
from ..data.forgery.pairs import SiamesePairs
from ..data.image_files import ImageFiles
from ..devices import describe_machine, resolve_device
from ..evaluation.classification import classification_report
from ..files import save_torch, write_text
from ..images import read_image
from ..model import TwoStage
from ..nets.siamese import Centered, SiameseRanker
from ..nets.standardized import Standardized
from ..runs import write_manifest
from ..training.checkpoint import finished_epochs
from ..training.config import TrainConfig, stage1_config, stage2_config
from ..training.end_to_end import logits_output, predict_end_to_end, train_end_to_end
from ..training.loop import fit, predict
from ..training.objectives import RankingHinge, WeightedBCE
from ..training.recipes import cached_hyperimages

PATCH = 64
MARGIN = 3.0  # delta of the ranking hinge
CLASSES = ["tampered", "authentic"]  # label 0, label 1 (the paper: 1 = authentic)
SCORE_MEANING = ("probability that the image is authentic (label 1, as in the paper); "
                 "below 0.5 reads tampered")
APPROACHES = {"e2e": "End-to-end CNN (experiment 1)",
              "two_stage": "Proposed two-stage CNN (experiment 2)"}
PAPER = {"e2e": 0.7522, "sutthiwan": 0.7920, "two_stage": 0.8311}  # Table 3 accuracy

# The quick setting keeps every layer of Table 4's forgery networks at a quarter of the
# widths (about 1/16 of the work) so that both stages and the baseline fit 10 minutes
# on 2 CPU cores; the full setting uses the presets as printed.
QUICK_CHANNEL = ("Input(64,64,3) - 2xC(16) - MP(2) - 2xC(32) - MP(2) - 2xC(32) - MP(2) - "
                 "2xC(64) - MP(2) - FC(128) - Drop(0.5) - FC(128) - Drop(0.5)")
QUICK_STAGE2 = ("Input(15,15,128) - 3xC(16) - MP(2) - 3xC(32) - MP(2) - 3xC(64) - MP(2) - "
                "FC(200) - Drop(0.5) - FC(200) - Drop(0.5) - FC(1,'sigmoid')")
QUICK_E2E = ("Input(256,384,3) - C(8) - MP(2) - C(16) - MP(2) - 2xC(16) - MP(2) - 2xC(32) - "
             "MP(2) - 2xC(64) - MP(2) - FC(128) - Drop(0.5) - FC(128) - Drop(0.5) - "
             "FC(1,'sigmoid')")


@dataclass(frozen=True)
class Setting:
    """Size of a forgery run: networks, epochs (patience), batches, seeds and, for the
    demo data set, how many images to generate. The hyper-image grid is stage 2's
    Input(U, V, D)."""

    name: str
    channel_arch: str = "forgery_channel"
    stage2_arch: str = "forgery_stage2"
    e2e_arch: str = "forgery_e2e"
    seeds: int = 1
    stage1_epochs: int = 30
    stage1_patience: int = 8
    stage2_epochs: int = 200
    stage2_patience: int = 40
    e2e_epochs: int = 40
    e2e_patience: int = 10
    stage1_batch: int = 64
    stage2_batch: int = 32
    e2e_batch: int = 16
    demo_authentic: int = 600
    demo_tampered: int = 400
    hidden: int | None = None  # w1 width of the siamese head (None: the feature width)

    def configs(self, seed: int) -> tuple[TrainConfig, TrainConfig, TrainConfig]:
        """Stage-1, stage-2 and end-to-end training configurations for ``seed``."""
        def cfg(make: Callable, epochs: int, patience: int, batch: int) -> TrainConfig:
            return make(epochs=epochs, patience=patience,
                        plateau_patience=max(2, patience // 2), batch_size=batch, seed=seed)
        return (cfg(stage1_config, self.stage1_epochs, self.stage1_patience, self.stage1_batch),
                cfg(stage2_config, self.stage2_epochs, self.stage2_patience, self.stage2_batch),
                cfg(stage1_config, self.e2e_epochs, self.e2e_patience, self.e2e_batch))

    def grid(self) -> tuple[int, int]:
        """(U, V) of stage 2's input."""
        _, u, v = nets.input_shape(nets.build(self.stage2_arch))
        return u, v


SETTINGS = {
    "quick": Setting("quick", channel_arch=QUICK_CHANNEL, stage2_arch=QUICK_STAGE2,
                     e2e_arch=QUICK_E2E, stage1_epochs=12, stage1_patience=4,
                     stage2_epochs=60, stage2_patience=15, e2e_epochs=12, e2e_patience=4,
                     demo_authentic=150, demo_tampered=100),
    "full": Setting("full"),
}


def _setting(setting: str | Setting) -> Setting:
    st = SETTINGS[setting] if isinstance(setting, str) and setting in SETTINGS else setting
    if not isinstance(st, Setting):
        raise ValueError(f"setting must be one of {', '.join(SETTINGS)} or a Setting, "
                         f"got {setting!r}")
    return st


def load_dataset(dataset: str, st: Setting, out: Path, root: str | Path | None,
                 masks: str | Path | None, log: Callable[[str], None]) -> casia2.Casia2:
    """The scanned data set: CASIA v2 at ``root``, or the demo set in out/data (made
    once; reused when it matches the setting)."""
    if dataset == "demo":
        if root is not None:
            raise ValueError("--root is for --dataset casia2; the demo set is generated")
        data = out / "data"
        if not forgery_demo.matches(data, st.demo_authentic, st.demo_tampered, 0):
            log(f"generating the demo spliced set ({st.demo_authentic} authentic, "
                f"{st.demo_tampered} tampered) in {data}")
            forgery_demo.generate(data, st.demo_authentic, st.demo_tampered, seed=0)
        return casia2.scan(data, masks)
    if dataset != "casia2":
        raise ValueError(f"dataset must be 'demo' or 'casia2', got {dataset!r}")
    if root is None:
        raise ValueError("--dataset casia2 needs --root, the folder holding Au/ and Tp/")
    return casia2.scan(root, masks)


def _rgb(image: np.ndarray) -> np.ndarray:
    """A read image as RGB: gray repeated, alpha dropped (CASIA mixes a few in)."""
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    return image[..., :3] if image.shape[2] >= 3 else np.repeat(image[..., :1], 3, axis=2)


def _is_rgb_file(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.mode == "RGB"
    except OSError:
        return True  # let the reader name the file


def _e2e_items(paths: Sequence[Path]) -> list[Any]:
    """File paths for RGB files (read lazily), converted arrays for the others."""
    return [p if _is_rgb_file(p) else _rgb(read_image(p)) for p in paths]


def positions(data: casia2.Casia2, pairs: Sequence[casia2.Pair], cache: Path,
              log: Callable[[str], None], progress: bool
              ) -> tuple[dict[str, dict], list[tuple[str, str]]]:
    """Contour patch positions of ``pairs``: {tampered path: {'authentic', 'tops'}} and
    (tampered path, reason) for pairs without a usable difference. Kept in ``cache``
    (JSON) and reused."""
    known: dict[str, dict] = json.loads(cache.read_text()) if cache.is_file() else {}
    found, skipped, new = {}, [], 0
    for pr in tqdm(pairs, desc="contours", leave=False, disable=None if progress else True):
        key = str(pr.tampered)
        if key not in known:
            new += 1
            try:
                t = read_image(pr.tampered)
                cands = [read_image(c) for c in pr.candidates]
                k = contours.closest_candidate(t, cands) if len(cands) > 1 else 0
                m = read_image(pr.mask) if pr.mask is not None else None
                res = contours.contour_patches(cands[k], t, m, patch=PATCH)
                known[key] = {"authentic": str(pr.candidates[k]), "tops": res.tops.tolist(),
                              "area": res.area}
            except (ValueError, TypeError) as e:  # NoUsableDifference is a ValueError
                known[key] = {"skip": str(e)}
        if "skip" in known[key]:
            skipped.append((key, known[key]["skip"]))
        else:
            found[key] = known[key]
    if new:
        write_text(cache, json.dumps(known))
    if skipped:
        log(f"{len(skipped)} pair(s) skipped at the contour step (first: {skipped[0][0]}: "
            f"{skipped[0][1]})")
    return found, skipped


def class_weights(labels: np.ndarray) -> tuple[float, float]:
    """(w0, w1) = n / (2 n_class): each class carries half of the loss."""
    y = np.asarray(labels)
    n1 = float((y == 1).sum())
    n0 = float(len(y) - n1)
    if n0 == 0 or n1 == 0:
        raise ValueError(f"the training set holds one class only ({int(n0)} tampered, "
                         f"{int(n1)} authentic); both are needed")
    return len(y) / (2 * n0), len(y) / (2 * n1)


def run_seed(data: casia2.Casia2, st: Setting, seed: int, rdir: Path, out: Path,
             dev: torch.device, resume: bool, log: Callable[[str], None],
             progress: bool) -> dict:
    """One seed: split, stage 1, hyper-images, stage 2, end-to-end, test metrics."""
    t0 = time.perf_counter()
    paths, labels, groups = data.classification_set()
    tr, va, te = casia2.grouped_split(groups, seed)
    wd = rdir / "work"
    wd.mkdir(parents=True, exist_ok=True)
    c1, c2, c3 = st.configs(seed)
    part = np.empty(len(paths), np.int64)
    part[tr], part[va], part[te] = 0, 1, 2
    where = {str(p): part[i] for i, p in enumerate(paths)}
    pos, skipped = positions(data, [p for p in data.pairs if where[str(p.tampered)] < 2],
                             out / "contours.json", log, progress)
    sets = {}
    for k, name in ((0, "train"), (1, "val")):
        keys = [t for t in pos if where[t] == k]
        if not keys:
            raise ValueError(f"no {name} pair has a usable tampered region; stage 1 needs "
                             f"some ({len(skipped)} pair(s) skipped at the contour step)")
        sets[name] = ([(pos[t]["authentic"], t) for t in keys], [pos[t]["tops"] for t in keys])
    log(f"[seed{seed}] {len(tr)}/{len(va)}/{len(te)} train/val/test images; stage 1 on "
        f"{len(sets['train'][0])} train and {len(sets['val'][0])} val pairs x "
        f"{contours.N_POINTS} contour patches")
    # ---- stage 1: siamese ranking on contour patch pairs
    mean_file = wd / "patch_mean.json"
    if mean_file.is_file():
        mean = json.loads(mean_file.read_text())
    else:
        mean = SiamesePairs(*sets["train"], patch=PATCH).channel_mean().tolist()
        write_text(mean_file, json.dumps(mean))
    train1 = SiamesePairs(*sets["train"], patch=PATCH, mean=mean, augment=True, seed=seed,
                          name="train pairs")
    val1 = SiamesePairs(*sets["val"], patch=PATCH, mean=mean, seed=seed, name="val pairs")
    ckpt1 = wd / "stage1.ckpt"
    if resume:
        train1.skip_draws(finished_epochs(ckpt1))
    torch.manual_seed(seed)
    ranker = SiameseRanker(nets.build(st.channel_arch), hidden=st.hidden)
    fit1 = fit(ranker, train1, val1, RankingHinge(MARGIN), c1, checkpoint=ckpt1, resume=resume,
               device=dev, log=lambda s: log(f"[seed{seed}] {s}"), name="stage1",
               progress=progress)
    d_val = predict(ranker, val1, batch_size=256)
    rank_acc = float(np.mean(np.sign(d_val) == val1.fixed_y))
    # ---- stage 2: hyper-images over the eq.-2 grid, weighted BCE on logits
    grid = st.grid()
    torch.manual_seed(seed)
    s2 = nets.build(st.stage2_arch)
    channels = nets.input_shape(s2)[0]
    # stage 1 was trained on mean-free patches: Centered subtracts the mean for the model
    model = TwoStage(Centered(ranker.channel, mean), s2, stage1_arch=st.channel_arch,
                     stage2_arch=st.stage2_arch, patch=(PATCH, PATCH), grid=grid, lcn=False,
                     kind="classifier", classes=CLASSES, threshold=0.5,
                     meta={"task": "forgery", "score_meaning": SCORE_MEANING})
    model.eval()
    # 16 image files read at a time, 256 patches through stage 1 at once: the paper's
    # channel holds 64 maps of 64 x 64 per patch after its first layer (1 MiB)
    hyper = {name: cached_hyperimages(f"hyper_{name}", model,
                                      ImageFiles([paths[i] for i in idx]), wd, "mmap",
                                      batch_size=256, progress=progress, group=16,
                                      prepare=_rgb)
             for name, idx in (("train", tr), ("val", va), ("test", te))}
    if hyper["train"].shape[1] != channels:
        raise ValueError(f"stage 2 {st.stage2_arch!r} takes {channels} channels but the "
                         f"channel gives {hyper['train'].shape[1]} features")
    weights = class_weights(labels[tr])
    s2 = Standardized(s2, channels).fit_statistics(hyper["train"], labels[tr])
    with torch.no_grad():  # standardize the inputs only: the output is a probability
        s2.out_mean.fill_(0.0)
        s2.out_std.fill_(1.0)
    with logits_output(s2.net):
        fit2 = fit(s2, (hyper["train"], labels[tr]), (hyper["val"], labels[va]),
                   WeightedBCE(weights), c2, checkpoint=wd / "stage2.ckpt", resume=resume,
                   device=dev, log=lambda s: log(f"[seed{seed}] {s}"), name="stage2",
                   progress=progress)
    model.stage2 = s2.eval()
    prob = {"two_stage": predict(s2, hyper["test"], batch_size=64)}
    # ---- experiment 1: the end-to-end CNN on resized whole images
    e2e, fit3 = train_end_to_end(
        _e2e_items([paths[i] for i in tr]), labels[tr], _e2e_items([paths[i] for i in va]),
        labels[va], arch=st.e2e_arch, objective=WeightedBCE(weights), config=c3,
        workdir=wd / "e2e", resume=resume, device=dev, log=lambda s: log(f"[seed{seed}] {s}"),
        progress=progress, flip=True)
    prob["e2e"] = predict_end_to_end(e2e, _e2e_items([paths[i] for i in te]))
    run = {"run": f"seed{seed}", "seed": seed, "train": len(tr), "val": len(va),
           "test": len(te), "test_authentic": int(labels[te].sum()),
           "test_tampered": int(len(te) - labels[te].sum()),
           "stage1_pairs": {"train": len(sets["train"][0]), "val": len(sets["val"][0])},
           "contour_skipped": len(skipped), "class_weights": list(weights),
           "patch_mean": mean, "seconds": None,
           "stage1": {"best_val_hinge": fit1.best_val, "best_epoch": fit1.best_epoch,
                      "epochs": fit1.epochs_run, "val_ranking_accuracy": rank_acc},
           "stage2": {"best_val_bce": fit2.best_val, "best_epoch": fit2.best_epoch,
                      "epochs": fit2.epochs_run},
           "e2e": {"best_val_bce": fit3.best_val, "best_epoch": fit3.best_epoch,
                   "epochs": fit3.epochs_run},
           "metrics": {k: classification_report(prob[k], labels[te]) for k in APPROACHES}}
    run["seconds"] = time.perf_counter() - t0
    model.save(rdir / "model")
    save_torch(e2e.state_dict(), rdir / "e2e.pt")
    np.savez(rdir / "predictions.npz", path=np.array([str(paths[i]) for i in te]),
             true=labels[te], **prob)
    write_text(rdir / "metrics.json", json.dumps(run, indent=2))
    return run


def run_forgery(dataset: str = "demo", setting: str | Setting = "quick",
                out: str | Path = "runs/forgery-demo-quick", *, root: str | Path | None = None,
                masks: str | Path | None = None, device: Any = "auto", resume: bool = False,
                log: Callable[[str], None] = print, progress: bool = True) -> dict:
    """Runs Table 3 and writes results.json, results.md, roc.png, contour pictures and
    the trained models to ``out`` (never into the dataset folder).

    Every seed keeps its checkpoints and hyper-image caches under out/seed<s>/work; a
    finished seed writes out/seed<s>/metrics.json and is reused by ``resume``. An
    existing ``out`` is never overwritten without ``resume``.

    Returns:
        the results dictionary also written to results.json.
    """
    st = _setting(setting)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not resume:
        raise FileExistsError(f"{out} already holds results; pass --resume to continue that "
                              "run, or choose another --out (nothing is overwritten)")
    for folder in (root, masks):
        if folder is not None and casia2.inside(out, Path(folder)):
            raise ValueError(f"--out {out} is inside the dataset folder {folder}; nothing is "
                             "written there, choose another --out")
    dev = resolve_device(device)
    t_start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset(dataset, st, out, root, masks, log)
    summary = data.summary()
    log(f"{data.root}: {summary['authentic']} authentic, {summary['pairs']} tampered paired, "
        f"{summary['skipped']} file(s) skipped {summary['skipped_by_reason'] or ''}")
    if summary["pairs"] == 0:
        raise ValueError(f"{data.root}: no tampered image could be paired with its source; "
                         "nothing to train on (run --inspect to see why)")
    write_text(out / "config.json", json.dumps(
        {"dataset": dataset, "root": str(data.root),
         "masks": None if masks is None else str(masks), "setting": asdict(st),
         "grid": st.grid(), "patch": PATCH, "margin": MARGIN, "device": str(dev),
         "data": summary, **describe_machine()}, indent=2))
    if not (out / "pairs.csv").exists():
        data.to_csv(out / "pairs.csv")
    runs = []
    for seed in range(st.seeds):
        rdir = out / f"seed{seed}"
        done = rdir / "metrics.json"
        if done.is_file():
            log(f"[seed{seed}] finished earlier; reusing {done}")
            runs.append(json.loads(done.read_text()))
            continue
        run = run_seed(data, st, seed, rdir, out, dev, resume, log, progress)
        m = run["metrics"]
        log(f"[seed{seed}] accuracy two-stage {m['two_stage']['accuracy']:.4f} "
            f"(AUC {m['two_stage']['roc_auc']:.3f}) | end-to-end {m['e2e']['accuracy']:.4f} "
            f"(AUC {m['e2e']['roc_auc']:.3f}) ({run['seconds']:.0f} s)")
        runs.append(run)
    results = {"task": "forgery", "dataset": dataset, "setting": asdict(st),
               "device": str(dev), "data": summary, "runs": runs,
               "summary": summarize(runs), "paper": PAPER,
               "models": [f"seed{r['seed']}/model" for r in runs],
               "roc_auc_method": "Mann-Whitney U / (n_authentic n_tampered), scipy.stats",
               "seconds": time.perf_counter() - t_start}
    write_text(out / "results.json", json.dumps(results, indent=2))
    write_text(out / "results.md", table(results))
    write_manifest(out, "forgery", results["models"])
    from .forgery_plots import plot_contour_examples, plot_roc

    plot_roc(out, runs, out / "roc.png")
    plot_contour_examples(data, out / "contours.json", out / "contours", count=3)
    log("\n" + table(results))
    log(f"wrote {out / 'results.json'}, results.md, roc.png, contours/")
    return results


def summarize(runs: list[dict]) -> dict:
    """Mean and standard deviation over seeds of each metric, per approach, and the
    confusion matrices summed over seeds."""
    s: dict = {}
    for k in APPROACHES:
        s[k] = {}
        for metric in ("accuracy", "balanced_accuracy", "roc_auc"):
            v = np.array([r["metrics"][k][metric] for r in runs], dtype=np.float64)
            s[k][metric] = {"mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v)}
        s[k]["confusion_matrix"] = np.sum([r["metrics"][k]["confusion_matrix"] for r in runs],
                                          axis=0).tolist()
    return s


def _pm(s: dict, pct: bool = True) -> str:
    f = 100 if pct else 1
    unit = "%" if pct else ""
    if s["n"] > 1:
        return f"{f * s['mean']:.2f}{unit} ± {f * s['std']:.2f}"
    return f"{f * s['mean']:.2f}{unit}" if pct else f"{s['mean']:.4f}"


def table(results: dict) -> str:
    """A Markdown table laid out like Table 3, with the paper's accuracy beside ours."""
    s, n = results["summary"], len(results["runs"])
    test = results["runs"][0]
    head = (f"# Image forgery classification ({results['dataset']}, "
            f"{results['setting']['name']} setting, {n} seed(s); test set of {test['test']} "
            f"images: {test['test_authentic']} authentic, {test['test_tampered']} tampered)\n\n")
    rows = ["| Approach | Classification accuracy | Balanced accuracy | ROC AUC | "
            "Confusion matrix [[TN, FP], [FN, TP]] (1 = authentic) | paper accuracy |",
            "|---|---|---|---|---|---|"]
    for k in ("e2e", "two_stage"):
        r = s[k]
        rows.append(f"| {APPROACHES[k]} | {_pm(r['accuracy'])} | "
                    f"{_pm(r['balanced_accuracy'])} | {_pm(r['roc_auc'], False)} | "
                    f"{r['confusion_matrix']} | {100 * PAPER[k]:.2f}% |")
        if k == "e2e":
            rows.append("| Current state of the art (Sutthiwan et al. 2011) | not implemented "
                        f"| | | | {100 * PAPER['sutthiwan']:.2f}% |")
    note = ("\nROC AUC: Mann-Whitney U / (n_authentic x n_tampered) (scipy.stats; "
            "scikit-learn is not used). Accuracy at probability 0.5.\n")
    return head + "\n".join(rows) + "\n" + note


def inspect(root: str | Path, masks: str | Path | None = None,
            to_csv: str | Path | None = None, log: Callable[[str], None] = print) -> dict:
    """Prints the pairs found and the files skipped (with reasons); writes the pair
    table to ``to_csv`` when given. Returns the summary."""
    data = casia2.scan(root, masks)
    for p in data.pairs:
        extra = f"  mask {p.mask.name}" if p.mask is not None else ""
        alt = f"  (or {p.candidates[1].name})" if len(p.candidates) > 1 else ""
        log(f"pair  {p.tampered.name}  <-  {p.authentic.name}{alt}{extra}")
    for path, why in data.skipped:
        log(f"skip  {path}: {why}")
    s = data.summary()
    log(f"{s['authentic']} authentic, {s['pairs']} pairs ({s['spliced_pairs']} spliced, "
        f"{s['copy_move_pairs']} copy-move, {s['pairs_with_mask']} with a mask), "
        f"{s['skipped']} skipped {s['skipped_by_reason'] or ''}")
    if to_csv is not None:
        log(f"wrote {data.to_csv(to_csv)}")
    return s


__all__ = ["APPROACHES", "PAPER", "SETTINGS", "Setting", "inspect", "run_forgery", "summarize",
           "table"]
