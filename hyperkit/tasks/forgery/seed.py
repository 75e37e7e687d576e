"""One seed of a forgery run: the split, stage 1 (siamese ranking of contour patch pairs),
hyper-images and stage 2, the end-to-end baseline, and the test metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ... import nets
from ...data.forgery import casia2, contours, splices
from ...data.forgery.pairs import SiamesePairs
from ...data.image_files import ImageFiles
from ...devices import resolve_device
from ...evaluation.classification import classification_report, pick_threshold
from ...files import save_torch, write_text
from ...images import read_image
from ...model import TwoStage
from ...nets.siamese import Centered, SiameseRanker
from ...nets.standardized import Standardized
from ...runs import RunFolder
from ...training.augment import FlippedHyperimages
from ...training.end_to_end import logits_output, predict_end_to_end, train_end_to_end
from ...training.loop import FitResult, fit, predict
from ...training.objectives import RankingHinge, RankingHingePatchScore, WeightedBCE
from ...training.recipes import cached_hyperimages, stage2_options
from ...views import combine_views, view_image
from . import dct_markov, format_baseline, tamper_maps
from .fusion import FUSED, fuse
from .settings import APPROACHES, CLASSES, FLAT, MARGIN, PATCH, SCORE_MEANING, Setting


def _rgb(image: np.ndarray) -> np.ndarray:
    """A read image as RGB: gray repeated, alpha dropped (CASIA mixes a few in)."""
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    return image[..., :3] if image.shape[2] >= 3 else np.repeat(image[..., :1], 3, axis=2)


def _view_of(view: str) -> Callable[[np.ndarray], np.ndarray]:
    """How a read image becomes the RGB image of ``view`` (hyperkit.views)."""
    return lambda image: view_image(_rgb(image), view)


def _is_rgb_file(path: Path) -> bool:
    try:
        with Image.open(path) as im:
            return im.mode == "RGB"
    except OSError:
        return True  # let the reader name the file


def _e2e_items(paths: Sequence[Path]) -> list[Any]:
    """File paths for RGB files (read lazily), converted arrays for the others."""
    return [p if _is_rgb_file(p) else _rgb(read_image(p)) for p in paths]


def positions(data: casia2.Casia2, pairs: Sequence[casia2.Pair], cache: Path,
              log: Callable[[str], None], progress: bool, points: int = contours.N_POINTS
              ) -> tuple[dict[str, dict], list[tuple[str, str]]]:
    """Contour patch positions of ``pairs`` (``points`` per pair): {tampered path:
    {'authentic', 'tops'}} and (tampered path, reason) for pairs without a usable
    difference. Kept in ``cache`` (JSON; one run folder, one setting) and reused."""
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
                res = contours.contour_patches(cands[k], t, m, patch=PATCH, n_points=points)
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


def edge_positions(authentic: Sequence[str], n: int, cache: Path) -> dict[str, list]:
    """{authentic path: int (n, 2) tops as lists}: each image's ``n`` strongest natural-edge
    windows (:func:`hyperkit.data.forgery.contours.edge_tops`), kept in ``cache`` (JSON,
    keyed by path, n, patch size and stride) and reused."""
    known: dict[str, list] = json.loads(cache.read_text()) if cache.is_file() else {}
    out, new = {}, 0
    for a in dict.fromkeys(map(str, authentic)):
        # everything the positions depend on: a changed patch or stride recomputes
        key = f"{a}|{n}|{PATCH}|{contours.EDGE_STRIDE}"
        if key not in known:
            try:
                known[key] = contours.edge_tops(read_image(a), n, PATCH).tolist()
            except ValueError as e:  # e.g. smaller than a patch: name the file
                raise ValueError(f"{a}: {e}") from e
            new += 1
        out[a] = known[key]
    if new:
        write_text(cache, json.dumps(known))
    return out


def with_edge_negatives(pairs: Sequence[tuple[Any, Any]], tops: Sequence[Any],
                        edges: dict[str, list], m: int
                        ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(tampered tops, authentic tops), (n + m, 2) per pair: the n contour samples as they
    are, then ``m`` more whose authentic patch lies at the image's k-th strongest edge
    (``edges``, :func:`edge_positions`) and whose tampered patch is contour point k % n."""
    tt, ta = [], []
    for (a, _), t in zip(pairs, tops):
        t = np.asarray(t, np.int64)
        e = np.asarray(edges[str(a)], np.int64)[:m]
        if len(e) < m:
            raise ValueError(f"{a}: {len(e)} edge positions for {m} edge negatives")
        tt.append(np.concatenate([t, t[np.arange(m) % len(t)]]))
        ta.append(np.concatenate([t, e]))
    return tt, ta


