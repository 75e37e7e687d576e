"""hyperkit: CNN hyper-images for labels that depend on a few localized artifacts
(Chandakkar & Li): a stage-1 CNN scores patches; the ReLU features of a U x V grid of an
image's patches form a (D, U, V) hyper-image; a stage-2 CNN maps it to the image label.

The main calls::

    import hyperkit
    model = hyperkit.load_model("runs/synthetic-exp1-quick")   # after `hyperkit synthetic --quick`
    model.predict([image, ...])                                # one score per image (numpy)
    hyperkit.pretrained.score(["photo.jpg"])   # a shipped photo-quality model, no training
    hyperkit.models()                          # the shipped models (hyperkit.pretrained.card)
    hyperkit.build_hyperimage(images, stage1.features, patch=32, stride=16)  # (N, D, U, V)
    hyperkit.lcn(image)                        # local contrast normalization (eq. 4)
    hyperkit.gather_patches(images, 32, grid=(23, 31))
    hyperkit.grid_positions(384, 32, 23)       # eq. 2 run-time strides

Images: numpy (H, W) / (H, W, C), torch (C, H, W) / (N, C, H, W); uint8, uint16, or
floats in [0, 1] (see hyperkit.images). Training: hyperkit.training (fit, objectives),
hyperkit.training.recipes (both stages), hyperkit.tasks (experiment runners),
hyperkit.nets (the architectures of Tables 4 and 5). Command line: ``hyperkit --help``.

Attributes load on first use, so ``import hyperkit`` (and the command line's help) do
not load torch until something needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"  # the one place; pyproject.toml reads it statically (keep a literal)

# public name -> module that defines it (imported on first access)
_API = {
    "LocalContrastNorm": "hyperkit.ops.lcn",
    "MinMaxPool2d": "hyperkit.ops.minmax_pool2d",
    "TwoStage": "hyperkit.model",
    "as_image_tensor": "hyperkit.images",
    "build_hyperimage": "hyperkit.hyperimage",
    "cuda_available": "hyperkit.ops.kernels",
    "gather_patches": "hyperkit.ops.gather_patches",
    "grid_minmax_pool": "hyperkit.ops.grid_minmax_pool",
    "grid_positions": "hyperkit.grid",
    "grid_shape": "hyperkit.grid",
    "lcn": "hyperkit.ops.lcn",
    "load_model": "hyperkit.model",
    "load_pretrained": "hyperkit.pretrained",
    "models": "hyperkit.pretrained",
    "minmax_pool2d": "hyperkit.ops.minmax_pool2d",
}
_SUBPACKAGES = ("data", "evaluation", "nets", "ops", "pretrained", "tasks", "training")

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"hyperkit.{name}")
    else:
        raise AttributeError(f"module 'hyperkit' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API, *_SUBPACKAGES})
