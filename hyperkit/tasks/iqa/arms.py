"""The NR-IQA arms as a table: arm name -> :class:`Arm` (its label, the stage 1 it uses and
how it is trained and scored).

Stage 1 kinds: ``'cnn'`` (every grid patch), ``'cnn_selective'`` (the selective patch
training set, :mod:`hyperkit.data.iqa.selection`), ``'vgg'`` (frozen VGG-16 conv layers +
two trained FC800 layers, selective) or None (an end-to-end network, no stage 1). One
stage 1 of each kind is trained per split and shared by every arm that names it.

A scorer gets the split and the arm's trained stage 1 and returns the test predictions
and what to record about training. Adding an arm is one entry::

    ARMS["patch_min"] = Arm("CNN + selective patch training, worst patch",
                            "cnn_selective", pooled("patch_min"))
    ARMS["grid_head"] = Arm("CNN + selective patch training + grid head",
                            "cnn_selective", stage2(arch="Input(...) - ..."), fallback="cnn")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ... import nets
from ...data.image_files import ImageFiles
from ...data.iqa import IQATable
from ...data.iqa.selection import rows_to_positions
from ...model import TwoStage
from ...patches import PositionedPatches
from ...pooling import pick_temperature
from ...training.config import TrainConfig
from ...training.end_to_end import predict_end_to_end, train_end_to_end
from ...training.loop import FitResult, fit
from ...training.objectives import MAE
from ...training.recipes import head_config, stage2_options, train_stage2
from .data import Run, in_groups, predict_files
from .settings import EXPERIMENTS, PATCH, Options

SELECTIVE = ("cnn_selective", "vgg")  # stage-1 kinds that need reference images


@dataclass
class Stage1:
    """A trained stage 1 of one split: the model (stage 2 None), its fit, patch counts,
    and its kind ('cnn', 'cnn_selective', 'vgg': the arms' ``stage1``)."""

    model: TwoStage
    fit: FitResult
    counts: dict
    kind: str


@dataclass
class Split:
    """One split of a run, as the scorers see it: indices, seed, folder, and the stage 1s
    trained so far (one per kind)."""

    run: Run
    k: int
    tr: np.ndarray
    va: np.ndarray
    te: np.ndarray
    seed: int
    sdir: Path
    resume: bool
    log: Callable[[str], None]
    stage1s: dict[str, Stage1] = field(default_factory=dict)

    @property
    def test_files(self) -> ImageFiles:
        return self.run.files[self.te]

    def stage1(self, kind: str) -> Stage1:
        """The split's stage 1 of ``kind``, trained on first use."""
        if kind not in self.stage1s:
            spec = self.run.spec
            arch = "vgg16_stage1" if kind == "vgg" else spec.stage1_arch
            net, r, counts, lcn = train_patch_stage1(self, arch, kind in SELECTIVE,
                                                     self.sdir / kind)
            model = TwoStage(net, None, stage1_arch=arch, stage2_arch=spec.stage2_arch,
                             patch=PATCH, grid=spec.grid, lcn=lcn, meta=self.run.meta(),
                             pooling={"higher_better": bool(self.run.table.higher_better)})
            self.stage1s[kind] = Stage1(model, r, counts, kind)
        return self.stage1s[kind]

    def save(self, model: Any, arm: str) -> None:
        """The arm's model in sdir/models/<arm> (rank 0)."""
        self.run.folder.save_model(model, self.sdir / "models" / arm)


Scorer = Callable[[Split, str, Stage1 | None], tuple[np.ndarray, dict]]


@dataclass(frozen=True)
class Arm:
    """One method of Table 2: its label in results.md, the stage 1 it uses (a kind above,
    or None for end to end), its scorer, and the stage 1 it falls back to when the data
    set has no reference images (None: the arm then needs references)."""

    label: str
    stage1: str | None
    score: Scorer
    fallback: str | None = None


def fit_summary(r: FitResult | None) -> dict | None:
    return None if r is None else {"best_val_mae": r.best_val, "best_epoch": r.best_epoch,
                                   "epochs": r.epochs_run}


def pooled(method: str = "patch_average") -> Scorer:
    """Scores by pooling stage 1's patch scores (``TwoStage.predict(method=...)``); the
    softmin's temperature is picked on the split's validation images first."""
    def score(sp: Split, arm: str, s1: Stage1 | None) -> tuple[np.ndarray, dict]:
        model, t = s1.model, sp.run.table
        if method == "patch_softmin":
            scores = in_groups(model.patch_scores, sp.run.files[sp.va])
            model.pooling["softmin_temperature"] = pick_temperature(
                scores, t.scores[sp.va], higher_better=bool(t.higher_better))
        preds = predict_files(model, sp.test_files, method)
        sp.save(s1.model, arm)
        return preds, {"stage1": fit_summary(s1.fit), "patches": s1.counts}
    return score


def head(options: str = "", flips: bool = True, select: str = "loss", members: int = 1,
         plcc: float = 0.0, **overrides: Any) -> Scorer:
    """A cell-weighted stage 2 (:mod:`hyperkit.nets.heads`, ``head(D,U,V,<options>)``)
    trained by the 'head' recipe on the setting's stage-2 epoch budget
    (:func:`~hyperkit.training.recipes.head_config`, ``overrides`` replace its fields);
    ``select``: the kept weights by validation 'loss' or 'srocc'; ``members`` > 1: the
    mean of that many heads trained on their own (seeds seed .. seed + members - 1);
    ``plcc`` > 0: MAE + plcc x std(labels) x (1 - batch PLCC) as the loss."""
    def arch(sp: Split, s1: Stage1) -> str:
        u, v = sp.run.spec.grid
        d = s1.model.stage1.feature_dim
        return f"head({d},{u},{v}{',' + options if options else ''})"

    def config(sp: Split) -> tuple[TrainConfig, bool, str]:
        return head_config(sp.run.setting.stage2_epochs, sp.seed, **overrides), True, "head"
    return stage2(arch, config=config, flips=flips, select=select, members=members,
                  plcc=plcc)


def stage2(arch: str | Callable[[Split, Stage1], str] | None = None,
           method: str = "two_stage",
           config: Callable[[Split], tuple[TrainConfig, bool, str]] | None = None,
           **train: Any) -> Scorer:
    """Trains a stage 2 (``arch``, default the data set's; a callable gets the split and
    stage 1) on the hyper-images of the arm's stage 1
    (:func:`~hyperkit.training.recipes.train_stage2`, extra ``train`` options passed on)
    and scores with it. ``config(split)`` gives (TrainConfig, standardize, recipe name);
    default: the run's --stage2-recipe on the setting's budget."""
    def score(sp: Split, arm: str, s1: Stage1 | None) -> tuple[np.ndarray, dict]:
        run, t = sp.run, sp.run.table
        options = dict(train)
        if config is None:
            recipe = run.options.stage2_recipe
            cfg, standardize = run.setting.stage2(sp.seed, recipe)
            options.setdefault("flips", stage2_options(recipe)["flips"])
        else:
            cfg, standardize, recipe = config(sp)
        name = arch(sp, s1) if callable(arch) else arch or run.spec.stage2_arch
        shared_arch = s1.model.stage2_arch
        # the arms on one stage 1 share its hyper-images (built once per split)
        model, r2 = train_stage2(s1.model, run.files[sp.tr], t.scores[sp.tr], run.files[sp.va],
                                 t.scores[sp.va], stage2_arch=name,
                                 config=cfg, workdir=sp.sdir / arm, standardize=standardize,
                                 resume=sp.resume, device=run.dev, log=sp.log,
                                 progress=run.progress, hyper_dir=sp.sdir / f"hyper-{s1.kind}",
                                 **options)
        preds = predict_files(model, sp.test_files, method)
        sp.save(model, arm)
        # the shared stage 1 goes on without it (and saves as a stage-1-only model)
        model.stage2, model.stage2_arch = None, shared_arch
        return preds, {"stage1": fit_summary(s1.fit), "stage2": fit_summary(r2),
                       "patches": s1.counts, "stage2_recipe": recipe}
    return score


def end_to_end(arch: str) -> Scorer:
    """Trains the end-to-end network ``arch`` on whole (resized, LCN) images."""
    def score(sp: Split, arm: str, s1: Stage1 | None) -> tuple[np.ndarray, dict]:
        run, t = sp.run, sp.run.table
        net, r = train_end_to_end(list(run.files[sp.tr].paths), t.scores[sp.tr],
                                  list(run.files[sp.va].paths), t.scores[sp.va],
                                  arch=arch, objective=MAE(), config=run.setting.e2e(sp.seed),
                                  workdir=sp.sdir / arm, resume=sp.resume, device=run.dev,
                                  log=sp.log, progress=run.progress, lcn=True)
        preds = predict_end_to_end(net, list(sp.test_files.paths), lcn=True, device=run.dev)
        return preds, {"e2e": fit_summary(r)}
    return score


ARMS: dict[str, Arm] = {
    "cnn": Arm("CNN (Kang et al.), patch averaging", "cnn", pooled()),
    "cnn_selective": Arm("CNN + selective patch training, patch averaging", "cnn_selective",
                         pooled()),
    "two_stage": Arm("CNN + selective patch training + stage 2 CNN (proposed)",
                     "cnn_selective", stage2(), fallback="cnn"),
    "shallow_e2e": Arm("Shallow end-to-end CNN", None, end_to_end("tid_shallow_e2e")),
    "deep_e2e": Arm("Deep end-to-end CNN", None, end_to_end("tid_deep_e2e")),
    "vgg_patch_average": Arm("VGG + patch averaging", "vgg", pooled()),
    "vgg_two_stage": Arm("VGG + second stage", "vgg", stage2()),
    # Issue 18: the pooling baselines a reviewer asks for, on the selective stage 1, and
    # the cell-weighted stage 2 (docs/nr-iqa.md "Stage 2 against pooling baselines")
    "patch_min": Arm("CNN + selective, worst patch", "cnn_selective", pooled("patch_min"),
                     fallback="cnn"),
    "patch_p10": Arm("CNN + selective, 10th-percentile patch", "cnn_selective",
                     pooled("patch_p10"), fallback="cnn"),
    "patch_softmin": Arm("CNN + selective, softmin of patches (temperature on validation)",
                         "cnn_selective", pooled("patch_softmin"), fallback="cnn"),
    "weighted_pooling": Arm("CNN + selective, learned weighted pooling (WaDIQaM)",
                            "cnn_selective",
                            head("ctx=0,coords=0,res=0", flips=False, weight_decay=0.0),
                            fallback="cnn"),
    # each cell also sees its image's mean (glob=1), MAE + PLCC loss, kept by validation
    # SROCC, the mean of 3 heads: the best arm on localized distortions on both measured
    # sets (docs/nr-iqa.md; bench/RESULTS.md "iqa-heads-demo", "iqa-heads-photoset")
    "grid_stage2": Arm("CNN + selective + grid stage 2 (3 cell-weighted heads)",
                       "cnn_selective", head("glob=1", select="srocc", members=3, plcc=1.0),
                       fallback="cnn"),
}
# What a run without --experiment or --methods trains: the paper's two methods, every
# pooling baseline and both cell-weighted heads, all on one selective stage 1 per split.
# Which trained model `hyperkit predict RUN` loads: the run manifest lists the arms'
# models in this order (others after). The measured winner on localized artifacts comes
# first (docs/nr-iqa.md "Stage 2 against pooling baselines").
PREDICT_ORDER = ("grid_stage2", "weighted_pooling", "two_stage", "vgg_two_stage",
                 "cnn_selective", "cnn", "vgg_patch_average")
DEFAULT_ARMS = ("cnn_selective", "patch_min", "patch_p10", "patch_softmin", "weighted_pooling",
                "two_stage", "grid_stage2")
LABELS = {name: arm.label for name, arm in ARMS.items()}


def labels_for(table: IQATable) -> dict[str, str]:
    """:data:`LABELS` as they apply to ``table``: an arm that fell back to a stage 1
    without selective patch training (no references) says so."""
    out = dict(LABELS)
    for name in ARMS:
        if stage1_kind(name, table) != ARMS[name].stage1:
            out[name] = (LABELS[name].replace("selective patch training", "all patches")
                         .replace("CNN + selective", "CNN (all patches)")
                         + " [no references: no selective patch training]")
    return out


def stage1_kind(arm: str, table: IQATable) -> str | None:
    """The stage 1 ``arm`` uses on ``table`` (its fallback when there are no references)."""
    a = ARMS[arm]
    if a.stage1 in SELECTIVE and table.ref_images is None and a.fallback is not None:
        return a.fallback
    return a.stage1


def arms_for(experiment: int | None, table: IQATable, options: Options) -> tuple[str, ...]:
    """The methods a run trains: the experiment's, or options.arms; without references
    no selective patch training is possible."""
    arms = options.arms or (EXPERIMENTS[experiment] if experiment else DEFAULT_ARMS)
    if options.arms is None and table.ref_images is None:
        # The default methods without references: Kang's plain patch averaging stands in
        # for its selective variant (the other arms fall back by themselves).
        arms = tuple(dict.fromkeys("cnn" if a == "cnn_selective" else a for a in arms))
    bad = [a for a in arms if a not in ARMS]
    if bad:
        raise ValueError(f"unknown method(s) {bad}; expected some of {', '.join(ARMS)}")
    if table.ref_images is None and any(stage1_kind(a, table) in SELECTIVE for a in arms):
        raise ValueError(f"{table.name} has no reference images, so selective patch "
                         "training is impossible; give the CSV a reference column, or "
                         "choose --methods cnn,two_stage")
    return tuple(arms)


def build_stage1(arch: str, options: Options) -> torch.nn.Module:
    """A fresh stage 1 of ``arch`` (VGG-16: its conv weights loaded from a local file)."""
    net = nets.build(arch)
    if arch == "vgg16_stage1":
        if options.vgg_weights:
            net.load_conv_weights(options.vgg_weights)
        elif not options.vgg_random:
            raise ValueError("experiment 5 needs VGG-16 weights: pass --vgg-weights FILE (a "
                             "torchvision vgg16 state_dict or Caffe-converted conv weights); "
                             "nothing is downloaded")
    return net


def train_patch_stage1(sp: Split, arch: str, selective: bool, workdir: Path
                       ) -> tuple[torch.nn.Module, FitResult, dict, bool]:
    """Stage 1 of ``arch`` on the (selected) grid patches of the split's training images,
    validated on those of its validation images; returns (network, fit, counts, lcn)."""
    run, seed = sp.run, sp.seed
    workdir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    net = build_stage1(arch, run.options)
    c = nets.input_shape(net)[0]
    lcn = bool(getattr(net, "expects_lcn", True))
    store = run.store(lcn, c)
    sets, counts = [], {}
    for part, idx in (("train", sp.tr), ("val", sp.va)):
        rows, counts[part] = run.rows(idx, selective, seed)
        index, ys, xs = rows_to_positions(rows, store.sizes, PATCH, run.spec.grid)
        sets.append(PositionedPatches(store, PATCH, index, ys, xs, rows.label))
    kw = {"batch_size": 256, "lr": 0.01} if arch == "vgg16_stage1" else {}  # the paper's
    cfg = run.setting.stage1(seed, **kw)
    sp.log(f"stage 1 ({arch}, {'selected' if selective else 'all'} patches): "
           f"{len(sets[0])} training / {len(sets[1])} validation patches")
    r = fit(net, sets[0], sets[1], MAE(), cfg, checkpoint=workdir / "stage1.ckpt",
            resume=sp.resume, device=run.dev, log=sp.log, name="stage1", progress=run.progress)
    return net, r, counts, lcn
