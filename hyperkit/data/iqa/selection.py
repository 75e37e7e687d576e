"""Selective patch training (the paper's "Data generation" for NR-IQA).

Kang et al. give every patch of a distorted image the image's score, which is wrong
for the many patches a localized distortion leaves intact. The paper instead:

1. compares every grid patch of a distorted image with the patch at the same position
   of its reference image by SSIM (Wang et al. 2004);
2. keeps the distorted patches whose SSIM is low (they are the distorted ones), each
   labelled with its image's score;
3. adds every grid patch of the reference images, labelled with the best score of the
   data set's scale (LIVE: DMOS 0);
4. makes the two counts equal.

The paper gives no SSIM threshold (an option here, :data:`DEFAULT_THRESHOLD`, chosen by
the ablation in the README) and does not say how the counts are equalized. With
TID2013's 120 distorted images per reference, dropping distorted patches to the
references' count would discard more than 99% of them, so by default the reference
patches are drawn again (with replacement, seeded) until the counts match
(``balance='oversample'``); ``'undersample'`` does the opposite.

SSIM is computed on luminance (skimage.color.rgb2gray weights) in [0, 1] with
skimage's default 7x7 uniform window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from skimage.metrics import structural_similarity
from tqdm.auto import tqdm

from ...grid import grid_positions
from ...images import as_image_tensor, to_gray

DEFAULT_THRESHOLD = 0.95  # chosen by the demo ablation (bench/RESULTS.md, "iqa-threshold")
BALANCES = ("oversample", "undersample", "none")
WIN = 7  # skimage's default SSIM window


def _luma(image: Any, name: str) -> np.ndarray:
    t = as_image_tensor(image, name)
    if t.shape[0] == 3:
        t = to_gray(t)
    elif t.shape[0] != 1:
        raise ValueError(f"{name} has {t.shape[0]} channels; SSIM needs gray or RGB")
    return t[0].double().numpy()


def patch_ssim(distorted: Any, reference: Any, patch: tuple[int, int],
               grid: tuple[int, int]) -> np.ndarray:
    """SSIM of every grid patch of ``distorted`` against the same patch of ``reference``.

    Args:
        distorted, reference: one image each, the same height and width (any layout
            :mod:`hyperkit.images` reads; RGB is compared on luminance).
        patch: (ph, pw) pixels, each > 7; grid: (U, V), the eq.-2 grid of
            :func:`hyperkit.grid.grid_positions`.

    Returns:
        float64 (U, V): for each patch, skimage's SSIM of the two patches (7x7 uniform
        window, data range 1). Computed from one SSIM map of the whole image: a patch's
        SSIM is the mean of the map over the patch minus a 3-pixel border, whose 7x7
        windows lie inside the patch, so this equals calling skimage on each pair of
        patches (tested) at a fraction of the cost.
    """
    d, r = _luma(distorted, "distorted"), _luma(reference, "reference")
    if d.shape != r.shape:
        raise ValueError(f"distorted is {d.shape[0]}x{d.shape[1]} but its reference is "
                         f"{r.shape[0]}x{r.shape[1]}; they must be the same size")
    ph, pw = patch
    if ph <= WIN or pw <= WIN:
        raise ValueError(f"patch must be larger than the {WIN}x{WIN} SSIM window, got {patch}")
    _, smap = structural_similarity(r, d, win_size=WIN, data_range=1.0, full=True)
    # integral image of the map: mean over any rectangle in O(1)
    s = np.zeros((smap.shape[0] + 1, smap.shape[1] + 1))
    s[1:, 1:] = smap.cumsum(0).cumsum(1)
    pad = WIN // 2
    ys = grid_positions(d.shape[0], ph, grid[0]) + pad
    xs = grid_positions(d.shape[1], pw, grid[1]) + pad
    h, w = ph - 2 * pad, pw - 2 * pad
    y0, x0 = ys[:, None], xs[None, :]
    total = s[y0 + h, x0 + w] - s[y0, x0 + w] - s[y0 + h, x0] + s[y0, x0]
    return total / (h * w)


def ssim_grids(distorted: Sequence[Any], references: Sequence[Any] | Callable[[int], Any],
               patch: tuple[int, int], grid: tuple[int, int], *, progress: bool = False
               ) -> np.ndarray:
    """(N, U, V) float32 :func:`patch_ssim` of each distorted image against its
    reference (``references[i]`` or ``references(i)``), one image at a time."""
    out = np.empty((len(distorted), *grid), dtype=np.float32)
    get = references if callable(references) else references.__getitem__
    for i in tqdm(range(len(distorted)), desc="patch SSIM", leave=False,
                  disable=None if progress else True):
        out[i] = patch_ssim(distorted[i], get(i), patch, grid)
    return out


@dataclass
class PatchRows:
    """Patches as rows: image number (into a list of prepared images), grid cell, label."""

    image: np.ndarray  # int32 (P,)
    u: np.ndarray  # int32 (P,)
    v: np.ndarray  # int32 (P,)
    label: np.ndarray  # float32 (P,)

    def __len__(self) -> int:
        return len(self.label)

    @staticmethod
    def concat(parts: Sequence[PatchRows]) -> PatchRows:
        """One table of all rows of ``parts``, in order."""
        return PatchRows(*(np.concatenate([getattr(p, f) for p in parts]).astype(dt)
                           for f, dt in (("image", np.int32), ("u", np.int32), ("v", np.int32),
                                         ("label", np.float32))))

    def take(self, idx: np.ndarray) -> PatchRows:
        """The rows ``idx``."""
        return PatchRows(self.image[idx], self.u[idx], self.v[idx], self.label[idx])


def all_cells(images: Sequence[int], labels: Sequence[float], grid: tuple[int, int]
              ) -> PatchRows:
    """Every grid cell of each image, labelled with the image's label (Kang et al.)."""
    u, v = np.meshgrid(np.arange(grid[0]), np.arange(grid[1]), indexing="ij")
    n, cells = len(images), grid[0] * grid[1]
    return PatchRows(np.repeat(np.asarray(images, dtype=np.int32), cells),
                     np.tile(u.ravel(), n).astype(np.int32), np.tile(v.ravel(), n).astype(np.int32),
                     np.repeat(np.asarray(labels, dtype=np.float32), cells))