def class_weights(labels: np.ndarray) -> tuple[float, float]:
    """(w0, w1) = n / (2 n_class): each class carries half of the loss."""
    y = np.asarray(labels)
    n1 = float((y == 1).sum())
    n0 = float(len(y) - n1)
    if n0 == 0 or n1 == 0:
        raise ValueError(f"the training set holds one class only ({int(n0)} tampered, "
                         f"{int(n1)} authentic); both are needed")
    return len(y) / (2 * n0), len(y) / (2 * n1)


@dataclass
class Seed:
    """One seed's split and folders, as its steps see them."""

    data: casia2.Casia2
    st: Setting
    seed: int
    folder: RunFolder
    dev: torch.device
    resume: bool
    progress: bool
    paths: Sequence[Path]
    labels: np.ndarray
    tr: np.ndarray
    va: np.ndarray
    te: np.ndarray
    positions_file: Path  # the contour positions cache (:func:`positions`)

    @property
    def wd(self) -> Path:
        return self.folder.path / f"seed{self.seed}" / "work"

    def log(self, s: str) -> None:
        self.folder.log(f"[seed{self.seed}] {s}")


def seed_once(data: casia2.Casia2, st: Setting, seed: int, folder: RunFolder,
              dev: torch.device, resume: bool, progress: bool,
              positions_file: Path | None = None) -> dict:
    """Seed ``seed``'s metrics: reused when it finished earlier (seed<s>/metrics.json),
    else run (:func:`run_seed`) and logged."""
    done = folder.reuse(f"seed{seed}")
    if done is not None:
        return done
    run = run_seed(data, st, seed, folder, dev, resume, progress, positions_file)
    m = run["metrics"]
    folder.log(f"[seed{seed}] accuracy two-stage {m['two_stage']['accuracy']:.4f} "
               f"(AUC {m['two_stage']['roc_auc']:.3f}) | end-to-end "
               f"{m['e2e']['accuracy']:.4f} (AUC {m['e2e']['roc_auc']:.3f}) "
               f"({run['seconds']:.0f} s)")
    return run


