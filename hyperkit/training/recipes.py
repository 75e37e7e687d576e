"""Training recipes of the two-stage method, shared by every task.

Stage 1 learns on the grid patches of the training images, each patch labelled with
its image's score (Kang et al.'s convention), streamed from the images
(:class:`hyperkit.data.patches.GridPatches`). Its features over every image's grid
form hyper-images, computed once and cached (in memory, or in a memory-mapped .npy
file), on which stage 2 learns the image score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from .. import nets
from ..data.patches import GridPatches
from ..devices import resolve_device
from ..files import write_atomic
from ..images import check_channels, split_images
from ..model import TwoStage
from . import dist
from .config import TrainConfig
from .loop import FitResult, fit
from .objectives import MAE


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


def cached_hyperimages(name: str, make: Callable[[], torch.Tensor], workdir: Path,
                       cache: str) -> np.ndarray:
    """Hyper-images kept in memory, or in workdir/<name>.npy, memory-mapped (written
    once by rank 0, atomically; reused on resume)."""
    if cache == "memory":
        return make().cpu().numpy()
    path = workdir / f"{name}.npy"
    if not path.exists() and dist.rank() == 0:
        h = make().cpu().numpy()
        write_atomic(path, lambda f: np.save(f, h))
    dist.barrier()
    return np.load(path, mmap_mode="r")


def train_two_stage(train_images: Any, train_scores: Any, val_images: Any, val_scores: Any,
                    *, stage1_arch: str, stage2_arch: str, patch: Sequence[int],
                    grid: Sequence[int], lcn: bool, stage1_config: TrainConfig | None,
                    stage2_config: TrainConfig, workdir: str | Path,
                    stage1: nn.Module | None = None, resume: bool = False,
                    device: Any = "auto", log: Any = print, cache: str = "mmap",
                    progress: bool = True
                    ) -> tuple[TwoStage, dict[str, FitResult | None]]:
    """Trains stage 1 on labelled patches (:func:`train_stage1`), then stage 2 on cached
    hyper-images.

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
    ytr, yva = _labels(train_scores, tr_ims, "train"), _labels(val_scores, va_ims, "val")
    htr = cached_hyperimages("hyper_train", lambda: model.hyperimages(tr_ims), wd, cache)
    hva = cached_hyperimages("hyper_val", lambda: model.hyperimages(va_ims), wd, cache)
    torch.manual_seed(stage2_config.seed)
    s2 = nets.build(stage2_arch)
    if nets.input_shape(s2) != tuple(htr.shape[1:]):
        raise ValueError(f"stage 2 {stage2_arch!r} takes {nets.input_shape(s2)} (D, U, V) "
                         f"inputs but the hyper-images are {tuple(htr.shape[1:])}")
    r2 = fit(s2, (htr, ytr), (hva, yva), MAE(), stage2_config, checkpoint=wd / "stage2.ckpt",
             resume=resume, device=dev, log=log, name="stage2", progress=progress)
    model.stage2 = s2
    return model.eval(), {"stage1": r1, "stage2": r2}
