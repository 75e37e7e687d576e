"""The two-stage model: training both stages, predicting, saving and loading.

Stage 1 learns on the grid patches of the training images, each patch labelled with
its image's score (Kang et al.'s convention). Its features of every image's patch
grid form hyper-images, computed once and cached (in memory or in a memory-mapped
.npy file), on which stage 2 learns the image score. The patch-averaging baseline
scores an image by the mean stage-1 prediction over the same grid.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from . import arch, train
from .grid import gather_patches
from .hyperimage import as_image_list, as_image_tensor, build_hyperimage, image_channels
from .lcn import lcn as _lcn

FORMAT = "hyperkit-two-stage"
METHODS = ("two_stage", "patch_average")


def grid_patches(images: Any, patch: Sequence[int], grid: Sequence[int], lcn: bool
                 ) -> Tensor:
    """The (N * U * V, C, ph, pw) float32 CPU patches that :func:`build_hyperimage` feeds
    stage 1 for the same images, patch, grid and ``lcn`` (order: image, row, column)."""
    ims = []
    for i, im in enumerate(as_image_list(images)):
        t = as_image_tensor(im, f"images[{i}]").cpu()
        ims.append(_lcn(t) if lcn else t.contiguous())
    return gather_patches(ims, tuple(patch), tuple(grid))


class TwoStage(nn.Module):
    """A trained stage 1 and stage 2 with the grid they were trained on.

    Args:
        stage1: network with ``features(patches) -> (P, D)`` and ``forward -> (P,)``.
        stage2: network mapping hyper-images (N, D, U, V) to scores (N,); may be None
            until stage 2 is trained.
        stage1_arch, stage2_arch: preset names or architecture strings (see
            :mod:`hyperkit.arch`), saved so :meth:`load` can rebuild the networks.
        patch: (ph, pw) pixels; grid: (U, V); lcn: normalize images first (eq. 4).
    """

    def __init__(self, stage1: nn.Module, stage2: nn.Module | None, *, stage1_arch: str,
                 stage2_arch: str, patch: Sequence[int], grid: Sequence[int], lcn: bool,
                 meta: dict | None = None) -> None:
        super().__init__()
        self.stage1, self.stage2 = stage1, stage2
        self.stage1_arch, self.stage2_arch = stage1_arch, stage2_arch
        self.patch, self.grid = tuple(int(p) for p in patch), tuple(int(g) for g in grid)
        self.lcn = bool(lcn)
        self.channels = arch.input_shape(stage1)[0]
        self.meta = dict(meta or {})

    @property
    def device(self) -> torch.device:
        """Where stage 1's weights are."""
        return next(self.stage1.parameters()).device

    def _images(self, images: Any) -> list[Any]:
        """A list of single images. A 3-D array whose channel axis (numpy: last, torch:
        first) does not match the model's channel count is a batch of gray images."""
        if isinstance(images, np.ndarray) and images.ndim == 3 \
                and images.shape[2] != self.channels:
            ims = [images[i] for i in range(images.shape[0])]  # numpy (N, H, W)
        elif isinstance(images, Tensor) and images.ndim == 3 and images.shape[0] != self.channels:
            ims = [images[i] for i in range(images.shape[0])]  # torch (N, H, W)
        else:
            ims = as_image_list(images)
        for i, im in enumerate(ims):  # from shapes: the pixels are converted later, once
            c = image_channels(im, f"images[{i}]")
            if c != self.channels:
                raise ValueError(f"images[{i}] has {c} channel(s); this model takes "
                                 f"{self.channels}")
        return ims

    def hyperimages(self, images: Any, batch_size: int = 4096) -> Tensor:
        """(N, D, U, V) hyper-images of images (stage 1 in eval mode)."""
        self.stage1.eval()
        return build_hyperimage(self._images(images), self.stage1.features, patch=self.patch,
                                grid=self.grid, lcn=self.lcn, batch_size=batch_size)

    def patch_scores(self, images: Any, batch_size: int = 4096) -> np.ndarray:
        """(N, U, V) stage-1 predictions of every grid patch."""
        self.stage1.eval()
        out = build_hyperimage(self._images(images), lambda p: self.stage1(p).reshape(-1, 1),
                               patch=self.patch, grid=self.grid, lcn=self.lcn,
                               batch_size=batch_size)
        return out[:, 0].double().cpu().numpy()

    def predict(self, images: Any, method: str = "two_stage", batch_size: int = 4096
                ) -> np.ndarray:
        """One score per image, float64 numpy (N,).

        Args:
            images: a list of images (numpy H x W or H x W x C, torch (C, H, W)), a
                torch (N, C, H, W) batch, or a numpy (N, H, W) / (N, H, W, C) batch.
                Any size of at least one patch; the grid adapts (eq. 2).
            method: 'two_stage' (stage 2 on the hyper-image) or 'patch_average'
                (mean stage-1 prediction over the grid, Kang et al.).
        """
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if method == "patch_average":
            return self.patch_scores(images, batch_size).mean(axis=(1, 2))
        if self.stage2 is None:
            raise RuntimeError("stage 2 is not trained; use method='patch_average'")
        return train.predict(self.stage2, self.hyperimages(images, batch_size))

    def save(self, directory: str | Path) -> Path:
        """Writes model.json, stage1.pt and stage2.pt into ``directory`` (atomically;
        model.json last, so its presence means the model is complete)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        train.save_atomic(self.stage1.state_dict(), d / "stage1.pt")
        if self.stage2 is not None:
            train.save_atomic(self.stage2.state_dict(), d / "stage2.pt")
        info = {"format": FORMAT, "version": 1, "stage1_arch": self.stage1_arch,
                "stage2_arch": self.stage2_arch, "patch": list(self.patch),
                "grid": list(self.grid), "lcn": self.lcn, "has_stage2": self.stage2 is not None,
                "meta": self.meta}
        tmp = d / f".model.json.tmp{os.getpid()}"
        tmp.write_text(json.dumps(info, indent=2))
        os.replace(tmp, d / "model.json")
        return d

    @classmethod
    def load(cls, directory: str | Path, device: Any = "cpu") -> "TwoStage":
        """Rebuilds a model written by :meth:`save`, in eval mode on ``device``."""
        d = Path(directory)
        path = d / "model.json"
        if not path.is_file():
            raise FileNotFoundError(f"{d} holds no saved model (no model.json)")
        try:
            info = json.loads(path.read_text())
            ok = info.get("format") == FORMAT
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
            raise ValueError(f"{path} is corrupt: {e}") from e
        if not ok:
            raise ValueError(f"{path} is not a hyperkit two-stage model")
        s1 = arch.build(info["stage1_arch"])
        s1.load_state_dict(train.load_checkpoint(d / "stage1.pt"))
        s2 = None
        if info.get("has_stage2", True):
            s2 = arch.build(info["stage2_arch"])
            s2.load_state_dict(train.load_checkpoint(d / "stage2.pt"))
        m = cls(s1, s2, stage1_arch=info["stage1_arch"], stage2_arch=info["stage2_arch"],
                patch=info["patch"], grid=info["grid"], lcn=info["lcn"], meta=info.get("meta"))
        return m.to(train.resolve_device(device)).eval()


def load_model(path: str | Path, device: Any = "cpu") -> TwoStage:
    """Loads a trained model: a model directory, or a ``hyperkit synthetic --out`` run
    directory (its first trained model, i.e. the first seed's)."""
    p = Path(path)
    if (p / "model.json").is_file():
        return TwoStage.load(p, device)
    results = p / "results.json"
    if results.is_file():
        try:
            models = json.loads(results.read_text()).get("models", [])
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
            raise ValueError(f"{results} is corrupt: {e}") from e
        if models:
            return TwoStage.load(p / models[0], device)
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist")
    raise FileNotFoundError(f"{p} holds no trained model (no model.json, and no results.json "
                            "listing one)")


def _cache(name: str, make: Any, workdir: Path, cache: str) -> Any:
    """Hyper-images kept in memory, or in a memory-mapped .npy under workdir (written
    once by rank 0 under a temporary name, then renamed; reused on resume)."""
    if cache == "memory":
        return make().cpu().numpy()
    path = workdir / f"{name}.npy"
    if not path.exists() and train.dist_rank() == 0:
        h = make().cpu().numpy()
        tmp = workdir / f".{name}.tmp{os.getpid()}.npy"
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=h.shape)
        out[:] = h
        out.flush()
        del out
        os.replace(tmp, path)
    if train.dist_world() > 1:
        torch.distributed.barrier()
    return np.load(path, mmap_mode="r")