def run_seed(data: casia2.Casia2, st: Setting, seed: int, folder: RunFolder,
             dev: torch.device | str, resume: bool, progress: bool,
             positions_file: Path | None = None) -> dict:
    """One seed: split, stage 1, hyper-images, stage 2, end-to-end, test metrics; writes
    seed<s>/ (model, e2e.pt, predictions.npz, metrics.json last) and adds the contour
    positions of its pairs to ``positions_file`` (default: the run's out/contours.json; a
    unit run keeps its own, :mod:`.units`). ``dev``: 'auto', 'cpu', 'cuda' or a
    torch.device."""
    t0 = time.perf_counter()
    dev = resolve_device(dev)
    paths, labels, groups = data.classification_set()
    tr, va, te = casia2.grouped_split(groups, seed)
    sd = Seed(data, st, seed, folder, dev, resume, progress, paths, labels, tr, va, te,
              positions_file or folder.path / "contours.json")
    sd.wd.mkdir(parents=True, exist_ok=True)
    c1, c2, c3 = st.configs(seed)
    sets, skipped = _pair_sets(sd)
    ranker, mean, fit1, rank_acc, edge_acc = _stage1(sd, sets, c1)
    weights = class_weights(labels[tr])
    # stage 2 may also train on the splices, as tampered images (label 0)
    extra = sets["splice_files"] if st.splices_for("stage2") else []
    model, fit2, prob, val_prob, weights2 = _stage2(sd, ranker, mean, c2, extra)
    files = {name: [paths[i] for i in idx] for name, idx in (("tr", tr), ("va", va),
                                                              ("te", te))}
    e2e_val = _e2e_items(files["va"])  # trains' validation, then the threshold
    e2e, fit3 = train_end_to_end(
        _e2e_items(files["tr"]), labels[tr], e2e_val, labels[va],
        arch=st.e2e_arch, objective=WeightedBCE(weights), config=c3, workdir=sd.wd / "e2e",
        resume=resume, device=dev, log=sd.log, progress=progress, flip=True)
    prob["e2e"] = predict_end_to_end(e2e, _e2e_items(files["te"]))
    val_prob["e2e"] = predict_end_to_end(e2e, e2e_val)
    # the files alone (format, JPEG tables, bytes per pixel, size): a leak shows here
    val_prob["format_only"], prob["format_only"] = format_baseline.fit_predict(
        files["tr"], labels[tr], [files["va"], files["te"]], seed=seed)
    try:  # Table 3's DCT-domain row (scikit-learn, an optional extra)
        val_prob["dct_markov"], prob["dct_markov"] = dct_markov.fit_predict(
            files["tr"], labels[tr], files["va"], labels[va], [files["te"]], log=sd.log)
    except ImportError as e:
        sd.log(f"skipped the DCT Markov baseline: {e}")
    fused_from: list[str] | None = None  # None: not fused (e.g. no scikit-learn)
    fusion_weights: dict[str, float] | None = None
    fused_val: dict[str, np.ndarray] = {}  # not saved: .fusion.fuse recomputes them
    if all(k in prob for k in FUSED):  # the two cues together (.fusion)
        rows, fused_from, fusion_weights = fuse(val_prob, prob, labels[va])
        for k, (fv, ft) in rows.items():
            fused_val[k], prob[k] = fv, ft
        if fused_from != list(FUSED):
            sd.log(f"late fusion used {', '.join(fused_from) or 'nothing'} only: the others' "
                   f"validation scores span less than {FLAT:g}")
    # every approach's decision threshold is picked on the validation images, alike
    # (the two-stage one is the saved model's own, model.threshold, the same cut)
    thresholds = {k: pick_threshold(v, labels[va])
                  for k, v in {**val_prob, **fused_val}.items()}
    run = {"run": f"seed{seed}", "seed": seed, "train": len(tr), "val": len(va),
           "test": len(te), "test_authentic": int(labels[te].sum()),
           "test_tampered": int(len(te) - labels[te].sum()),
           "stage1_pairs": {"train": len(sets["train"][0]) - sets["synthetic"],
                            "val": len(sets["val"][0]), "synthetic": sets["synthetic"]},
           "contour_skipped": len(skipped), "class_weights": list(weights),
           "patch_mean": mean, "seconds": None,
           "stage1": {"best_val_hinge": fit1.best_val, "best_epoch": fit1.best_epoch,
                      "epochs": fit1.epochs_run, "val_ranking_accuracy": rank_acc,
                      "val_edge_ranking_accuracy": edge_acc,
                      "memory_format": _layout(ranker)},
           "stage2": {**_bce(fit2), "test_probability_range": _spread(prob["two_stage"]),
                      "synthetic_train": len(extra), "class_weights": list(weights2)},
           "e2e": _bce(fit3),
           "fused_from": fused_from, "fusion_weights": fusion_weights,
           "metrics": {k: classification_report(prob[k], labels[te], thresholds[k])
                       for k in APPROACHES if k in prob},
           "metrics_at_0.5": {k: classification_report(prob[k], labels[te])
                              for k in APPROACHES if k in prob}}
    if run["stage2"]["test_probability_range"] < FLAT:
        sd.log(f"stage 2 stayed near-constant: its test probabilities span "
               f"{run['stage2']['test_probability_range']:.1e} (< {FLAT:g}; best validation "
               f"epoch {fit2.best_epoch}), so its ROC AUC is unreliable")
    rel = f"seed{seed}"
    # where: pixel maps of the tampered test images that have a ground-truth mask
    masks = tamper_maps.evaluation_masks(data)
    items = [(paths[i], masks[paths[i]]) for i in te if paths[i] in masks]
    if items:
        run["localization"] = tamper_maps.localization(
            model, items, seed=seed, maps_dir=folder.path / rel / "maps")
    run["seconds"] = time.perf_counter() - t0
    folder.save_model(model, f"{rel}/model")
    folder.on_rank0(save_torch, e2e.state_dict(), folder.path / rel / "e2e.pt")
    # the validation images' scores too (val_*), so that other fusion or threshold rules
    # can be checked later without retraining
    folder.finish(rel, run, {"path": np.array([str(p) for p in files["te"]]),
                             "true": labels[te], **prob,
                             "val_path": np.array([str(p) for p in files["va"]]),
                             "val_true": labels[va],
                             **{f"val_{k}": v for k, v in val_prob.items()}})
    return run


