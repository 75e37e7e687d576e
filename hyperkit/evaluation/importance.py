"""Importance maps checked against ground truth: which grid cells of an image move a
two-stage model's score (the maps themselves: :mod:`hyperkit.attribution`, re-exported
here), and how well they find the regions that should matter.

* :func:`pointing_game`, :func:`localization_scores`: does |map| find the positive cells
  (AUROC: :func:`hyperkit.evaluation.classification.roc_auc`)?
* :func:`region_scores`: are an image's regions ranked by their true effect?
* :func:`evaluate_localization`: all of them for a model, images and region masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..attribution import (  # noqa: F401
    DEFAULT_METHOD,
    METHODS,
    NEUTRALS,
    Explanation,
    cells_to_pixels,
    explain,
    gradient_maps,
    mask_to_cells,
    occlusion_maps,
    patch_average_maps,
)
from ..layout import AUTO, image_hw
from ..model import TwoStage
from .classification import roc_auc


def pointing_game(maps: Any, cell_labels: Any) -> float:
    """Share of images whose most important cell (largest |map|) is a positive cell.

    Args:
        maps: (N, U, V) importance maps (signed; |map| is ranked).
        cell_labels: (N, U, V) bool, True where the cell overlaps the region.
            Images without a positive cell are left out.
    """
    m, y = _maps_and_labels(maps, cell_labels)
    keep = y.reshape(len(y), -1).any(1)
    if not keep.any():
        raise ValueError("pointing_game needs at least one image with a positive cell")
    flat = np.abs(m[keep]).reshape(int(keep.sum()), -1)
    top = flat.argmax(1)  # ties: the first cell in row-major order
    return float(y[keep].reshape(len(top), -1)[np.arange(len(top)), top].mean())


def _maps_and_labels(maps: Any, cell_labels: Any) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(maps, dtype=np.float64)
    y = np.asarray(cell_labels).astype(bool)
    if m.ndim != 3 or m.shape != y.shape:
        raise ValueError(f"maps and cell_labels must both be (N, U, V), got shapes {m.shape} "
                         f"and {y.shape}")
    return m, y


def localization_scores(maps: Any, cell_labels: Any) -> dict[str, float]:
    """How well |map| finds the positive cells.

    Returns:
        {'auroc_pooled': AUROC over every cell of every image, 'auroc_per_image': mean
        AUROC over images that have both kinds of cell, 'pointing_game': hit rate,
        'images': N, 'positive_cells': share of cells that are positive}.
    """
    m, y = _maps_and_labels(maps, cell_labels)
    if y.all() or not y.any():
        raise ValueError("localization needs both positive and negative cells (the masks "
                         "cover every cell, or none)")
    per = [roc_auc(np.abs(mi), yi) for mi, yi in zip(m, y) if yi.any() and not yi.all()]
    return {"auroc_pooled": roc_auc(np.abs(m), y),
            "auroc_per_image": float(np.mean(per)) if per else float("nan"),
            "pointing_game": pointing_game(m, y), "images": len(m),
            "positive_cells": float(y.mean())}


def region_scores(maps: Any, region_cells: Sequence[Any], weights: Sequence[Any]
                  ) -> dict[str, float]:
    """Does |map| rank an image's regions by their true effect on the score?

    A region's importance is the largest |map| over the cells that overlap it.

    Args:
        maps: (N, U, V) importance maps.
        region_cells: per image, (R_i, U, V) bool: the cells each of its regions overlaps.
        weights: per image, (R_i,) true effect of each region (e.g. eq. 3's alpha_i of a
            synthetic patch), larger = more effect.

    Returns:
        {'top_region_hit': share of images with >= 2 regions of different weight whose
        top cell overlaps the region of largest weight; 'pair_concordance': over every
        pair of regions of one image with different weights, the share ordered as the
        weights are (ties in importance count 1/2); 'region_images', 'region_pairs': how
        many images and pairs these are}.
    """
    m = np.abs(np.asarray(maps, dtype=np.float64))
    if m.ndim != 3 or len(region_cells) != len(m) or len(weights) != len(m):
        raise ValueError(f"maps (N, U, V), region_cells and weights need one entry per image, "
                         f"got {m.shape}, {len(region_cells)} and {len(weights)}")
    hits, agree, pairs = [], 0.0, 0
    for i, (mi, cells, w) in enumerate(zip(m, region_cells, weights)):
        cells, w = np.asarray(cells, bool), np.asarray(w, np.float64).ravel()
        if cells.ndim != 3 or cells.shape[1:] != mi.shape or len(cells) != len(w):
            raise ValueError(f"region_cells[{i}] must be (R, U, V) = (len(weights[{i}]), "
                             f"{mi.shape[0]}, {mi.shape[1]}), got {cells.shape} and "
                             f"{len(w)} weights")
        if len(w) < 2 or np.all(w == w[0]):
            continue
        imp = np.array([mi[c].max() if c.any() else 0.0 for c in cells])
        top = np.unravel_index(int(mi.argmax()), mi.shape)
        hits.append(bool(cells[int(w.argmax()), top[0], top[1]]))
        a, b = np.triu_indices(len(w), 1)
        keep = w[a] != w[b]
        a, b = a[keep], b[keep]
        s = np.sign(w[a] - w[b]) * np.sign(imp[a] - imp[b])
        agree += float((s > 0).sum() + 0.5 * (s == 0).sum())
        pairs += len(a)
    return {"top_region_hit": float(np.mean(hits)) if hits else float("nan"),
            "pair_concordance": agree / pairs if pairs else float("nan"),
            "region_images": len(hits), "region_pairs": pairs}


def evaluate_localization(model: TwoStage, images: Any, masks: Sequence[Any],
                          methods: Sequence[str] = tuple(METHODS), *,
                          weights: Sequence[Any] | None = None, neutral: Any = "median",
                          images_per_batch: int = 32, channel_axis: Any = AUTO
                          ) -> dict[str, dict[str, float]]:
    """Importance maps of each method scored against ground-truth region masks.

    Args:
        model: a trained two-stage model (any task).
        images: N images (the rules of :mod:`hyperkit.images`).
        masks: per image, an (H, W) bool mask the size of the image, True on the regions
            that should matter (artifact patches, distorted or tampered regions), or an
            (R, H, W) stack with one mask per region.
        methods: which variants to score (keys of ``METHODS``).
        weights: optional, per image, (R,) true effect of each region on the score
            (masks must then be (R, H, W) stacks): adds :func:`region_scores`.
        neutral, images_per_batch, channel_axis: as :func:`explain`.

    Returns:
        {method: :func:`localization_scores` of its maps against "the cell overlaps a
        mask" (the union of an image's regions), plus :func:`region_scores` when
        weights are given}.
    """
    ims = model.images(images, channel_axis=channel_axis)
    if len(masks) != len(ims):
        raise ValueError(f"masks must hold one mask per image: {len(ims)} images, "
                         f"{len(masks)} masks")
    if weights is not None and len(weights) != len(ims):
        raise ValueError(f"weights must hold one vector per image: {len(ims)} images, "
                         f"{len(weights)} vectors")
    labels, regions = [], []
    for i, (im, mk) in enumerate(zip(ims, masks)):
        mk = np.asarray(mk)
        stack = mk[None] if mk.ndim == 2 else mk
        if stack.ndim != 3 or tuple(stack.shape[1:]) != image_hw(im):
            raise ValueError(f"masks[{i}] has shape {mk.shape}, but image {i} is "
                             f"{image_hw(im)}: give (H, W) or (R, H, W)")
        if weights is not None and (mk.ndim != 3 or len(np.ravel(weights[i])) != len(stack)):
            raise ValueError(f"weights[{i}] needs one value per region of masks[{i}] (an "
                             f"(R, H, W) stack), got {np.size(weights[i])} for shape "
                             f"{mk.shape}")
        cells = np.stack([mask_to_cells(r, model.patch, model.grid) for r in stack])
        regions.append(cells)
        labels.append(cells.any(0))
    labels = np.stack(labels)
    out = {}
    for m in methods:
        maps = explain(model, ims, m, neutral=neutral, images_per_batch=images_per_batch).maps
        out[m] = localization_scores(maps, labels)
        if weights is not None:
            out[m].update(region_scores(maps, regions, weights))
    return out