def train_stage1(train_images: Any, train_scores: Any, val_images: Any, val_scores: Any, *,
                 stage1_arch: str, patch: Sequence[int], grid: Sequence[int], lcn: bool,
                 config: train.TrainConfig, workdir: str | Path, resume: bool = False,
                 device: Any = "auto", log: Any = print, progress: bool = True
                 ) -> tuple[nn.Module, train.FitResult]:
    """Trains a stage-1 network on the grid patches of the training images, each patch
    labelled with its image's score; checkpoint workdir/stage1.ckpt.

    Returns:
        (the network with its best-validation weights, its FitResult).
    """
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    s1 = arch.build(stage1_arch)
    c, ph, pw = arch.input_shape(s1)
    if (ph, pw) != tuple(patch):
        raise ValueError(f"stage 1 {stage1_arch!r} takes {ph}x{pw} patches, not {tuple(patch)}")
    probe = TwoStage(s1, None, stage1_arch=stage1_arch, stage2_arch="", patch=patch, grid=grid,
                     lcn=lcn)
    tr_ims, va_ims = probe._images(train_images), probe._images(val_images)
    ytr, yva = _labels(train_scores, tr_ims, "train"), _labels(val_scores, va_ims, "val")
    per = int(np.prod(grid))
    r1 = train.fit(s1, (grid_patches(tr_ims, patch, grid, lcn), np.repeat(ytr, per)),
                   (grid_patches(va_ims, patch, grid, lcn), np.repeat(yva, per)),
                   config, checkpoint=wd / "stage1.ckpt", resume=resume, device=device,
                   log=log, name="stage1", progress=progress)
    return s1, r1


