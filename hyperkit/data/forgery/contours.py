"""Where stage-1 patches of a tampered image are cut: along the contour of its
tampered region (section "Image forgery classification", Data generation, Fig. 2).

The tampered image is subtracted from its authentic counterpart, the absolute
difference (largest over the channels) is thresholded, and the binary map is cleaned
with morphological operations (scikit-image: opening removes JPEG speckle, closing
bridges gaps, small objects go; scipy fills the holes, so only outer contours remain).
A ground-truth mask, when given, replaces the subtraction and is cleaned the same way.
``skimage.measure.find_contours`` traces the region's outline; 15 points are sampled at
equal arc-length steps along the contours (the longest first, all of them joined), and
a 64 x 64 patch is centred on each, moved inward where it would leave the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...images import as_image_tensor

N_POINTS = 15  # the paper samples 15 pixels along the contour
PATCH = 64  # and crops 64 x 64 patches centred on them
THRESHOLD = 0.1  # of the [0, 1] range: ~25 grey levels, above re-saving (JPEG) noise
RADIUS = 2  # of the opening disk, pixels
MIN_AREA = 64  # pixels; smaller regions are noise


class NoUsableDifference(ValueError):
    """The pair shows no tampered region (identical images, or only noise)."""


@dataclass
class ContourPatches:
    """Where the patches of one pair are.

    mask: bool (H, W) cleaned tampered region; contour: float (K, 2) (row, col) points
    of the outline, all contours joined; centres: int64 (n, 2) sampled points;
    tops: int64 (n, 2) top-left (row, col) of each patch, inside the image.
    """

    mask: np.ndarray
    contour: np.ndarray
    centres: np.ndarray
    tops: np.ndarray
    area: float  # fraction of the image the region covers


def as_hwc(image: Any, name: str) -> np.ndarray:
    """One image (any form of :mod:`hyperkit.images`) as float32 (H, W, C) in [0, 1]."""
    return as_image_tensor(image, name).permute(1, 2, 0).cpu().numpy()


def difference(authentic: Any, tampered: Any) -> np.ndarray:
    """float32 (H, W): |authentic - tampered|, the largest over channels, in [0, 1].

    ValueError when the sizes or channel counts differ."""
    a, t = as_hwc(authentic, "authentic"), as_hwc(tampered, "tampered")
    if a.shape != t.shape:
        raise ValueError(f"authentic {a.shape[:2]} x {a.shape[2]} and tampered "
                         f"{t.shape[:2]} x {t.shape[2]} differ in size or channels; a pair "
                         "must have one size")
    return np.abs(a - t).max(axis=2)


def clean(region: np.ndarray, radius: int = RADIUS, min_area: int = MIN_AREA) -> np.ndarray:
    """bool (H, W): opening (speckle), closing (gaps), small objects removed, holes
    filled."""
    from scipy import ndimage
    from skimage import morphology

    fp = morphology.disk(radius)
    m = morphology.opening(region.astype(bool), fp)
    m = morphology.closing(m, morphology.disk(2 * radius))
    m = morphology.remove_small_objects(m, max_size=min_area - 1) \
        if _has_max_size() else morphology.remove_small_objects(m, min_size=min_area)
    # Holes are where pasted pixels happen to match the background: still tampered.
    # Filling them leaves the outer contour only, the seam the patches should show.
    return ndimage.binary_fill_holes(m)


def _has_max_size() -> bool:
    """scikit-image 0.26 renamed min_size / area_threshold to max_size (older versions
    lack it): use whichever this version has, without a deprecation warning."""
    import inspect

    from skimage import morphology

    return "max_size" in inspect.signature(morphology.remove_small_objects).parameters


def tampered_region(authentic: Any, tampered: Any, mask: Any = None, *,
                    threshold: float = THRESHOLD, radius: int = RADIUS,
                    min_area: int = MIN_AREA) -> np.ndarray:
    """bool (H, W): the cleaned tampered region, from a ground-truth ``mask`` (any
    nonzero pixel; RGB masks are reduced to their largest channel) or else from the
    thresholded difference."""
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    if mask is not None:
        m = np.asarray(mask)
        m = m.max(axis=2) if m.ndim == 3 else m
        h, w = as_hwc(tampered, "tampered").shape[:2]
        if m.shape != (h, w):
            raise ValueError(f"mask is {m.shape[0]}x{m.shape[1]} but the tampered image is "
                             f"{h}x{w}")
        raw = m > (0.5 * m.max() if m.max() > 0 else 0)
    else:
        raw = difference(authentic, tampered) > threshold
    return clean(raw, radius, min_area)


def outline(region: np.ndarray) -> list[np.ndarray]:
    """Contours of a bool (H, W) region, (K, 2) (row, col) each, longest first
    (``skimage.measure.find_contours`` at level 0.5 on the region padded by one pixel,
    so that a region touching the border still has a closed outline)."""
    from skimage import measure

    padded = np.pad(region.astype(np.float32), 1)
    cs = [c - 1 for c in measure.find_contours(padded, 0.5)]
    h, w = region.shape
    cs = [np.clip(c, 0, [h - 1, w - 1]) for c in cs if len(c) > 1]
    return sorted(cs, key=lambda c: -_length(c))


def _length(c: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(c, axis=0), axis=1).sum())


def sample_along(contours: list[np.ndarray], n: int = N_POINTS) -> np.ndarray:
    """float (n, 2): n points at equal arc-length steps along the joined contours,
    half a step in from the start."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    path = np.concatenate(contours)
    s, offset = [], 0.0  # arc length at each vertex; the jump between contours counts 0
    for c in contours:
        d = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(c, axis=0), axis=1))]
        s.append(d + offset)
        offset += d[-1]
    s = np.concatenate(s)
    total = s[-1]
    if total <= 0:
        return np.repeat(path[:1], n, axis=0)
    targets = (np.arange(n) + 0.5) * total / n
    return np.stack([np.interp(targets, s, path[:, 0]), np.interp(targets, s, path[:, 1])], 1)


