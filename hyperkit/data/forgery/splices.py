"""Synthetic tampered images for stage 1, made on the fly from a run's own training
authentic images (issue 20: the quick demo gives stage 1 about 66 real pairs).

Each splice takes one training authentic image as background and pastes a region into
it: from another training authentic image (a splice, CASIA's ``Tp_D``) or from the same
image moved (a copy-move, ``Tp_S``). The region is an ellipse, a random polygon or an
irregular blob (thresholded smooth noise), 10-28 % of the short side in radius; its edge
is hard or Gaussian-feathered; half of the images (``jpeg``) are JPEG-compressed once
more, so a compression cue is neither always present nor always absent. The region, known exactly,
gives the contour patches (:func:`hyperkit.data.forgery.contours.contour_patches`).

Only training images are read, so nothing of the validation or test images reaches
stage 1. The splices are written as PNG (lossless) to a folder of the run (never to the
data set) with a manifest, and reused when the run resumes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ...files import write_atomic, write_text
from ...images import read_image
from . import contours

MANIFEST = "splices.json"
RADIUS = (0.1, 0.28)  # of the short side
FEATHER = 3.0  # largest Gaussian sigma of a feathered edge, pixels
COPY_MOVE = 0.3  # share of copy-moves
MIN_CHANGE = 0.03  # mean |pasted - background| inside the region, [0, 1] scale
TRIES = 8  # regions drawn before a background counts as too flat to splice
JPEG_SHARE = 0.5  # of splices compressed once more, so compression alone tells nothing


def _rgb8(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) from a read image (gray repeated, alpha dropped)."""
    a = np.asarray(image)
    if np.issubdtype(a.dtype, np.floating):  # [0, 1]
        a = np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:  # 16-bit and the like: their full range
        a = np.rint(a.astype(np.float64) * (255.0 / np.iinfo(a.dtype).max)).astype(np.uint8)
    if a.ndim == 2:
        a = a[..., None]
    return np.repeat(a[..., :1], 3, axis=2) if a.shape[2] < 3 else a[..., :3]