def _spread(p: np.ndarray) -> float:
    return float(np.ptp(np.asarray(p, dtype=np.float64))) if len(p) else 0.0


def _bce(r: FitResult) -> dict:
    return {"best_val_bce": r.best_val, "best_epoch": r.best_epoch, "epochs": r.epochs_run}


def _pair_sets(sd: Seed) -> tuple[dict, list]:
    """Stage 1's (authentic, tampered) pairs and contour tops of the training and
    validation images ({'train', 'val'}: (pairs, tops); 'synthetic': how many of the
    training pairs are splices, 'splice_files': every splice made), and the pairs
    skipped at the contour step."""
    part = np.empty(len(sd.paths), np.int64)
    part[sd.tr], part[sd.va], part[sd.te] = 0, 1, 2
    where = {str(p): part[i] for i, p in enumerate(sd.paths)}
    pairs = [p for p in sd.data.pairs if where[str(p.tampered)] < 2]
    pos, skipped = sd.folder.rank0_first(lambda: positions(
        sd.data, pairs, sd.positions_file, sd.folder.log, sd.progress, sd.st.contour_points))
    sets = {}
    for k, name in ((0, "train"), (1, "val")):
        keys = [t for t in pos if where[t] == k]
        if not keys:
            raise ValueError(f"no {name} pair has a usable tampered region; stage 1 needs "
                             f"some ({len(skipped)} pair(s) skipped at the contour step)")
        sets[name] = ([(pos[t]["authentic"], t) for t in keys], [pos[t]["tops"] for t in keys])
    sets["synthetic"], sets["splice_files"] = 0, []
    if sd.st.splices:  # synthetic splices of the training authentic images only
        made = sd.folder.rank0_first(lambda: splices.make_splices(
            [sd.paths[i] for i in sd.tr if sd.labels[i] == 1], sd.wd / "splices",
            sd.st.splices, seed=sd.seed, points=sd.st.contour_points, patch=PATCH,
            jpeg=sd.st.splice_jpeg, progress=sd.progress))
        sets["splice_files"] = [t for _, t in made[0]]
        if sd.st.splices_for("stage1"):
            sets["train"] = (sets["train"][0] + made[0], sets["train"][1] + made[1])
            sets["synthetic"] = len(made[0])
    real = len(sets["train"][0]) - sets["synthetic"]
    sd.log(f"{len(sd.tr)}/{len(sd.va)}/{len(sd.te)} train/val/test images; stage 1 on "
           f"{real} train (+{sets['synthetic']} synthetic) and {len(sets['val'][0])} val "
           f"pairs x {sd.st.contour_points} contour patches")
    return sets, skipped


def _stage1(sd: Seed, sets: dict, config: Any
            ) -> tuple[SiameseRanker, list, FitResult, float, float]:
    """The siamese ranker on contour patch pairs (ranking hinge, mean-free patches, flips
    on the fly; with ``Setting.edge_negatives``, natural-edge negatives beside them);
    returns it, the patch mean, its fit and its validation ranking accuracy on the
    same-position pairs and on natural-edge pairs (the authentic image's strongest edges
    against the tampered contour patches, :func:`with_edge_negatives`)."""
    mean = sd.folder.rank0_first(lambda: _patch_mean(sd.wd / "patch_mean.json", sets))
    n, m = sd.st.contour_points, sd.st.edge_negatives
    cache = sd.positions_file.with_name("edges.json")
    used = [a for a, _ in sets["val"][0]] + ([a for a, _ in sets["train"][0]] if m else [])
    edges = sd.folder.rank0_first(lambda: edge_positions(used, max(n, m), cache))
    tops, authentic_tops = sets["train"][1], None
    if m:
        tops, authentic_tops = with_edge_negatives(*sets["train"], edges, m)
    train1 = SiamesePairs(sets["train"][0], tops, patch=PATCH, mean=mean, augment=True,
                          seed=sd.seed, name="train pairs", jitter=sd.st.contour_jitter,
                          authentic_tops=authentic_tops)
    # validation (the kept epoch) ranks the same-position pairs only, as without edges
    val1 = SiamesePairs(*sets["val"], patch=PATCH, mean=mean, seed=sd.seed, name="val pairs")
    ckpt1 = sd.wd / "stage1.ckpt"  # fit sets the draws' epoch (a resume replays them)
    torch.manual_seed(sd.seed)
    w = sd.st.patch_score
    ranker = SiameseRanker(nets.build(sd.st.channel_arch), hidden=sd.st.hidden,
                           patch_score=w > 0)
    stage1_layout(ranker, sd.dev, sd.st.stage1_channels_last)  # the hyper-image builds too
    objective = RankingHingePatchScore(MARGIN, w) if w > 0 else RankingHinge(MARGIN)
    # with a patch score, validation still ranks pairs by d alone (comparable runs)
    fit1 = fit(ranker, train1, val1, objective, config, checkpoint=ckpt1,
               resume=sd.resume, device=sd.dev, log=sd.log, name="stage1",
               progress=sd.progress, val_objective=RankingHinge(MARGIN) if w > 0 else None)
    # the same tampered contour patches, each against the authentic image's k-th edge
    val_edges = SiamesePairs(*sets["val"], patch=PATCH, mean=mean, seed=sd.seed,
                             name="val edge pairs",
                             authentic_tops=[edges[str(a)][:n] for a, _ in sets["val"][0]])
    return (ranker, mean, fit1, ranking_accuracy(ranker, val1),
            ranking_accuracy(ranker, val_edges))