def select_patches(images: Sequence[int], labels: Sequence[float], ssim: np.ndarray,
                   reference_images: Sequence[int], best_score: float, grid: tuple[int, int],
                   *, threshold: float = DEFAULT_THRESHOLD, balance: str = "oversample",
                   seed: int = 0) -> tuple[PatchRows, dict]:
    """The selective patch training set.

    Args:
        images: (N,) image numbers of the distorted images; labels: their scores.
        ssim: (N, U, V) :func:`patch_ssim` of each against its reference.
        reference_images: image numbers of the reference images (every cell kept).
        best_score: the label of reference patches (the best score of the scale).
        threshold: distorted patches with SSIM below it are kept.
        balance: 'oversample' (reference rows drawn with replacement up to the
            distorted count), 'undersample' (distorted rows drawn without replacement
            down to the reference count) or 'none'.
        seed: for the draws.

    Returns:
        (rows, counts) with counts = {'distorted_kept', 'distorted_total',
        'reference', 'rows'}.
    """
    if balance not in BALANCES:
        raise ValueError(f"balance must be one of {', '.join(BALANCES)}, got {balance!r}")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images for {len(labels)} labels")
    ssim = np.asarray(ssim)
    if ssim.shape != (len(images), *grid):
        raise ValueError(f"ssim must be (N, U, V) = ({len(images)}, {grid[0]}, {grid[1]}), "
                         f"got {ssim.shape}")
    n_i, u, v = np.nonzero(ssim < threshold)
    dist = PatchRows(np.asarray(images, dtype=np.int32)[n_i], u.astype(np.int32),
                     v.astype(np.int32), np.asarray(labels, dtype=np.float32)[n_i])
    refs = all_cells(reference_images, [best_score] * len(reference_images), grid)
    if len(dist) == 0:
        raise ValueError(f"no distorted patch has SSIM below {threshold}; raise the threshold")
    rng = np.random.default_rng(seed)
    if balance == "oversample" and len(refs) and len(refs) < len(dist):
        refs = refs.take(rng.choice(len(refs), len(dist), replace=True))
    elif balance == "undersample" and len(refs) and len(dist) > len(refs):
        dist = dist.take(np.sort(rng.choice(len(dist), len(refs), replace=False)))
    rows = PatchRows.concat([dist, refs])
    return rows, {"distorted_kept": int(len(n_i)), "distorted_total": int(ssim.size),
                  "reference": int(len(reference_images) * grid[0] * grid[1]),
                  "rows": len(rows)}


def rows_to_positions(rows: PatchRows, sizes: Sequence[tuple[int, int]],
                      patch: tuple[int, int], grid: tuple[int, int]
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index, ys, xs) of each row's patch: grid cell (u, v) of image ``rows.image``
    whose (H, W) is ``sizes[image]``, by the eq.-2 offsets."""
    hs = np.array([s[0] for s in sizes])
    ws = np.array([s[1] for s in sizes])
    tops = np.stack([grid_positions(int(h), patch[0], grid[0]) for h in hs])
    lefts = np.stack([grid_positions(int(w), patch[1], grid[1]) for w in ws])
    return rows.image, tops[rows.image, rows.u], lefts[rows.image, rows.v]