def region(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """bool (H, W): an ellipse, a random polygon or a smooth blob, inside the image."""
    from scipy.ndimage import gaussian_filter
    from skimage.draw import ellipse, polygon
    from skimage.measure import label

    h, w = size
    r = rng.uniform(*RADIUS) * min(h, w)
    cy, cx = rng.uniform(r + 1, h - r - 1), rng.uniform(r + 1, w - r - 1)
    m = np.zeros(size, bool)
    kind = rng.integers(3)
    if kind == 0:
        rr, cc = ellipse(cy, cx, r, r * rng.uniform(0.4, 1.6), shape=size,
                         rotation=rng.uniform(0, np.pi))
        m[rr, cc] = True
    elif kind == 1:
        k = int(rng.integers(4, 11))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = r * rng.uniform(0.35, 1.0, k)  # non-convex more often than not
        rr, cc = polygon(cy + rad * np.sin(ang), cx + rad * np.cos(ang), shape=size)
        m[rr, cc] = True
    else:  # a blob: smooth noise above a level, inside a disk of radius r, largest part
        yy, xx = np.mgrid[:h, :w]
        noise = gaussian_filter(rng.standard_normal(size), sigma=max(2.0, r / 2))
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        m = disk & (noise > np.quantile(noise[disk], rng.uniform(0.1, 0.4)))
        parts = label(m)
        if parts.max() > 0:
            m = parts == 1 + np.argmax(np.bincount(parts.ravel())[1:])
    return m


def _source(background: np.ndarray, donor: np.ndarray | None,
            rng: np.random.Generator) -> np.ndarray:
    """uint8 (H, W, 3) whose pixels are pasted: the donor fitted to the background's
    size and mirrored at random, or (copy-move, ``donor`` None) the background moved by
    at least a quarter of its short side."""
    h, w = background.shape[:2]
    if donor is None:
        d = int(min(h, w) * rng.uniform(0.25, 0.5))
        dy, dx = (rng.choice([-1, 1], 2) * [d, int(rng.integers(0, d + 1))])[rng.permutation(2)]
        return np.roll(background, (int(dy), int(dx)), axis=(0, 1))
    if donor.shape[:2] != (h, w):
        from skimage.transform import resize

        donor = np.clip(np.rint(resize(donor, (h, w), anti_aliasing=True,
                                       preserve_range=True)), 0, 255).astype(np.uint8)
    return donor[:, ::-1] if rng.random() < 0.5 else donor


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` after one JPEG round trip at ``quality`` (in memory)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"))


def splice(background: np.ndarray, donor: np.ndarray | None, rng: np.random.Generator,
           jpeg: float = JPEG_SHARE) -> tuple[np.ndarray, np.ndarray, dict]:
    """One synthetic tampered image.

    Args:
        background: uint8 (H, W, 3) authentic image.
        donor: uint8 (h, w, 3) image whose pixels are pasted (resized to H x W), or None
            for a copy-move within ``background``.
        rng: every choice is drawn from it.
        jpeg: probability that the result is JPEG-compressed once more (quality 70-95).

    Returns:
        (tampered uint8 (H, W, 3), region bool (H, W) before feathering, how: dict of
        the choices made).

    Raises:
        ValueError: no region changes the background by ``MIN_CHANGE`` on average in
            ``TRIES`` draws (a flat image).
    """
    from scipy.ndimage import gaussian_filter

    bg = _rgb8(background)
    src = _source(bg, None if donor is None else _rgb8(donor), rng)
    for _ in range(TRIES):
        m = region(bg.shape[:2], rng)
        diff = np.abs(src.astype(np.float32) - bg)[m].mean() / 255 if m.any() else 0.0
        if diff >= MIN_CHANGE:
            break
    else:
        raise ValueError(f"no pasted region changes this image by {MIN_CHANGE:g} on "
                         f"average in {TRIES} draws (a flat image)")
    sigma = float(rng.uniform(0.5, FEATHER)) if rng.random() < 0.5 else 0.0
    alpha = gaussian_filter(m.astype(np.float32), sigma) if sigma else m.astype(np.float32)
    out = np.clip(np.rint(alpha[..., None] * src + (1 - alpha[..., None]) * bg), 0, 255
                  ).astype(np.uint8)
    quality = int(rng.integers(70, 96)) if rng.random() < jpeg else 0
    if quality:
        out = _jpeg(out, quality)
    return out, m, {"feather": sigma, "jpeg_quality": quality or None,
                    "kind": "copy-move" if donor is None else "splice"}


def _save_png(path: Path, image: np.ndarray) -> None:
    """Writes uint8 ``image`` as PNG, atomically (lossless: the splice as made)."""
    from PIL import Image

    write_atomic(path, lambda f: Image.fromarray(image).save(f, format="PNG"))


def make_splices(authentic: Sequence[str | Path], folder: str | Path, per_image: int, *,
                 seed: int, points: int = contours.N_POINTS, patch: int = contours.PATCH,
                 jpeg: float = JPEG_SHARE, progress: bool = False
                 ) -> tuple[list[tuple[str, str]], list[list]]:
    """``per_image`` synthetic tampered images per authentic image, written to ``folder``
    (PNG; ``folder/splices.json`` records how each was made) and their contour patches.

    Args:
        authentic: training authentic image files (backgrounds and donors); at least 2.
        folder: where the splices go (created); a manifest of the same arguments whose
            files are all there is reused instead of drawing again.
        per_image: splices per authentic image, >= 1.
        seed: every draw is made from it.
        points, patch: contour patches per splice and their side (pixels).
        jpeg: share of splices JPEG-compressed once more, in [0, 1].

    Returns:
        (pairs [(authentic path, splice path)], tops [(points, 2) top-left (row, col)
        lists]), ready for :class:`~hyperkit.data.forgery.pairs.SiamesePairs`. Images
        too flat to splice are left out.
    """
    if isinstance(per_image, bool) or not isinstance(per_image, int) or per_image < 1:
        raise ValueError(f"per_image must be a whole number >= 1, got {per_image!r}")
    if isinstance(jpeg, bool) or not isinstance(jpeg, (int, float)) or not 0 <= jpeg <= 1:
        raise ValueError(f"jpeg must be a share in [0, 1], got {jpeg!r}")
    files = [str(p) for p in authentic]
    if len(files) < 2:
        raise ValueError(f"splices need at least 2 training authentic images (backgrounds "
                         f"and donors), got {len(files)}; use --splices 0 for this data")
    folder = Path(folder)
    args = {"authentic": files, "per_image": per_image, "seed": int(seed),
            "points": int(points), "patch": int(patch), "jpeg": float(jpeg)}
    manifest = folder / MANIFEST
    if manifest.is_file():  # reused when made with these arguments and still complete
        known = json.loads(manifest.read_text())
        rows = known.get("rows", [])
        if known.get("args") == args and all((folder / r["file"]).is_file() for r in rows):
            return _listed(folder, rows)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([int(seed), 20])
    rows = []
    jobs = [(i, k) for k in range(per_image) for i in range(len(files))]
    for i, k in tqdm(jobs, desc="splices", leave=False, disable=None if progress else True):
        bg = read_image(files[i])
        j = int(rng.integers(len(files) - 1))
        j += j >= i  # any other image
        donor = None if rng.random() < COPY_MOVE else read_image(files[j])
        try:
            t, m, how = splice(bg, donor, rng, jpeg)
            found = contours.contour_patches(bg, t, m, n_points=points, patch=patch)
        except ValueError:
            continue  # flat background, or no region survives cleaning
        out = folder / f"splice_{k}_{i:05d}.png"
        _save_png(out, t)
        rows.append({"authentic": files[i], "file": out.name, "tops": found.tops.tolist(),
                     "donor": None if donor is None else files[j], **how})
    write_text(manifest, json.dumps({"args": args, "rows": rows}))
    return _listed(folder, rows)


def _listed(folder: Path, rows: list[dict]) -> tuple[list[tuple[str, str]], list[list]]:
    """(pairs, tops) of manifest rows; splice files are named relative to ``folder`` (a
    moved run folder still finds them)."""
    return [(r["authentic"], str(folder / r["file"])) for r in rows], [r["tops"] for r in rows]