def _labels(scores: Any, images: list, name: str) -> np.ndarray:
    y = np.asarray(scores, dtype=np.float32).reshape(-1)
    if len(y) != len(images):
        raise ValueError(f"{len(images)} {name} images for {len(y)} scores")
    return y


def train_two_stage(train_images: Any, train_scores: Any, val_images: Any, val_scores: Any,
                    *, stage1_arch: str, stage2_arch: str, patch: Sequence[int],
                    grid: Sequence[int], lcn: bool, stage1_config: train.TrainConfig | None,
                    stage2_config: train.TrainConfig, workdir: str | Path,
                    stage1: nn.Module | None = None, resume: bool = False,
                    device: Any = "auto", log: Any = print, cache: str = "mmap",
                    progress: bool = True
                    ) -> tuple[TwoStage, dict[str, train.FitResult | None]]:
    """Trains stage 1 on labelled patches (:func:`train_stage1`), then stage 2 on cached
    hyper-images.

    Args:
        train_images, val_images: images in any form :meth:`TwoStage.predict` takes.
        train_scores, val_scores: (N,) image labels.
        stage1_arch, stage2_arch: preset names or architecture strings.
        patch, grid, lcn: the patch grid (both stages and prediction use the same one).
        stage1_config, stage2_config: :class:`hyperkit.train.TrainConfig` each; their
            seeds also seed the networks' initial weights.
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
    dev = train.resolve_device(device)
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
    tr_ims, va_ims = model._images(train_images), model._images(val_images)
    ytr, yva = _labels(train_scores, tr_ims, "train"), _labels(val_scores, va_ims, "val")
    htr = _cache("hyper_train", lambda: model.hyperimages(tr_ims), wd, cache)
    hva = _cache("hyper_val", lambda: model.hyperimages(va_ims), wd, cache)
    torch.manual_seed(stage2_config.seed)
    s2 = arch.build(stage2_arch)
    if arch.input_shape(s2) != tuple(htr.shape[1:]):
        raise ValueError(f"stage 2 {stage2_arch!r} takes {arch.input_shape(s2)} (D, U, V) "
                         f"inputs but the hyper-images are {tuple(htr.shape[1:])}")
    r2 = train.fit(s2, (htr, ytr), (hva, yva), stage2_config, checkpoint=wd / "stage2.ckpt",
                   resume=resume, device=dev, log=log, name="stage2", progress=progress)
    model.stage2 = s2
    return model.eval(), {"stage1": r1, "stage2": r2}
