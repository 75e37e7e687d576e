"""Pretrained models shipped in the package: score photographs without training.

Each model is a folder here holding a saved :class:`~hyperkit.model.TwoStage`
(model.json, stage1.pt, stage2.pt) and its model card (card.md for people, card.json with
every measured figure). ``photo-iqa`` is a no-reference quality model for photographs,
trained by ``tools/train_photo_model.py`` on an offline set of real photographs with
synthetic distortions; its card says what the score means and what it does not know.

    import hyperkit
    hyperkit.pretrained.score(["photo.jpg"])          # (N,) float64 scores, 0-100
    model = hyperkit.load_pretrained("photo-iqa")     # a TwoStage: predict, explain, ...
    print(hyperkit.pretrained.card("photo-iqa"))
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..model import PRETRAINED_DIR as HERE  # this folder, defined once

DEFAULT = "photo-iqa"


def models() -> list[str]:
    """Names of the pretrained models in this installation (folders with a model.json)."""
    return sorted(p.name for p in HERE.iterdir() if (p / "model.json").is_file())


def _folder(name: str) -> Path:
    if not isinstance(name, str) or name not in models():
        raise ValueError(f"name must be one of the pretrained models {models()}, got {name!r}")
    return HERE / name


def card(name: str = DEFAULT) -> str:
    """The model card of ``name`` (markdown): data, labels, what the score means and its
    range, the measured SROCC on held-out references, and what it does not know."""
    return (_folder(name) / "card.md").read_text()


def card_data(name: str = DEFAULT) -> dict:
    """card.json of ``name``: every figure of the card (held-out SROCC, the ranking check
    per photograph), the training command, library versions and machine."""
    return json.loads((_folder(name) / "card.json").read_text())


def load_pretrained(name: str = DEFAULT, device: Any = "cpu"):
    """The pretrained :class:`~hyperkit.model.TwoStage` ``name`` in eval mode on ``device``.

    Its ``meta`` holds ``image_size`` (rows, columns it was trained at) and
    ``score_meaning``. Scoring through :func:`score` shrinks larger photographs to that
    size first; :meth:`~hyperkit.model.TwoStage.predict` scores arrays as given.
    """
    from ..model import TwoStage

    return TwoStage.load(_folder(name), device)


def score(images: Any, name: str = DEFAULT, *, resize: bool = True, model: Any = None
          ) -> np.ndarray:
    """Scores photographs with a pretrained model: float64 (N,).

    Args:
        images: file paths (str or Path), folders or glob patterns, arrays or tensors,
            alone or in a list (the rules of :mod:`hyperkit.images`: numpy (H, W, C),
            torch (C, H, W) / (N, C, H, W); uint8, uint16 or floats in [0, 1]).
        name: the pretrained model (:func:`models`).
        resize: shrink each image to fit the model's training size first (what the card
            measured); False scores at full size.
        model: an already loaded model (skips loading ``name`` again).

    Returns:
        One score per image, in the units of the model's card (photo-iqa: 0-100, higher is
        better, 100 = undistorted).

    Raises:
        FileNotFoundError / ValueError: a missing or unreadable file, or a bad image.
    """
    from ..images import fit_within, read_inputs, split_images

    m = model if model is not None else load_pretrained(name)
    arrays = [_numpy_hwc(x) for x in split_images(read_inputs(images))]
    size = m.meta.get("image_size")
    if resize and size:
        arrays = [fit_within(a, size) for a in arrays]
    return m.predict(arrays)


def _numpy_hwc(image: Any) -> np.ndarray:
    """One image as numpy in the numpy layout ((H, W) or (H, W, C)): a torch (C, H, W)
    tensor is moved to the CPU and permuted."""
    if isinstance(image, np.ndarray):
        return image
    import torch

    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        return (t.permute(1, 2, 0) if t.ndim == 3 else t).numpy()
    return np.asarray(image)
