"""Views of an image that a two-stage model scores and averages: the image as it is and
its left-right mirror.

Stage 1's features are not mirror-invariant, so the hyper-image of a mirrored image is a
second, different reading of the same scene (not the first one's grid flipped). A stage
2 trained on both views of its ~170 training images, and scoring an image by the mean
of its two views, ranked the quick forgery demo's test images better in 7 of 10 seeds
(paired +0.040 ROC AUC, 95 % interval +0.007 to +0.073; bench/RESULTS.md
"forgery-views", ``bench/forgery_views.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import special

from . import interop

VIEWS = ("original", "mirror")  # every view a model may name, in this order
EPS = 1e-6  # probabilities are clipped to [EPS, 1 - EPS] before the logit
KINDS = ("regression", "classifier")  # TwoStage.kind: what its scores are (combine_views)


def logit(p: Any) -> np.ndarray:
    """log(p / (1 - p)) in float64 with ``p`` clipped to [EPS, 1 - EPS]."""
    return special.logit(np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS))


def check_views(views: Any, name: str = "views") -> tuple[str, ...]:
    """``views`` as a tuple, in the order given: a non-empty sequence of distinct names
    from :data:`VIEWS`; ValueError naming ``name`` otherwise."""
    if isinstance(views, str) or not isinstance(views, (list, tuple)) or not views:
        raise ValueError(f"{name} must be a non-empty list of view names from "
                         f"{', '.join(VIEWS)}, got {views!r}")
    out = tuple(views)
    bad = [v for v in out if not isinstance(v, str) or v not in VIEWS]
    if bad or len(set(out)) != len(out):
        raise ValueError(f"{name} must name distinct views from {', '.join(VIEWS)}, got "
                         f"{list(out)!r}")
    return out


def mirror_image(image: Any) -> Any:
    """One image in its ecosystem's layout (:mod:`hyperkit.layout`: numpy (H, W) or
    (H, W, C), torch and cupy (H, W) or (C, H, W)) with its columns reversed, as a
    C-contiguous array of the same kind, dtype and device."""
    if interop.kind(image, "image") == "torch":
        return image.flip(-1).contiguous()
    flipped = image[:, ::-1] if isinstance(image, np.ndarray) else image[..., ::-1]
    return interop.contiguous(flipped)


def view_image(image: Any, view: str) -> Any:
    """One image (in its ecosystem's layout) as ``view`` shows it: itself, or its mirror."""
    check_views([view], "view")
    return image if view == "original" else mirror_image(image)


def view_images(images: Sequence[Any], view: str) -> list[Any]:
    """``images`` (single images in their ecosystem's layout) as ``view`` shows them."""
    return [view_image(im, view) for im in images]


def combine_views(outputs: Sequence[Any], kind: str) -> np.ndarray:
    """One score per image from each view's scores (V arrays of (N,)), float64 (N,).

    A classifier's probabilities are averaged as logits (clipped to [EPS, 1 - EPS]) and
    mapped back through the sigmoid, so two confident views stay confident; a regression
    model's scores are averaged. One view is returned as it is (float64)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if len(outputs) == 0:
        raise ValueError("outputs must hold the scores of at least one view")
    arrs = [np.asarray(o, dtype=np.float64).reshape(-1) for o in outputs]
    if len({len(a) for a in arrs}) != 1:
        raise ValueError(f"each view must score the same images; got lengths "
                         f"{[len(a) for a in arrs]}")
    if len(arrs) == 1:
        return arrs[0]
    if kind == "regression":
        return np.mean(arrs, 0)
    return special.expit(np.mean([logit(a) for a in arrs], 0))
