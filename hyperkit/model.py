"""The two-stage model: predicting, saving and loading.

A trained stage 1 and stage 2 with the patch grid they were trained on. Two methods
score an image: 'two_stage' runs stage 2 on the image's hyper-image; the
'patch_average' baseline (Kang et al.) averages stage 1's predictions over the same
grid. Training recipes are in :mod:`hyperkit.training.recipes`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from . import nets
from .devices import module_device, resolve_device
from .files import load_torch, save_torch, write_text
from .hyperimage import build_hyperimage
from .images import AUTO, check_channels, split_images
from .nets.standardized import Standardized
from .runs import read_manifest
from .training.loop import predict as predict_outputs

FORMAT = "hyperkit-two-stage"
from .methods import METHODS


class TwoStage(nn.Module):
    """A trained stage 1 and stage 2 with the grid they were trained on.

    Args:
        stage1: network with ``features(patches) -> (P, D)`` and ``forward -> (P,)``.
        stage2: network mapping hyper-images (N, D, U, V) to scores (N,); may be None
            until stage 2 is trained.
        stage1_arch, stage2_arch: preset names or architecture strings (see
            :mod:`hyperkit.nets.arch`), saved so :meth:`load` can rebuild the networks.
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
        self.channels = nets.input_shape(stage1)[0]
        self.meta = dict(meta or {})

    @property
    def device(self) -> torch.device:
        """Where stage 1's weights are."""
        return module_device(self.stage1)

    def images(self, images: Any, channel_axis: Any = AUTO) -> list[Any]:
        """Single images this model can take (the rules of :mod:`hyperkit.images`),
        checked from shapes before any network runs: each has the model's channel count,
        or is RGB for a gray model (converted to gray). The pixels are converted later,
        once."""
        ims = split_images(images, channel_axis=channel_axis)
        check_channels(ims, self.channels)
        return ims

    def hyperimages(self, images: Any, batch_size: int = 4096, *,
                    channel_axis: Any = AUTO) -> Tensor:
        """(N, D, U, V) hyper-images of images (stage 1 in eval mode)."""
        self.stage1.eval()
        features = self.stage1.features
        if self.meta.get("patch_mean") is not None:  # forgery: stage 1 saw mean-free patches
            from .nets.siamese import Centered

            features = Centered(self.stage1, self.meta["patch_mean"]).features
        # build_hyperimage splits the images and checks their channels against ours
        return build_hyperimage(images, features, patch=self.patch, grid=self.grid,
                                lcn=self.lcn, batch_size=batch_size, channels=self.channels,
                                channel_axis=channel_axis)

    def patch_scores(self, images: Any, batch_size: int = 4096, *,
                     channel_axis: Any = AUTO) -> np.ndarray:
        """(N, U, V) stage-1 predictions of every grid patch."""
        self.stage1.eval()
        # stage1.scores (P, 1), where the network has it, brings its whole-image path
        # (grid_scores) with it: the shared route of build_hyperimage
        scores = getattr(self.stage1, "scores", None) or (
            lambda p: self.stage1(p).reshape(-1, 1))
        out = build_hyperimage(images, scores,
                               patch=self.patch, grid=self.grid, lcn=self.lcn,
                               batch_size=batch_size, channels=self.channels,
                               channel_axis=channel_axis)
        return out[:, 0].double().cpu().numpy()

    def predict(self, images: Any, method: str = "two_stage", batch_size: int = 4096, *,
                channel_axis: Any = AUTO) -> np.ndarray:
        """One score per image, float64 numpy (N,).

        Args:
            images: one image, a batch or a list, by the rules of :mod:`hyperkit.images`
                (numpy (H, W) / (H, W, C), torch (C, H, W) / (N, C, H, W); uint8, uint16
                or floats in [0, 1]). Any size of at least one patch; the grid adapts
                (eq. 2). RGB images are converted to gray for a gray model.
            method: 'two_stage' (stage 2 on the hyper-image) or 'patch_average'
                (mean stage-1 prediction over the grid, Kang et al.).
            channel_axis: the channel axis of ``images`` where its shape reads two
                ways (see :func:`hyperkit.images.split_images`).
        """
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if method == "patch_average" and self.meta.get("classes"):
            raise ValueError("this classifier's stage 1 ranks patch pairs and gives no "
                             "per-patch score; use method='two_stage'")
        if method == "patch_average":
            return self.patch_scores(images, batch_size,
                                     channel_axis=channel_axis).mean(axis=(1, 2))
        if self.stage2 is None:
            raise RuntimeError("stage 2 is not trained; use method='patch_average'")
        return predict_outputs(self.stage2, self.hyperimages(images, batch_size,
                                                             channel_axis=channel_axis))

    def explain(self, images: Any, method: str = "gradient", *, neutral: Any = "median",
                batch_size: int = 4096, channel_axis: Any = AUTO) -> np.ndarray:
        """One (U, V) importance map per image, float64 numpy (N, U, V): how much each
        grid cell changes the score (score units; negative: the cell lowers it).

        method: 'gradient' (gradient x input on stage 2, the default), 'occlusion'
        (stage 2 with each cell replaced by the neutral vector) or 'patch_average' (the
        baseline's per-patch scores); neutral: 'median' of the image's own cells
        (default), 'mean', 'zero' or a (D,) vector. Scores, image sizes and maps in
        pixels: :func:`hyperkit.evaluation.importance.explain`.
        """
        from .evaluation.importance import explain

        return explain(self, images, method, neutral=neutral, batch_size=batch_size,
                       channel_axis=channel_axis).maps

    def labels(self, scores: Any) -> list[tuple[str, float]] | None:
        """For a classifier (``meta['classes']`` = [name of class 0, name of class 1],
        scores = probabilities of class 1, e.g. a forgery run: ['tampered',
        'authentic']): (class name, probability of that class) per score, class 1 at
        probabilities >= ``meta.get('threshold', 0.5)``. None for a regression model."""
        classes = self.meta.get("classes")
        if not classes:
            return None
        t = float(self.meta.get("threshold", 0.5))
        return [(classes[1], float(p)) if p >= t else (classes[0], 1.0 - float(p))
                for p in np.asarray(scores, dtype=np.float64).reshape(-1)]

    def save(self, directory: str | Path) -> Path:
        """Writes model.json, stage1.pt and stage2.pt into ``directory`` (atomically;
        model.json last, so its presence means the model is complete)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        save_torch(self.stage1.state_dict(), d / "stage1.pt")
        if self.stage2 is not None:
            save_torch(self.stage2.state_dict(), d / "stage2.pt")
        info = {"format": FORMAT, "version": 1, "stage1_arch": self.stage1_arch,
                "stage2_arch": self.stage2_arch, "patch": list(self.patch),
                "grid": list(self.grid), "lcn": self.lcn, "has_stage2": self.stage2 is not None,
                "stage2_standardized": isinstance(self.stage2, Standardized),
                "meta": self.meta}
        write_text(d / "model.json", json.dumps(info, indent=2))
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
        s1 = nets.build(info["stage1_arch"])
        s1.load_state_dict(load_torch(d / "stage1.pt"))
        s2 = None
        if info.get("has_stage2", True):
            s2 = nets.build(info["stage2_arch"])
            if info.get("stage2_standardized", False):
                s2 = Standardized(s2, nets.input_shape(s2)[0])
            s2.load_state_dict(load_torch(d / "stage2.pt"))
        m = cls(s1, s2, stage1_arch=info["stage1_arch"], stage2_arch=info["stage2_arch"],
                patch=info["patch"], grid=info["grid"], lcn=info["lcn"], meta=info.get("meta"))
        return m.to(resolve_device(device)).eval()


def load_model(path: str | Path, device: Any = "cpu") -> TwoStage:
    """Loads a trained model: a model folder (model.json), or a run folder whose
    manifest (run.json, written by every task) lists its models: the first is loaded."""
    p = Path(path)
    if (p / "model.json").is_file():
        return TwoStage.load(p, device)
    manifest = read_manifest(p)
    if manifest is not None and manifest["models"]:
        return TwoStage.load(p / manifest["models"][0], device)
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist")
    raise FileNotFoundError(f"{p} holds no trained model (no model.json, and no run.json "
                            "listing one; for a run folder written before run.json existed, "
                            "pass the model folder inside it, e.g. RUN/seed0/model)")