def ranking_accuracy(ranker: SiameseRanker, pairs: SiamesePairs) -> float:
    """Share of the (validation) samples of ``pairs`` whose d has the sign of their fixed
    order y (the authentic patch ranked as more authentic)."""
    d = predict(ranker, pairs, batch_size=256)
    d = d[:, 0] if d.ndim == 2 else d  # d, beside the patch logits
    return float(np.mean(np.sign(d) == pairs.fixed_y))


def stage1_layout(net: torch.nn.Module, device: torch.device, channels_last: bool) -> None:
    """Puts ``net``'s 4-D weights in channels-last memory on a CPU when ``channels_last``
    (oneDNN's fast layout there: bench/RESULTS.md forgery-channels-last); elsewhere leaves
    them. Inputs need no conversion: a convolution follows its weight's layout."""
    if device.type == "cpu" and channels_last:
        net.to(memory_format=torch.channels_last)


def _layout(net: torch.nn.Module) -> str:
    """'channels_last' when ``net``'s first 4-D weight is in channels-last memory (the
    run record's ``stage1.memory_format``), else 'contiguous'."""
    w = next((p for p in net.parameters() if p.ndim == 4), None)
    return ("channels_last" if w is not None and not w.is_contiguous()
            and w.is_contiguous(memory_format=torch.channels_last) else "contiguous")


def _patch_mean(path: Path, sets: dict) -> list:
    """The training patches' channel mean (kept in ``path`` and reused)."""
    if path.is_file():
        return json.loads(path.read_text())
    mean = SiamesePairs(*sets["train"], patch=PATCH).channel_mean().tolist()
    write_text(path, json.dumps(mean))
    return mean


def fit_stage2(net: torch.nn.Module, train: tuple[Any, np.ndarray], val: tuple[Any, np.ndarray],
               weights: tuple[float, float], config: Any, *, flips: bool, seed: int,
               checkpoint: Path | None = None, resume: bool = False, device: Any = "cpu",
               log: Callable[[str], None] | None = None, progress: bool = False,
               val_objective: Any = None) -> tuple[Standardized, FitResult]:
    """Stage 2 of a forgery model on (hyper-images (N, D, U, V), labels (N,)) pairs:
    inputs standardized with the training set's channel statistics (the output stays a
    probability), weighted BCE on logits, grid flips when ``flips``. Returns the trained
    network (eval mode) and its fit; ``val_objective`` as in
    :func:`~hyperkit.training.loop.fit`."""
    s2 = Standardized(net, train[0].shape[1]).fit_statistics(*train)
    with torch.no_grad():  # standardize the inputs only: the output is a probability
        s2.out_mean.fill_(0.0)
        s2.out_std.fill_(1.0)
    source = FlippedHyperimages(*train, seed) if flips else train
    with logits_output(s2.net):
        result = fit(s2, source, val, WeightedBCE(weights), config, checkpoint=checkpoint,
                     resume=resume, device=device, log=log, name="stage2",
                     progress=progress, val_objective=val_objective)
    return s2.eval(), result


