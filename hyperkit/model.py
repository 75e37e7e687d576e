"""The two-stage model: predicting, explaining, saving and loading.

A trained stage 1 and stage 2 with the patch grid they were trained on. The scoring
methods are a table (:data:`hyperkit.methods.METHODS`, one predictor each here):
'two_stage' runs stage 2 on the image's hyper-image; the 'patch_average' baseline
(Kang et al.) averages stage 1's predictions over the same grid. The model knows no
task: stage 1 brings its own feature function (e.g. :class:`~hyperkit.nets.siamese.Centered`
for a stage 1 trained on mean-free patches), and ``kind`` / ``classes`` say whether the
score is a regression value or a class probability. Training recipes are in
:mod:`hyperkit.training.recipes`; importance maps in :mod:`hyperkit.attribution`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from . import nets
from .attribution import DEFAULT_METHOD as DEFAULT_EXPLAIN
from .attribution import explain as explain_maps
from .batching import predict as predict_outputs
from .devices import module_device, resolve_device
from .files import save_torch, sha256_file, write_text
from .hyperimage import build_hyperimage
from .images import AUTO, check_channels, read_inputs, split_images
from .methods import METHODS
from .model_files import FORMAT, KINDS, load_weights, upgrade, validate
from .nets.siamese import Centered
from .nets.standardized import Standardized
from .pooling import pool_scores
from .runs import read_manifest
from .views import check_views, combine_views, view_images

# The models shipped in the package, one folder each (hyperkit.pretrained reads them too;
# load_model finds them by name without importing that module).
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


class TwoStage(nn.Module):
    """A trained stage 1 and stage 2 with the grid they were trained on.

    Args:
        stage1: network with ``features(patches) -> (P, D)`` and ``forward -> (P,)``.
        stage2: network mapping hyper-images (N, D, U, V) to scores (N,); may be None
            until stage 2 is trained.
        stage1_arch, stage2_arch: preset names or architecture strings (see
            :mod:`hyperkit.nets.arch`), saved so :meth:`load` can rebuild the networks.
        patch: (ph, pw) pixels; grid: (U, V); lcn: normalize images first (eq. 4).
        kind: 'regression' (a score in the labels' units) or 'classifier' (the
            probability of ``classes[1]``).
        classes: a classifier's [name of class 0, name of class 1]; threshold: the
            probability of class 1 from which :meth:`labels` reads class 1.
        meta: free notes kept in model.json (e.g. 'score_meaning'); the model reads
            none of them.
        views: the views of each image that 'two_stage' scores (:mod:`hyperkit.views`):
            ('original',) by default; ('original', 'mirror') also scores the
            left-right mirror and combines the two (a classifier's mean logit, a
            regression model's mean), as a stage 2 trained on both views expects.

    ``stage1.features`` builds the hyper-images: a stage 1 trained on mean-free
    patches is passed as :class:`~hyperkit.nets.siamese.Centered` (saved as the plain
    network plus its mean).
    """

    def __init__(self, stage1: nn.Module, stage2: nn.Module | None, *, stage1_arch: str,
                 stage2_arch: str, patch: Sequence[int], grid: Sequence[int], lcn: bool,
                 kind: str = "regression", classes: Sequence[str] | None = None,
                 threshold: float = 0.5, pooling: dict | None = None,
                 meta: dict | None = None, views: Sequence[str] = ("original",)) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if (kind == "classifier") != (classes is not None) or (
                classes is not None and len(classes) != 2):
            raise ValueError("a classifier needs classes = [name of class 0, name of class 1] "
                             f"and a regression model none; got kind={kind!r}, "
                             f"classes={classes!r}")
        self.stage1, self.stage2 = stage1, stage2
        self.stage1_arch, self.stage2_arch = stage1_arch, stage2_arch
        self.patch, self.grid = tuple(int(p) for p in patch), tuple(int(g) for g in grid)
        self.lcn = bool(lcn)
        self.channels = nets.input_shape(stage1)[0]
        self.kind = kind
        self.classes = None if classes is None else [str(c) for c in classes]
        self.threshold = float(threshold)
        # how the pooling baselines read patch scores: which end is damaged, and the
        # softmin temperature picked on validation images (hyperkit.pooling)
        self.pooling = {"higher_better": True, "softmin_temperature": None, **(pooling or {})}
        self.meta = dict(meta or {})
        self.views = check_views(views)

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
        images = read_inputs(images)
        self.stage1.eval()
        # build_hyperimage splits the images and checks their channels against ours
        return build_hyperimage(images, self.stage1.features, patch=self.patch, grid=self.grid,
                                lcn=self.lcn, batch_size=batch_size, channels=self.channels,
                                channel_axis=channel_axis)

    def patch_scores(self, images: Any, batch_size: int = 4096, *,
                     channel_axis: Any = AUTO) -> np.ndarray:
        """(N, U, V) stage-1 predictions of every grid patch (a regression stage 1)."""
        if self.kind == "classifier":
            raise ValueError("this classifier's stage 1 ranks patch pairs and gives no "
                             "per-patch score; use method='two_stage'")
        images = read_inputs(images)
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
            images: one image, a batch or a list, by the rules of :mod:`hyperkit.images`;
                or image file paths, folders and glob patterns (read at their depth)
                (numpy (H, W) / (H, W, C), torch (C, H, W) / (N, C, H, W); uint8, uint16
                or floats in [0, 1]). Any size of at least one patch; the grid adapts
                (eq. 2). RGB images are converted to gray for a gray model.
            method: 'two_stage' (stage 2 on the hyper-image), or a pooling of the
                grid's stage-1 patch scores: 'patch_average' (the mean, Kang et al.),
                'patch_min', 'patch_p10' (10th percentile), 'patch_softmin' (needs the
                temperature an NR-IQA run picks on validation images). The worst end of
                the scale is ``self.pooling['higher_better']``'s.
            channel_axis: the channel axis of ``images`` where its shape reads two
                ways (see :func:`hyperkit.images.split_images`).
        """
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        images = read_inputs(images)
        self.warn_outside_trained_sizes(images, channel_axis)
        return _PREDICTORS[method](self, images, batch_size, channel_axis)

    def trained_sizes(self) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """((rows, cols) of the smallest, of the largest) training image as recorded in
        ``meta`` ('image_size_min' / 'image_size_max', or one 'image_size'); None when
        the model does not record them (models written before hyperkit 0.2)."""
        lo = self.meta.get("image_size_min", self.meta.get("image_size"))
        hi = self.meta.get("image_size_max", self.meta.get("image_size"))
        if not (isinstance(lo, (list, tuple)) and isinstance(hi, (list, tuple))):
            return None
        return (int(lo[0]), int(lo[1])), (int(hi[0]), int(hi[1]))

    def outside_trained_sizes(self, hw: Sequence[int]) -> bool:
        """True for an image of ``hw`` = (rows, cols) with over 4 times the pixels of the
        largest training image or under a quarter of the smallest's: its patches show
        the scene at a scale the model never saw, so its score is untested."""
        sizes = self.trained_sizes()
        if sizes is None:
            return False
        (lh, lw), (hh, hw_) = sizes
        area = int(hw[0]) * int(hw[1])
        return area > 4 * hh * hw_ or 4 * area < lh * lw

    def warn_outside_trained_sizes(self, images: Any, channel_axis: Any = AUTO) -> None:
        """One warning for the images of ``images`` outside :meth:`trained_sizes`."""
        sizes = self.trained_sizes()
        if sizes is None:
            return
        from .layout import image_hw

        hws = [image_hw(im) for im in split_images(images, channel_axis=channel_axis)]
        out = [hw for hw in hws if self.outside_trained_sizes(hw)]
        if out:
            (lh, lw), (hh, hw_) = sizes
            warnings.warn(f"{len(out)} of {len(hws)} image(s) (e.g. {out[0][0]} x "
                          f"{out[0][1]}) are far from the {lh} x {lw} to {hh} x {hw_} images "
                          "this model was trained on; their scores are untested. Shrink them "
                          "first (hyperkit.images.fit_within, or hyperkit predict --resize).",
                          stacklevel=3)

    def explain(self, images: Any, method: str = DEFAULT_EXPLAIN, *, neutral: Any = "median",
                batch_size: int = 4096, channel_axis: Any = AUTO) -> np.ndarray:
        """One (U, V) importance map per image, float64 numpy (N, U, V): how much each
        grid cell changes the score (score units; negative: the cell lowers it).

        method: 'gradient' (gradient x input on stage 2, the default), 'occlusion'
        (stage 2 with each cell replaced by the neutral vector) or 'patch_average' (the
        baseline's per-patch scores); neutral: 'median' of the image's own cells
        (default), 'mean', 'zero' or a (D,) vector. Scores, image sizes and maps in
        pixels: :func:`hyperkit.attribution.explain`.
        """
        return explain_maps(self, read_inputs(images), method, neutral=neutral,
                            batch_size=batch_size, channel_axis=channel_axis).maps

    def labels(self, scores: Any) -> list[tuple[str, float]] | None:
        """For a classifier (``classes`` = [name of class 0, name of class 1], scores =
        probabilities of class 1, e.g. a forgery run: ['tampered', 'authentic']): (class
        name, probability of that class) per score, class 1 at probabilities >=
        ``threshold``. None for a regression model."""
        if self.kind != "classifier":
            return None
        classes, t = self.classes, self.threshold
        return [(classes[1], float(p)) if p >= t else (classes[0], 1.0 - float(p))
                for p in np.asarray(scores, dtype=np.float64).reshape(-1)]

    def save(self, directory: str | Path) -> Path:
        """Writes model.json, stage1.pt and stage2.pt into ``directory`` (atomically;
        model.json last, so its presence means the model is complete)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        centered = isinstance(self.stage1, Centered)
        net = self.stage1.net if centered else self.stage1  # stage1.pt: the plain network
        save_torch(net.state_dict(), d / "stage1.pt")
        if self.stage2 is not None:
            save_torch(self.stage2.state_dict(), d / "stage2.pt")
        info = {"format": FORMAT, "version": 1, "stage1_arch": self.stage1_arch,
                "stage2_arch": self.stage2_arch, "patch": list(self.patch),
                "grid": list(self.grid), "lcn": self.lcn, "has_stage2": self.stage2 is not None,
                "stage2_standardized": isinstance(self.stage2, Standardized),
                "kind": self.kind, "pooling": self.pooling, "meta": self.meta,
                "views": list(self.views)}
        # checksums of the weight files: load refuses flipped or swapped bytes
        info["sha256"] = {f: sha256_file(d / f) for f in ("stage1.pt", "stage2.pt")
                          if (d / f).is_file() and (f == "stage1.pt" or self.stage2 is not None)}
        if centered:
            info["stage1_mean"] = self.stage1.mean.reshape(-1).tolist()
        if self.kind == "classifier":
            info.update(classes=self.classes, threshold=self.threshold)
        write_text(d / "model.json", json.dumps(info, indent=2))
        return d

    @classmethod
    def load(cls, directory: str | Path, device: Any = "cpu") -> TwoStage:
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
        info = validate(upgrade(info), path)
        for name, digest in (info.get("sha256") or {}).items():
            if name in ("stage1.pt", "stage2.pt") and (d / name).is_file() \
                    and sha256_file(d / name) != digest:
                raise ValueError(f"{d / name} does not match its checksum in model.json: the "
                                 "file was changed or corrupted after the model was saved")
        s1 = nets.build(info["stage1_arch"])
        load_weights(s1, d / "stage1.pt")
        if info.get("stage1_mean") is not None:
            s1 = Centered(s1, info["stage1_mean"])
        s2 = None
        if info.get("has_stage2", True):
            s2 = nets.build(info["stage2_arch"])
            if info.get("stage2_standardized", False):
                s2 = Standardized(s2, nets.input_shape(s2)[0])
            load_weights(s2, d / "stage2.pt")
        m = cls(s1, s2, stage1_arch=info["stage1_arch"], stage2_arch=info["stage2_arch"],
                patch=info["patch"], grid=info["grid"], lcn=info["lcn"], kind=info["kind"],
                classes=info.get("classes"), threshold=info.get("threshold", 0.5),
                pooling=info.get("pooling"), meta=info.get("meta"),
                views=info.get("views", ["original"]))
        return m.to(resolve_device(device)).eval()


def _predict_two_stage(model: TwoStage, images: Any, batch_size: int,
                       channel_axis: Any) -> np.ndarray:
    """Stage 2 on each image's hyper-image, one per view of ``model.views``, combined."""
    if model.stage2 is None:
        raise RuntimeError("stage 2 is not trained; use method='patch_average'")
    singles = split_images(images, channel_axis=channel_axis)  # each in its convention now
    return combine_views([predict_outputs(model.stage2,
                                          model.hyperimages(view_images(singles, v),
                                                            batch_size))
                          for v in model.views], model.kind)


def _pooled(how: str, **options: Any):
    """A predictor pooling the grid's stage-1 patch scores
    (:func:`hyperkit.pooling.pool_scores`)."""
    def predictor(model: TwoStage, images: Any, batch_size: int, channel_axis: Any
                  ) -> np.ndarray:
        opts = dict(options, higher_better=bool(model.pooling["higher_better"]))
        if how == "softmin":
            t = model.pooling.get("softmin_temperature")
            if t is None:
                raise ValueError("this model has no softmin temperature (it is picked on "
                                 "validation images when an NR-IQA run trains it); use "
                                 "method='patch_p10' or 'patch_min'")
            opts["temperature"] = float(t)
        return pool_scores(model.patch_scores(images, batch_size, channel_axis=channel_axis),
                           how, **opts)
    predictor.__doc__ = f"Pooling of the grid's patch scores: {how} {options or ''}".strip()
    return predictor


# method name (hyperkit.methods.METHODS, which labels them) -> predictor(model, images,
# batch_size, channel_axis) -> float64 (N,). A new method: one entry in each table.
_PREDICTORS = {"two_stage": _predict_two_stage,
               "patch_average": _pooled("mean"),  # Kang et al.
               "patch_min": _pooled("min"),
               "patch_p10": _pooled("percentile", percentile=10.0),
               "patch_softmin": _pooled("softmin")}
if set(_PREDICTORS) != set(METHODS):
    raise ImportError(f"hyperkit.methods.METHODS {sorted(METHODS)} and the predictors "
                      f"{sorted(_PREDICTORS)} must name the same methods")


def load_model(path: str | Path, device: Any = "cpu") -> TwoStage:
    """Loads a trained model: a model folder (model.json), a run folder whose manifest
    (run.json, written by every task) lists its models (the first is loaded), or the name
    of a pretrained model shipped in the package (``hyperkit.models()``, e.g.
    'photo-iqa') when no such path exists."""
    p = Path(path)
    shipped = PRETRAINED_DIR / str(path)
    if not p.exists() and p.name == str(path) and (shipped / "model.json").is_file():
        return TwoStage.load(shipped, device)  # hyperkit.pretrained's model of that name
    if (p / "model.json").is_file():
        return TwoStage.load(p, device)
    manifest = read_manifest(p)
    if manifest is not None and manifest["models"]:
        return TwoStage.load(p / manifest["models"][0], device)
    if not p.exists():
        shipped = sorted(d.name for d in PRETRAINED_DIR.iterdir() if (d / "model.json").is_file())
        raise FileNotFoundError(f"{p} does not exist, and it is not the name of a shipped "
                                f"model ({', '.join(shipped) or 'none'})")
    raise FileNotFoundError(f"{p} holds no trained model (no model.json, and no run.json "
                            "listing one; for a run folder written before run.json existed, "
                            "pass the model folder inside it, e.g. RUN/seed0/model)")
