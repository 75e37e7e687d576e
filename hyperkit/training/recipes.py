"""Training recipes of the two-stage method, shared by every task.

Stage 1 learns on the grid patches of the training images, each patch labelled with
its image's score (Kang et al.'s convention), streamed from the images
(:class:`hyperkit.patches.GridPatches`). Its features over every image's grid
form hyper-images, computed once and cached (in memory, or in a memory-mapped .npy
file), on which stage 2 learns the image score.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .. import nets
from ..devices import resolve_device
from ..files import tmp_name
from ..images import check_channels, split_images
from ..model import TwoStage
from ..nets.heads import HeadEnsemble, head_members, parse_head, score_layer, set_prior
from ..nets.standardized import Standardized
from ..patches import GridPatches
from . import dist
from .augment import FlippedHyperimages
from .config import TrainConfig, stage2_config
from .loop import FitResult, fit
from .objectives import MAE, MAEPlusPLCC, NegSpearman


def _labels(scores: Any, images: list, name: str) -> np.ndarray:
    y = np.asarray(scores, dtype=np.float32).reshape(-1)
    if len(y) != len(images):
        raise ValueError(f"{len(images)} {name} images for {len(y)} scores")
    return y


def train_stage1(train_images: Any, train_scores: Any, val_images: Any, val_scores: Any, *,
                 stage1_arch: str, patch: Sequence[int], grid: Sequence[int], lcn: bool,
                 config: TrainConfig, workdir: str | Path, resume: bool = False,
                 device: Any = "auto", log: Any = print, progress: bool = True
                 ) -> tuple[nn.Module, FitResult]:
    """Trains a stage-1 network on the grid patches of the training images, each patch
    labelled with its image's score; checkpoint workdir/stage1.ckpt.

    Patches are cut from the images batch by batch: memory holds the images, never
    every patch.

    Returns:
        (the network with its best-validation weights, its FitResult).
    """
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    s1 = nets.build(stage1_arch)
    c, ph, pw = nets.input_shape(s1)
    if (ph, pw) != tuple(patch):
        raise ValueError(f"stage 1 {stage1_arch!r} takes {ph}x{pw} patches, not {tuple(patch)}")
    sets = []
    for ims, scores, name in ((train_images, train_scores, "train"),
                              (val_images, val_scores, "val")):
        ims = split_images(ims, name=f"{name} images")
        check_channels(ims, c, f"{name} images")
        sets.append(GridPatches(ims, _labels(scores, ims, name), tuple(patch), tuple(grid),
                                lcn=lcn, channels=c, name=f"{name} images"))
    r1 = fit(s1, sets[0], sets[1], MAE(), config, checkpoint=wd / "stage1.ckpt",
             resume=resume, device=device, log=log, name="stage1", progress=progress)
    return s1, r1


# The stage-2 recipes. 'paper': the paper's protocol (SGD, lr 0.005, Nesterov 0.9, raw
# inputs and labels). 'adam': hyper-image channels and labels standardized (statistics
# stored in the model, nets.standardized), Adam at lr 1e-4. On real photographs the
# paper's recipe let every stage-2 ReLU die (constant predictions); docs/nr-iqa.md
# "Stage 2 on real photographs" has the ablation. 'head': for the cell-weighted heads of
# hyperkit.nets.heads (small, so a 10x larger step; flips of the grid as augmentation;
# weight decay), bench/RESULTS.md "iqa-heads" has its ablation.
STAGE2_RECIPES: dict[str, dict[str, Any]] = {
    "paper": {"optimizer": "sgd", "lr": 0.005, "standardize": False},
    "adam": {"optimizer": "adam", "lr": 1e-4, "standardize": True},
    "head": {"optimizer": "adam", "lr": 1e-3, "weight_decay": 1e-4, "decay": 0.0,
             "standardize": True, "flips": True},
}
_RECIPE_OPTIONS = ("standardize", "flips")  # recipe keys that are not TrainConfig fields


def stage2_recipe(name: str, **overrides: Any) -> tuple[TrainConfig, bool]:
    """(stage-2 TrainConfig, standardize) of a named recipe of :data:`STAGE2_RECIPES`,
    on the paper's epoch budget (:func:`~hyperkit.training.config.stage2_config`);
    ``overrides`` replace config fields (epochs, patience, seed, ...). The recipe's
    other options (grid flips): :func:`stage2_options`."""
    r = _recipe(name)
    standardize = r["standardize"]
    fields = {k: v for k, v in r.items() if k not in _RECIPE_OPTIONS}
    return stage2_config(**{**fields, **overrides}), standardize


def head_config(epochs: int, seed: int, **overrides: Any) -> TrainConfig:
    """The 'head' recipe's TrainConfig on a budget of ``epochs``: early stop after
    epochs // 4 (at least 5) epochs without improvement, the lr divided by 10 after
    epochs // 8 (at least 3) epochs without improvement, batches of 16 hyper-images;
    ``overrides`` replace fields.
    bench/iqa_heads.py and the NR-IQA head arms train with it."""
    cfg, _ = stage2_recipe("head", **{"epochs": epochs, "patience": max(5, epochs // 4),
                                      "plateau_patience": max(3, epochs // 8),
                                      "batch_size": 16, "seed": seed, **overrides})
    return cfg


def stage2_options(name: str) -> dict[str, bool]:
    """The keyword arguments of :func:`train_stage2` a recipe sets: standardize, flips."""
    r = _recipe(name)
    return {k: bool(r.get(k, False)) for k in _RECIPE_OPTIONS}


def _recipe(name: str) -> dict[str, Any]:
    if name not in STAGE2_RECIPES:
        raise ValueError(f"stage-2 recipe must be one of {', '.join(STAGE2_RECIPES)}, got "
                         f"{name!r}")
    return dict(STAGE2_RECIPES[name])


def _group_size(cells: int, channels: int, batch_size: int, budget: int = 1 << 30) -> int:
    """Images per hyper-image group, holding at most ``budget`` bytes of hyper-images.

    A multiple of batch_size / gcd(batch_size, U V) images when one fits: every group
    then ends on a patch-batch boundary, so the patch batches are those of one pass over
    all images and the result does not depend on the grouping."""
    aligned = batch_size // math.gcd(batch_size, cells)
    per_image = 4 * channels * cells
    if aligned * per_image <= budget:
        return aligned * (budget // (aligned * per_image))
    return max(1, budget // per_image)


def cached_hyperimages(name: str, model: TwoStage, images: Sequence[Any], workdir: Path,
                       cache: str, batch_size: int = 4096, progress: bool = False, *,
                       group: int | None = None,
                       prepare: Callable[[Any], Any] | None = None) -> np.ndarray:
    """(N, D, U, V) float32 hyper-images of ``images``, built group by group so memory
    holds one group of images and hyper-images at a time: the one hyper-image store of
    every task.

    Kept in memory (``cache='memory'``), or in workdir/<name>.npy, memory-mapped:
    written once by rank 0 (to a temporary name, renamed when complete), reused on
    resume. ``images`` may be a lazy sequence (e.g.
    :class:`hyperkit.data.image_files.ImageFiles`); a group is read when it is built.

    Args:
        batch_size: most patches stage 1 sees at once.
        group: images per group; default as many as 1 GiB of hyper-images holds,
            aligned to patch batches (:func:`_group_size`).
        prepare: applied to each image of a group as it is read (e.g. to make it RGB).
    """
    path = workdir / f"{name}.npy"
    if cache == "mmap" and path.exists():
        dist.barrier()
        h = np.load(path, mmap_mode="r")
        if h.ndim != 4 or len(h) != len(images) or tuple(h.shape[2:]) != tuple(model.grid):
            raise ValueError(f"{path} holds hyper-images {h.shape}, not of these "
                             f"{len(images)} images on a {model.grid} grid; remove it")
        return h
    n = len(images)
    c, ph, pw = nets.input_shape(model.stage1)
    with torch.no_grad():  # D, from one blank patch
        d = int(model.stage1.eval().features(torch.zeros(1, c, ph, pw, device=model.device)
                                             ).shape[1])
    u, v = model.grid
    if group is None:
        group = _group_size(u * v, d, batch_size)
    tmp = path.with_name(tmp_name(name) + ".npy")
    if dist.rank() == 0 or cache == "memory":
        shape = (n, d, u, v)
        out = (np.empty(shape, np.float32) if cache == "memory" else
               np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape))
        with tqdm(total=n, desc=name, leave=False, disable=None if progress else True) as bar:
            for i in range(0, n, group):
                part = list(images[i:i + group])
                if prepare is not None:
                    part = [prepare(im) for im in part]
                out[i:i + len(part)] = model.hyperimages(part, batch_size).cpu().numpy()
                bar.update(len(part))
        if cache == "memory":
            return out
        out.flush()
        del out
        os.replace(tmp, path)
    dist.barrier()
    return np.load(path, mmap_mode="r")


def train_stage2(model: TwoStage, train_images: Any, train_scores: Any, val_images: Any,
                 val_scores: Any, *, stage2_arch: str, config: TrainConfig, workdir: str | Path,
                 standardize: bool = False, flips: bool = False, select: str = "loss",
                 members: int = 1, resume: bool = False, device: Any = "auto",
                 log: Any = print, cache: str = "mmap", progress: bool = True,
                 plcc: float = 0.0, hyper_dir: str | Path | None = None
                 ) -> tuple[TwoStage, FitResult]:
    """Trains stage 2 of ``model`` (its stage 1 trained) on cached hyper-images.

    Args:
        train_images, val_images: a list (or lazy sequence) of single images; a batch
            array is split into images first.
        standardize: wrap stage 2 in :class:`hyperkit.nets.standardized.Standardized`
            with the training set's channel and label statistics (stored in the model).
        flips: show each training hyper-image flipped by a random symmetry of the grid
            (:class:`hyperkit.training.augment.FlippedHyperimages`).
        select: keep the weights with the best validation 'loss' or 'srocc'.
        plcc: > 0 adds a correlation term to the MAE loss (:func:`fit_stage2`).
        members: > 1 trains that many heads of a one-head ``head(...)`` spec on their own
            and keeps their mean (:func:`fit_head_ensemble`; always standardized); the
            FitResult returned is the first member's.
        workdir: stage2.ckpt and the hyper-image caches (hyper_train.npy, hyper_val.npy).
        hyper_dir: where the hyper-image caches live instead (default ``workdir``): every
            stage 2 trained on one stage 1 and the same images can share one folder, so
            the hyper-images are built once (measured at TID2013's size: about 55 s and
            2 GB a build for 864 images).

    Returns:
        (model with its stage 2, in eval mode; stage 2's FitResult).
    """
    if cache not in ("mmap", "memory"):
        raise ValueError(f"cache must be 'mmap' or 'memory', got {cache!r}")
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    ims = []
    for x, name in ((train_images, "train"), (val_images, "val")):
        if not isinstance(x, (list, tuple)) and not hasattr(x, "paths"):
            x = split_images(x, name=f"{name} images")
        ims.append(x)
    ytr, yva = _labels(train_scores, ims[0], "train"), _labels(val_scores, ims[1], "val")
    hd = wd if hyper_dir is None else Path(hyper_dir)
    hd.mkdir(parents=True, exist_ok=True)
    htr = cached_hyperimages("hyper_train", model, ims[0], hd, cache, progress=progress)
    hva = cached_hyperimages("hyper_val", model, ims[1], hd, cache, progress=progress)
    if members > 1:
        s2, stage2_arch, fits = fit_head_ensemble(
            model.stage1, htr, ytr, hva, yva, stage2_arch=stage2_arch, config=config,
            members=members, flips=flips, select=select, checkpoints=wd, resume=resume,
            device=dev, log=log, progress=progress, plcc=plcc)
        r2 = fits[0]
    else:
        s2, r2 = fit_stage2(model.stage1, htr, ytr, hva, yva, stage2_arch=stage2_arch,
                            config=config, standardize=standardize, flips=flips,
                            select=select, checkpoint=wd / "stage2.ckpt", resume=resume,
                            device=dev, log=log, progress=progress, plcc=plcc)
    model.stage2, model.stage2_arch = s2, stage2_arch  # save() records what it is
    return model.eval(), r2


def fit_stage2(stage1: nn.Module, train_hyper: Any, train_labels: Any, val_hyper: Any,
               val_labels: Any, *, stage2_arch: str, config: TrainConfig,
               standardize: bool = False, flips: bool = False, select: str = "loss",
               checkpoint: str | Path | None = None, resume: bool = False,
               device: Any = "cpu", log: Any = print, progress: bool = True,
               plcc: float = 0.0) -> tuple[nn.Module, FitResult]:
    """A fresh stage 2 of ``stage2_arch`` fitted on hyper-images (N, D, U, V) (numpy,
    memory-mapped is fine) and labels (N,): the part of :func:`train_stage2` after the
    hyper-images exist. ``stage1`` gives a residual head its prior (the stage-1 output
    layer). ``select``: keep the weights with the lowest validation 'loss' (MAE) or the
    best validation 'srocc' (early stopping and lr drops follow the same criterion).
    ``plcc`` > 0: the loss is MAE + plcc x std(training labels) x (1 - the batch's
    Pearson correlation) (:class:`~hyperkit.training.objectives.MAEPlusPLCC`) instead of
    the paper's MAE.
    Returns (stage 2 with its best-validation weights, its FitResult)."""
    if select not in ("loss", "srocc"):
        raise ValueError(f"select must be 'loss' or 'srocc', got {select!r}")
    ytr = np.asarray(train_labels, dtype=np.float32).reshape(-1)
    yva = np.asarray(val_labels, dtype=np.float32).reshape(-1)
    torch.manual_seed(config.seed)
    s2 = nets.build(stage2_arch)
    if nets.input_shape(s2) != tuple(train_hyper.shape[1:]):
        raise ValueError(f"stage 2 {stage2_arch!r} takes {nets.input_shape(s2)} (D, U, V) "
                         f"inputs but the hyper-images are {tuple(train_hyper.shape[1:])}")
    if standardize:
        s2 = Standardized(s2, train_hyper.shape[1]).fit_statistics(train_hyper, ytr)
    if head_members(s2):  # a residual head starts from stage 1's own patch scores
        _copy_prior(s2, stage1)
    train = (FlippedHyperimages(train_hyper, ytr, seed=config.seed) if flips
             else (train_hyper, ytr))
    objective = MAEPlusPLCC(plcc * float(np.std(ytr))) if plcc else MAE()
    r2 = fit(s2, train, (val_hyper, yva), objective, config, checkpoint=checkpoint,
             resume=resume, device=device, log=log, name="stage2", progress=progress,
             val_objective=NegSpearman() if select == "srocc" else None)
    return s2.eval(), r2


def fit_head_ensemble(stage1: nn.Module, train_hyper: Any, train_labels: Any, val_hyper: Any,
                      val_labels: Any, *, stage2_arch: str, config: TrainConfig,
                      members: int, flips: bool = False, select: str = "loss",
                      checkpoints: str | Path | None = None, resume: bool = False,
                      device: Any = "cpu", log: Any = print, progress: bool = True,
                      plcc: float = 0.0) -> tuple[nn.Module, str, list[FitResult]]:
    """``members`` standardized heads of the one-head spec ``stage2_arch``, each fitted
    on its own by :func:`fit_stage2` with seed config.seed + m, as one
    Standardized(HeadEnsemble) that predicts their mean (the seeds' noise averages out).

    Returns:
        (the ensemble, its arch string ``head(...,ens=members)``, the members' fits).
        ``checkpoints``: a folder for stage2-m<m>.ckpt, or None.
    """
    parsed = parse_head(stage2_arch)
    if parsed is None or parsed[2]["ens"] != 1:
        raise ValueError(f"stage2_arch must be a one-head spec head(D,U,V,...), got "
                         f"{stage2_arch!r}")
    if not (isinstance(members, int) and members >= 1):
        raise ValueError(f"members must be an integer >= 1, got {members!r}")
    nets_, fits = [], []
    for m in range(members):
        ck = None if checkpoints is None else Path(checkpoints) / f"stage2-m{m}.ckpt"
        net, r = fit_stage2(stage1, train_hyper, train_labels, val_hyper, val_labels,
                            stage2_arch=stage2_arch, config=replace(config, seed=config.seed + m),
                            standardize=True, flips=flips, select=select, checkpoint=ck,
                            resume=resume, device=device, log=log, progress=progress,
                            plcc=plcc)
        nets_.append(net)
        fits.append(r)
    first = nets_[0]
    ens = Standardized(HeadEnsemble([n.net for n in nets_]), train_hyper.shape[1])
    for name in ("in_mean", "in_std", "out_mean", "out_std"):  # the same data: one set
        getattr(ens, name).copy_(getattr(first, name))
    arch = stage2_arch.rstrip()[:-1] + f",ens={members})"
    return ens.to(first.in_mean.device).eval(), arch, fits


def _copy_prior(stage2: nn.Module, stage1: nn.Module) -> None:
    """Gives the residual heads of ``stage2`` stage 1's output layer (features -> patch
    score), in the units of the Standardized wrapper when there is one."""
    out = score_layer(stage1)
    if out is None:
        if any(h.res for h in head_members(stage2)):
            raise ValueError("a residual head (res=1) needs a stage 1 whose output layer is "
                             "a linear Linear(D, 1) on its features; use res=0 with this "
                             "stage 1")
        return
    if isinstance(stage2, Standardized):
        set_prior(stage2, out, stage2.in_mean, stage2.in_std, float(stage2.out_mean),
                  float(stage2.out_std))
    else:
        set_prior(stage2, out)


def train_two_stage(train_images: Any, train_scores: Any, val_images: Any, val_scores: Any,
                    *, stage1_arch: str, stage2_arch: str, patch: Sequence[int],
                    grid: Sequence[int], lcn: bool, stage1_config: TrainConfig | None,
                    stage2_config: TrainConfig, workdir: str | Path,
                    stage1: nn.Module | None = None, resume: bool = False,
                    device: Any = "auto", log: Any = print, cache: str = "mmap",
                    progress: bool = True, standardize: bool = False
                    ) -> tuple[TwoStage, dict[str, FitResult | None]]:
    """Trains stage 1 on labelled patches (:func:`train_stage1`), then stage 2 on cached
    hyper-images (:func:`train_stage2`).

    Args:
        train_images, val_images: images in any form :meth:`TwoStage.predict` takes.
        train_scores, val_scores: (N,) image labels.
        stage1_arch, stage2_arch: preset names or architecture strings.
        patch, grid, lcn: the patch grid (both stages and prediction use the same one).
        stage1_config, stage2_config: :class:`~hyperkit.training.config.TrainConfig`
            each; their seeds also seed the networks' initial weights.
        workdir: checkpoints (stage1.ckpt, stage2.ckpt) and the hyper-image cache.
        stage1: an already trained stage 1 (of ``stage1_arch``) to reuse as it is;
            stage1_config is then unused and the 'stage1' result is None.
        resume: continue the checkpoints in workdir instead of refusing to touch them.
        cache: 'mmap' (hyper_train.npy / hyper_val.npy in workdir) or 'memory'.
        standardize: see :func:`train_stage2`.

    Returns:
        (model on the training device, {'stage1': FitResult or None, 'stage2': FitResult}).
    """
    if cache not in ("mmap", "memory"):
        raise ValueError(f"cache must be 'mmap' or 'memory', got {cache!r}")
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    r1 = None
    if stage1 is None:
        if stage1_config is None:
            raise ValueError("stage1_config is needed unless a trained stage1 is given")
        stage1, r1 = train_stage1(train_images, train_scores, val_images, val_scores,
                                  stage1_arch=stage1_arch, patch=patch, grid=grid, lcn=lcn,
                                  config=stage1_config, workdir=wd, resume=resume, device=dev,
                                  log=log, progress=progress)
    model = TwoStage(stage1.to(dev), None, stage1_arch=stage1_arch, stage2_arch=stage2_arch,
                     patch=patch, grid=grid, lcn=lcn)
    tr_ims, va_ims = model.images(train_images), model.images(val_images)
    model, r2 = train_stage2(model, tr_ims, train_scores, va_ims, val_scores,
                             stage2_arch=stage2_arch, config=stage2_config, workdir=wd,
                             standardize=standardize, resume=resume, device=dev, log=log,
                             cache=cache, progress=progress)
    return model, {"stage1": r1, "stage2": r2}
