"""Patch-importance maps: which grid cells of an image move a two-stage model's score.

Each point (u, v) of a hyper-image is the stage-1 feature vector of one known patch of
the image (:mod:`hyperkit.hyperimage`), so an attribution over the hyper-image's cells
is an attribution over image patches. Every map here is in score units and answers one
question: *how much does cell (u, v) change stage 2's score, compared with a neutral
cell in its place?*

    map[u, v] = f(H) - f(H with cell (u, v) replaced by the neutral vector)

Positive: the cell raises the score; negative: it lowers it; |map| is the cell's
importance (what the pointing game and the AUROC rank).

Variants (``METHODS``):

* ``'occlusion'``: the formula above, exactly: stage 2 runs once per cell (U * V extra
  stage-2 passes per image, batched). Exact, but its cost grows with the grid.
* ``'gradient'`` (gradient x input): its first-order estimate,
  ``sum_d df/dH[d, u, v] * (H[d, u, v] - neutral[d])``, from one forward and one
  backward pass of stage 2 for the whole grid. With a zero neutral vector this is the
  classic gradient x input.
* ``'patch_average'``: the baseline. Patch averaging scores an image by the mean
  stage-1 prediction s[u, v] over the grid, so replacing cell (u, v) by a typical cell
  changes the score by ``(s[u, v] - median(s)) / (U * V)``: the same question asked of
  Kang et al.'s model.

Neutral vector (``neutral=``): by default the per-channel **median of the image's own
cells**. A saved model does not keep its training hyper-images or their mean, so a
training mean is not available at explain time; of the image's own statistics, the
median is a typical cell of this image that the few cells carrying an artifact (the
cells the map is meant to find) barely move, where the mean is pulled towards them.
``'mean'`` (the image's own mean), ``'zero'`` (no activation: ReLU features are >= 0)
or a (D,) vector (e.g. a training-set mean you computed) can be passed instead.

Stage 1 runs once per image (the hyper-image) for the two stage-2 variants; the
baseline needs the stage-1 patch scores instead. Nothing here knows a task: any
:class:`~hyperkit.model.TwoStage` (synthetic, NR-IQA, forgery) is explained the same way.

Also here: spreading a (U, V) map over the image's pixels (:func:`cells_to_pixels`) and
which cells a pixel mask touches (:func:`mask_to_cells`). The checks against ground truth
are in :mod:`hyperkit.evaluation.importance`.

This module sits below :mod:`hyperkit.model` (``TwoStage.explain`` calls :func:`explain`)
and takes the model as it is: anything with ``images``, ``hyperimages``,
``patch_scores``, ``stage2`` and ``patch``, as :class:`~hyperkit.model.TwoStage` has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from . import checks
from .grid import grid_positions
from .layout import AUTO, image_hw

METHODS = {
    "gradient": "gradient x input (stage 2, one backward pass)",
    "occlusion": "occlusion in hyper-image space (stage 2 once per cell)",
    "patch_average": "patch averaging's per-patch scores (baseline)",
}
DEFAULT_METHOD = "gradient"  # chosen from the measurements in the README (issue 13)
NEUTRALS = ("median", "mean", "zero")
# Most float32 values of occluded hyper-image copies held at once (1 GiB).
_OCCLUSION_BUDGET = 1 << 28


@dataclass
class Explanation:
    """Importance maps of a batch of images.

    maps: float64 (N, U, V), score units, sign as in the module docstring;
    scores: float64 (N,), the model's score of each image by the explained method
    (two-stage for 'gradient' and 'occlusion', patch averaging for 'patch_average');
    sizes: (H, W) of each image in pixels; patch: (ph, pw); method: the variant.
    """

    maps: np.ndarray
    scores: np.ndarray
    sizes: list[tuple[int, int]]
    patch: tuple[int, int]
    method: str
    neutral: str = field(default="median")

    def __len__(self) -> int:
        return len(self.maps)

    def pixels(self, i: int) -> np.ndarray:
        """Image ``i``'s map spread over its pixels, (H, W) float64
        (:func:`cells_to_pixels`)."""
        return cells_to_pixels(self.maps[i], self.sizes[i], self.patch)


def _neutral_vectors(hyper: Tensor, neutral: Any) -> Tensor:
    """(N, D) neutral vectors for hyper-images (N, D, U, V)."""
    n, d = hyper.shape[:2]
    if isinstance(neutral, str):
        if neutral == "median":
            # torch.median picks the lower middle value: a real cell's value, no averaging
            return hyper.flatten(2).median(dim=2).values
        if neutral == "mean":
            return hyper.flatten(2).mean(dim=2)
        if neutral == "zero":
            return hyper.new_zeros((n, d))
        raise ValueError(f"neutral must be one of {', '.join(NEUTRALS)} or a (D,) vector, "
                         f"got {neutral!r}")
    vec = torch.as_tensor(np.asarray(neutral) if not isinstance(neutral, Tensor) else neutral)
    if vec.shape != (d,):
        raise ValueError(f"neutral must be a vector of the hyper-image depth D = {d}, got "
                         f"shape {tuple(vec.shape)}")
    if not torch.isfinite(vec).all():
        raise ValueError("neutral must be finite (NaN or Inf found)")
    return vec.to(hyper.device, hyper.dtype).expand(n, d)


def _scores(out: Tensor, n: int) -> Tensor:
    """Stage 2's output as one score per image; refuses several outputs."""
    out = out.reshape(n, -1) if out.ndim > 1 else out.reshape(n, 1)
    if out.shape[1] != 1:
        raise ValueError(f"stage 2 must give one score per image to be explained, it gives "
                         f"{out.shape[1]}")
    return out[:, 0]