def _stage2(sd: Seed, ranker: SiameseRanker, mean: list, config: Any,
            extra: Sequence[str] = ()
            ) -> tuple[TwoStage, FitResult, dict, dict, tuple[float, float]]:
    """Hyper-images over the eq.-2 grid and stage 2 with weighted BCE on logits (class
    weights of its training labels); ``extra``: synthetic tampered image files added to
    its training images. With several views (``Setting.views``) stage 2 trains on every
    view's hyper-images (and validates on them, each a sample) and scores an image by
    the mean logit of its views (:func:`hyperkit.views.combine_views`), as the saved
    model does. Returns the two-stage model, the fit, the test and the validation
    probabilities ({'two_stage': (N,)} each) and the class weights used."""
    st, labels, tr, va = sd.st, sd.labels, sd.tr, sd.va
    train_y = np.r_[labels[tr], np.zeros(len(extra), labels.dtype)]
    grid = st.grid()
    torch.manual_seed(sd.seed)
    s2 = nets.build(st.stage2_arch)
    channels = nets.input_shape(s2)[0]
    # stage 1 was trained on mean-free patches: Centered subtracts the mean for the model
    model = TwoStage(Centered(ranker.channel, mean), s2, stage1_arch=st.channel_arch,
                     stage2_arch=st.stage2_arch, patch=(PATCH, PATCH), grid=grid, lcn=False,
                     kind="classifier", classes=CLASSES, threshold=0.5,
                     meta={"task": "forgery", "score_meaning": SCORE_MEANING},
                     views=st.views)
    model.eval()
    # 16 image files read at a time; on a CPU 32 patches through stage 1 at once, whose
    # activations stay in cache: the demo's 250 hyper-images in 28-30 s against 70-75 s
    # with 256 (bench/forgery_hyper_batch.py, 2-core AMD EPYC; the paper's channel 1.2x);
    # features differ by float rounding (at most 5e-7)
    batch = 32 if sd.dev.type == "cpu" else 256
    files = {"train": [sd.paths[i] for i in tr] + [Path(f) for f in extra],
             "val": [sd.paths[i] for i in va], "test": [sd.paths[i] for i in sd.te]}
    # one cache per set and view: hyper_train.npy, hyper_train_mirror.npy, ...
    hyper = {name: [cached_hyperimages(f"hyper_{name}" + ("_splices" if extra and
                                                          name == "train" else "")
                                       + ("" if v == "original" else f"_{v}"),
                                       model, ImageFiles(f), sd.wd, "mmap", batch_size=batch,
                                       progress=sd.progress, group=16, prepare=_view_of(v))
                    for v in st.views]
             for name, f in files.items()}
    if hyper["train"][0].shape[1] != channels:
        raise ValueError(f"stage 2 {st.stage2_arch!r} takes {channels} channels but the "
                         f"channel gives {hyper['train'][0].shape[1]} features")
    # every view of an image is one more sample (one view: the memory-mapped caches as
    # they are; several: concatenated in memory)
    k = len(st.views)
    stack = (lambda hs: hs[0]) if k == 1 else np.concatenate
    # with splices tampered is the larger training class; its weights (n / (2 n_class))
    # also weigh the validation loss that picks the kept epoch
    weights = class_weights(train_y)
    s2, fit2 = fit_stage2(s2, (stack(hyper["train"]), np.tile(train_y, k)),
                          (stack(hyper["val"]), np.tile(labels[va], k)),
                          weights, config,
                          flips=stage2_options(st.stage2_recipe)["flips"],
                          seed=sd.seed, checkpoint=sd.wd / "stage2.ckpt", resume=sd.resume,
                          device=sd.dev, log=sd.log, progress=sd.progress)
    model.stage2 = s2
    # the decision threshold is picked on the validation images (balanced accuracy):
    # weighted BCE balances the classes' losses, not where 0.5 falls
    def score(name: str) -> np.ndarray:
        return combine_views([predict(s2, h, batch_size=64) for h in hyper[name]],
                             model.kind)

    val_prob = score("val")
    model.threshold = pick_threshold(val_prob, labels[va])
    return model, fit2, {"two_stage": score("test")}, {"two_stage": val_prob}, weights