def patch_tops(centres: np.ndarray, size: tuple[int, int], patch: int = PATCH) -> np.ndarray:
    """int64 (n, 2) top-left corners of patch x patch windows centred on ``centres``,
    shifted inward where they would leave an image of ``size`` (H, W)."""
    h, w = size
    if h < patch or w < patch:
        raise ValueError(f"image is {h}x{w}, smaller than the {patch}x{patch} patch")
    tops = np.rint(np.asarray(centres, dtype=np.float64) - patch / 2).astype(np.int64)
    tops[:, 0] = np.clip(tops[:, 0], 0, h - patch)
    tops[:, 1] = np.clip(tops[:, 1], 0, w - patch)
    return tops


def contour_patches(authentic: Any, tampered: Any, mask: Any = None, *,
                    n_points: int = N_POINTS, patch: int = PATCH,
                    threshold: float = THRESHOLD, radius: int = RADIUS,
                    min_area: int = MIN_AREA) -> ContourPatches:
    """The tampered region of a pair, its contour and ``n_points`` patch positions on it.

    Raises:
        NoUsableDifference: no region survives cleaning (or it covers the whole image,
            so it has no outline inside it).
        ValueError: sizes differ, or the image is smaller than a patch.
    """
    region = tampered_region(authentic, tampered, mask, threshold=threshold, radius=radius,
                             min_area=min_area)
    h, w = region.shape
    area = float(region.mean())
    if not region.any():
        raise NoUsableDifference(f"no tampered region: no difference above {threshold:g} "
                                 f"survives cleaning (opening radius {radius}, min area "
                                 f"{min_area} px)")
    if region.all():
        raise NoUsableDifference("the difference covers the whole image: no contour (is "
                                 "this the right authentic image?)")
    contours = outline(region)
    centres = sample_along(contours, n_points)
    return ContourPatches(region, np.concatenate(contours), np.rint(centres).astype(np.int64),
                          patch_tops(centres, (h, w), patch), area)


def closest_candidate(tampered: Any, candidates: list[Any]) -> int:
    """Index of the candidate authentic image with the smallest mean absolute
    difference to ``tampered`` (the one it was made from)."""
    t = as_hwc(tampered, "tampered")
    errs = []
    for i, c in enumerate(candidates):
        a = as_hwc(c, f"candidates[{i}]")
        errs.append(np.abs(a - t).mean() if a.shape == t.shape else np.inf)
    return int(np.argmin(errs))


EDGE_STRIDE = 16  # pixels between the candidate windows of :func:`edge_tops`


def edge_tops(image: Any, n: int = N_POINTS, patch: int = PATCH,
              stride: int = EDGE_STRIDE) -> np.ndarray:
    """int64 (n, 2) top-left (row, col) of the n ``patch`` x ``patch`` windows with the
    strongest natural edges of an (authentic) image: the mean Sobel gradient magnitude of
    its gray image over each window on a ``stride`` grid, the strongest first, each at
    least half a patch (in rows or columns) from those taken before. Where fewer windows
    are that far apart, the list starts again from the strongest.

    Why: stage 1 ranks an authentic patch against the tampered patch at the same
    position, so it never sees an authentic edge ranked against a seam elsewhere; these
    windows give it such negatives (:class:`~hyperkit.data.forgery.pairs.SiamesePairs`'
    ``authentic_tops``)."""
    from scipy import ndimage
    from skimage.filters import sobel

    for name, v, low in (("n", n, 1), ("patch", patch, 1), ("stride", stride, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    gray = as_hwc(image, "image").mean(axis=2)
    h, w = gray.shape
    if h < patch or w < patch:
        raise ValueError(f"image is {h}x{w}, smaller than the {patch}x{patch} patch")
    # mean gradient over the window whose top-left is each pixel (uniform_filter is
    # centred: shift by half a patch), sampled where a whole window fits
    g = ndimage.uniform_filter(sobel(gray), patch, mode="nearest")
    ys = np.arange(0, h - patch + 1, stride)
    xs = np.arange(0, w - patch + 1, stride)
    if ys[-1] != h - patch:
        ys = np.r_[ys, h - patch]
    if xs[-1] != w - patch:
        xs = np.r_[xs, w - patch]
    c = patch // 2
    score = g[np.ix_(ys + c, xs + c)]
    order = np.argsort(-score, axis=None, kind="stable")
    cand = np.stack([ys[order // len(xs)], xs[order % len(xs)]], 1)
    taken: list[np.ndarray] = []
    for t in cand:
        if all(np.abs(t - u).max() >= c for u in taken):
            taken.append(t)
            if len(taken) == n:
                break
    out = np.asarray(taken, np.int64)
    return out[np.arange(n) % len(out)]