def gradient_maps(stage2: Any, hyper: Tensor, neutral: Any = "median"
                  ) -> tuple[Tensor, Tensor]:
    """Gradient x (input - neutral) of stage 2, summed over the depth D.

    Args:
        stage2: module mapping hyper-images (N, D, U, V) to scores (N,) (eval mode is
            the caller's business: dropout must be off).
        hyper: (N, D, U, V) float hyper-images.
        neutral: 'median', 'mean', 'zero' or a (D,) vector (module docstring).

    Returns:
        (maps (N, U, V), scores (N,)), detached, on hyper's device. One forward and one
        backward pass; the weights' .grad are not touched.
    """
    h = hyper.detach().requires_grad_(True)
    with torch.enable_grad():
        scores = _scores(stage2(h), len(h))
        (grad,) = torch.autograd.grad(scores.sum(), h)
    base = _neutral_vectors(hyper.detach(), neutral)[:, :, None, None]
    return (grad * (hyper.detach() - base)).sum(1), scores.detach()


@torch.no_grad()
def occlusion_maps(stage2: Any, hyper: Tensor, neutral: Any = "median",
                   batch_size: int | None = None) -> tuple[Tensor, Tensor]:
    """f(H) - f(H with one cell set to the neutral vector), for every cell.

    Args:
        stage2, hyper, neutral: as :func:`gradient_maps`.
        batch_size: occluded copies per stage-2 call; default as many as fit in
            2**28 float32 values (1 GiB), so a TID2013 grid (23 x 31 x 800) runs ~470
            copies at a time.

    Returns:
        (maps (N, U, V), scores (N,)), on hyper's device. N * U * V + N stage-2 passes,
        batched over images and cells together.
    """
    n, d, u, v = hyper.shape
    cells = u * v
    per_copy = d * cells
    bs = max(1, _OCCLUSION_BUDGET // per_copy) if batch_size is None else \
        checks.positive_int(batch_size, "batch_size")
    scores = _scores(stage2(hyper), n)
    base = _neutral_vectors(hyper, neutral)
    flat = hyper.reshape(n, d, cells)
    out = torch.empty(n * cells, dtype=scores.dtype, device=hyper.device)
    for start in range(0, n * cells, bs):
        idx = torch.arange(start, min(start + bs, n * cells), device=hyper.device)
        img, cell = idx // cells, idx % cells
        copies = flat[img].clone()  # (k, D, U*V)
        copies[torch.arange(len(idx), device=hyper.device), :, cell] = base[img]
        out[start:start + len(idx)] = _scores(stage2(copies.view(-1, d, u, v)), len(idx))
    return (scores[:, None] - out.view(n, cells)).view(n, u, v), scores


def patch_average_maps(patch_scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """The baseline map: how far each patch's stage-1 score is from the image's median
    patch score, over U * V (the change in the patch-average score if that patch were a
    typical one).

    Args:
        patch_scores: (N, U, V) stage-1 predictions (:meth:`TwoStage.patch_scores`).

    Returns:
        (maps (N, U, V), scores (N,)) float64; scores are the patch averages.
    """
    s = np.asarray(patch_scores, dtype=np.float64)
    if s.ndim != 3:
        raise ValueError(f"patch_scores must be (N, U, V), got shape {s.shape}")
    med = np.median(s.reshape(len(s), -1), axis=1)
    return (s - med[:, None, None]) / (s.shape[1] * s.shape[2]), s.mean(axis=(1, 2))


def explain(model: Any, images: Any, method: str = DEFAULT_METHOD, *,
            neutral: Any = "median", batch_size: int = 4096, images_per_batch: int = 32,
            channel_axis: Any = AUTO) -> Explanation:
    """Importance maps of ``images`` under a two-stage model.

    Args:
        model: a trained :class:`~hyperkit.model.TwoStage` (any task).
        images: one image, a batch or a list (the rules of :mod:`hyperkit.images`).
        method: 'gradient' (default), 'occlusion' or 'patch_average' (see ``METHODS``).
        neutral: the neutral cell: 'median' (default), 'mean', 'zero' or a (D,) vector.
            Ignored by 'patch_average', whose neutral is the median patch score.
        batch_size: most patches stage 1 sees at once.
        images_per_batch: images whose hyper-images are held and explained together
            (bounds memory on long lists).
        channel_axis: as in :meth:`TwoStage.predict`.

    Returns:
        an :class:`Explanation`: maps (N, U, V), scores (N,), image sizes.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if isinstance(neutral, str) and neutral not in NEUTRALS:
        raise ValueError(f"neutral must be one of {', '.join(NEUTRALS)} or a (D,) vector, "
                         f"got {neutral!r}")
    per = checks.positive_int(images_per_batch, "images_per_batch")
    ims = model.images(images, channel_axis=channel_axis)
    if method != "patch_average" and model.stage2 is None:
        raise RuntimeError("stage 2 is not trained; use method='patch_average'")
    maps, scores = [], []
    for i in range(0, len(ims), per):
        chunk = ims[i:i + per]
        if method == "patch_average":
            m, s = patch_average_maps(model.patch_scores(chunk, batch_size))
        else:
            stage2 = model.stage2
            was_training = stage2.training
            stage2.eval()  # dropout off: the map must explain the score predict() gives
            try:
                hyper = model.hyperimages(chunk, batch_size)
                fn = gradient_maps if method == "gradient" else occlusion_maps
                m, s = fn(stage2, hyper, neutral)
            finally:
                stage2.train(was_training)
            m, s = m.double().cpu().numpy(), s.double().cpu().numpy()
        maps.append(m)
        scores.append(s)
    label = "median patch score" if method == "patch_average" else (
        neutral if isinstance(neutral, str) else "given vector")
    return Explanation(np.concatenate(maps), np.concatenate(scores),
                       [image_hw(im) for im in ims], model.patch, method, label)


def _coverage(size: int, patch: int, n: int) -> np.ndarray:
    """(n, size) float64: 1 where patch k of the grid covers pixel y along one axis."""
    start = grid_positions(size, patch, n)
    y = np.arange(size)
    return ((y[None, :] >= start[:, None]) & (y[None, :] < start[:, None] + patch)).astype(
        np.float64)


def cells_to_pixels(cell_map: Any, size: Sequence[int], patch: Any) -> np.ndarray:
    """Spreads a (U, V) map over an H x W image: each pixel gets the mean value of the
    grid patches that cover it (patches at :func:`hyperkit.grid_positions` offsets).

    Args:
        cell_map: (U, V) values, one per grid cell.
        size: (H, W) of the image, pixels.
        patch: (ph, pw) or int, pixels.

    Returns:
        float64 (H, W); NaN where no patch covers a pixel (a grid with gaps).
    """
    m = np.asarray(cell_map, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"cell_map must be (U, V), got shape {m.shape}")
    h, w = checks.pair(tuple(size), "size")
    ph, pw = checks.pair(patch, "patch")
    rows, cols = _coverage(h, ph, m.shape[0]), _coverage(w, pw, m.shape[1])
    # Coverage is separable: sum over cells = R^T M C and count = R^T 1 C.
    total = rows.T @ m @ cols
    count = np.outer(rows.sum(0), cols.sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def mask_to_cells(mask: Any, patch: Any, grid: Sequence[int]) -> np.ndarray:
    """Which grid cells overlap a pixel mask.

    Args:
        mask: (H, W) bool (or 0/1) array, True on the region (e.g. an artifact).
        patch: (ph, pw) or int, pixels; grid: (U, V).

    Returns:
        bool (U, V): True where the cell's patch holds at least one True pixel.
    """
    mk = np.asarray(mask)
    if mk.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mk.shape}")
    ph, pw = checks.pair(patch, "patch")
    u, v = checks.pair(tuple(grid), "grid")
    rows, cols = _coverage(mk.shape[0], ph, u), _coverage(mk.shape[1], pw, v)
    return rows @ (mk != 0).astype(np.float64) @ cols.T > 0
