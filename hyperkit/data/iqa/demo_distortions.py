"""The NR-IQA demo's images: the photographs, the distortions (uniform or inside
soft-edged local regions) and :func:`demo_score`, the full-reference score that labels
them. :mod:`hyperkit.data.iqa.demo` writes the set from these; see its docstring for
why the set exists and what each distortion and extent means.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import color, draw, filters, metrics, transform

from ... import checks

KINDS = ("gaussian_noise", "gaussian_blur", "jpeg", "pixelate")
EXTENTS = ("uniform", "local")
DEFAULT_SIZE = (192, 256)
MIN_SIDE = 32
MIN_PHOTOS = 12

# Photographs bundled with scikit-image (no pooch download). Synthetic or binary images
# (colorwheel, logo, checkerboard, binary_blobs, horse) and duplicates (cat == chelsea)
# are left out. name -> (skimage.data function, index into a tuple result or None).
PHOTOS: dict[str, tuple[str, int | None]] = {
    "astronaut": ("astronaut", None),
    "coffee": ("coffee", None),
    "chelsea": ("chelsea", None),
    "rocket": ("rocket", None),
    "immunohistochemistry": ("immunohistochemistry", None),
    "hubble_deep_field": ("hubble_deep_field", None),
    "retina": ("retina", None),
    "motorcycle": ("stereo_motorcycle", 0),
    "camera": ("camera", None),
    "coins": ("coins", None),
    "moon": ("moon", None),
    "page": ("page", None),
    "text": ("text", None),
    "brick": ("brick", None),
    "grass": ("grass", None),
    "gravel": ("gravel", None),
    "clock": ("clock", None),
    "cell": ("cell", None),
}

# Strength of each kind at the mildest and the strongest level, per extent; levels in
# between are spaced geometrically. Blur sigma and block sizes are in pixels, whatever
# the image size (a larger ``size`` looks milder). JPEG's strength is its
# quality (lower is stronger). Local ranges are 2-3x stronger: a region of 5-25 % needs
# a much stronger distortion to cost about as much as a whole-image one, so the score
# ranges overlap (chosen by measuring the default set's scores per type and level).
STRENGTHS: dict[str, dict[str, tuple[float, float]]] = {
    "gaussian_noise": {"uniform": (0.02, 0.07), "local": (0.05, 0.25)},  # sigma, [0, 1] scale
    "gaussian_blur": {"uniform": (0.7, 2.0), "local": (1.5, 6.0)},      # sigma, pixels
    "jpeg": {"uniform": (40.0, 8.0), "local": (15.0, 2.0)},             # Pillow quality
    "pixelate": {"uniform": (2.5, 6.0), "local": (5.0, 20.0)},          # block side, pixels
}

# demo_score's pooling constants (see its docstring).
FIXATION_SIGMA = 0.25   # x the image height (rows) and width (columns)
FIXATION_FLOOR = 0.2    # corners keep this much weight
WORST_FRACTION = 0.10   # the worst 10 % of the SSIM map ...
WORST_WEIGHT = 4.0      # ... count 4 times


# --------------------------------------------------------------------------- score

def _check_image(x: Any, name: str) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    checks.check_float(x, name)
    if not (x.ndim == 2 or (x.ndim == 3 and x.shape[2] == 3)):
        raise ValueError(f"{name} must be (H, W, 3) RGB or (H, W) gray, got shape {x.shape}")
    if min(x.shape[:2]) < 16:
        raise ValueError(f"{name} must be at least 16 x 16 pixels for the SSIM window, "
                         f"got {x.shape[:2]}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} has NaN or infinite values")
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"{name} must be in [0, 1], got values in "
                         f"[{float(x.min()):.4g}, {float(x.max()):.4g}] (divide uint8 by 255)")
    return x


def _luminance(x: np.ndarray) -> np.ndarray:
    return color.rgb2gray(x) if x.ndim == 3 else x.astype(np.float64)


def fixation_weights(height: int, width: int) -> np.ndarray:
    """(height, width) central-fixation weight: a 2-D Gaussian centred on the image with
    sigma = 0.25 x height along rows and 0.25 x width along columns, peak 1, floored at
    0.2 so the corners still count."""
    r = (np.arange(height) + 0.5 - height / 2) / (FIXATION_SIGMA * height)
    c = (np.arange(width) + 0.5 - width / 2) / (FIXATION_SIGMA * width)
    g = np.exp(-0.5 * (r[:, None] ** 2 + c[None, :] ** 2))
    return np.maximum(g, FIXATION_FLOOR)


def demo_score(reference: np.ndarray, distorted: np.ndarray) -> float:
    """Full-reference quality of ``distorted`` against ``reference``: 0-100, higher is
    better, 100 for an identical image. The demo set's labels.

    Both are float arrays in [0, 1], (H, W, 3) RGB (or (H, W) gray), same shape.

    1. SSIM map (Wang et al. 2004, "Image quality assessment: from error visibility to
       structural similarity", IEEE TIP 13(4)) of the luminance (``skimage.color.rgb2gray``)
       by ``skimage.metrics.structural_similarity(full=True, gaussian_weights=True,
       sigma=1.5, use_sample_covariance=False, data_range=1)``; the 5-pixel border,
       where the 11 x 11 window leaves the image, is dropped as scikit-image does for
       its mean.
    2. Pooled with the product of two weights, so that the label depends on where and
       how concentrated the damage is, as human scores do:

       * central fixation: viewers look at the image centre first and most (Tatler
         2007, "The central fixation bias in scene viewing", J. Vision 7(14):4). A 2-D
         Gaussian centred on the image, sigma = 0.25 x height and 0.25 x width, floored
         at 0.2 (:func:`fixation_weights`);
       * percentile pooling: the worst regions dominate the judgement (Moorthy & Bovik
         2009, "Visual importance pooling for image quality assessment", IEEE J. Sel.
         Topics Signal Process. 3(2)): the worst 10 % of SSIM-map values weigh 4x.

    score = 100 x sum(w * ssim) / sum(w), clipped to [0, 100] (SSIM can go below 0).
    """
    reference = _check_image(reference, "reference")
    distorted = _check_image(distorted, "distorted")
    if reference.shape != distorted.shape:
        raise ValueError(f"reference and distorted must have the same shape, got "
                         f"{reference.shape} and {distorted.shape}")
    _, smap = metrics.structural_similarity(
        _luminance(reference), _luminance(distorted), data_range=1.0, full=True,
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    pad = 5  # (win_size - 1) // 2 for scikit-image's Gaussian window (win_size 11)
    h, w = smap.shape
    weights = fixation_weights(h, w)[pad:h - pad, pad:w - pad].ravel()
    values = smap[pad:h - pad, pad:w - pad].ravel()
    worst = max(1, int(round(WORST_FRACTION * values.size)))
    idx = np.argpartition(values, worst - 1)[:worst]
    weights = weights.copy()
    weights[idx] *= WORST_WEIGHT
    score = 100.0 * float(np.dot(weights, values) / weights.sum())
    return float(min(100.0, max(0.0, score)))


# --------------------------------------------------------------------------- photos

def load_photos(size: tuple[int, int] = DEFAULT_SIZE, *,
                log: Callable[[str], Any] | None = None) -> dict[str, np.ndarray]:
    """The bundled photographs as uint8 (H, W, 3) arrays of ``size`` (rows, columns):
    the largest centred crop of the target aspect ratio, resized with anti-aliasing;
    gray photographs are replicated to RGB. A photograph this scikit-image cannot load
    without the network is skipped (and logged); fewer than 12 is an error."""
    from skimage import data

    h, w = checks.pair(size, "size", minimum=MIN_SIDE)
    out: dict[str, np.ndarray] = {}
    for name, (func, index) in PHOTOS.items():
        try:
            img = getattr(data, func)()
        except Exception as e:  # noqa: BLE001  (a missing file or pooch raises many types)
            if log is not None:
                log(f"iqa demo: skipping photo {name!r}: {type(e).__name__}: {e}")
            continue
        if index is not None:
            img = img[index]
        out[name] = crop_resize(np.asarray(img), h, w)
    if len(out) < MIN_PHOTOS:
        raise RuntimeError(f"only {len(out)} of scikit-image's bundled photographs could be "
                           f"loaded offline ({sorted(out)}); the demo needs {MIN_PHOTOS}")
    return out


def crop_resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3]
    ih, iw = img.shape[:2]
    # Largest centred crop with the target's aspect ratio.
    if ih * w > iw * h:
        ch, cw = max(1, round(iw * h / w)), iw
    else:
        ch, cw = ih, max(1, round(ih * w / h))
    top, left = (ih - ch) // 2, (iw - cw) // 2
    crop = img[top:top + ch, left:left + cw]
    out = transform.resize(crop, (h, w, 3), order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- distortions

def strength(kind: str, extent: str, level: int, levels: int,
             strengths: Mapping[str, Mapping[str, Sequence[float]]] | None = None) -> float:
    """The parameter of ``kind`` at ``level`` (1..levels) for ``extent``: geometric steps
    from the mildest to the strongest value of ``strengths`` (default :data:`STRENGTHS`;
    the geometric mean if levels=1)."""
    lo, hi = (strengths or STRENGTHS)[kind][extent]
    t = 0.5 if levels == 1 else (level - 1) / (levels - 1)
    return float(lo * (hi / lo) ** t)


def check_strengths(strengths: Any, kinds: Sequence[str]) -> dict:
    """``strengths`` (kind -> extent -> (mildest, strongest)) for ``kinds``, checked and
    as plain lists; kinds it leaves out keep :data:`STRENGTHS`' ranges."""
    if not isinstance(strengths, Mapping):
        raise TypeError(f"strengths must be a dict kind -> extent -> (mildest, strongest), got "
                        f"{type(strengths).__name__}")
    out = {}
    for kind in kinds:
        given = strengths.get(kind, STRENGTHS[kind])
        row = {}
        for extent in ("uniform", "local"):
            pair = given.get(extent, STRENGTHS[kind][extent]) if isinstance(given, Mapping) \
                else None
            if pair is None or len(pair) != 2 or not all(
                    isinstance(v, (int, float)) and np.isfinite(v) and v > 0 for v in pair):
                raise ValueError(f"strengths[{kind!r}][{extent!r}] must be (mildest, "
                                 f"strongest), two positive numbers, got {pair!r}")
            row[extent] = [float(pair[0]), float(pair[1])]
        out[kind] = row
    unknown = set(strengths) - set(KINDS)
    if unknown:
        raise ValueError(f"strengths names unknown kinds {sorted(unknown)}; kinds are {KINDS}")
    return out


def distort(image: np.ndarray, kind: str, value: float, rng: np.random.Generator) -> np.ndarray:
    """``image`` (H, W, 3) uint8 distorted by ``kind`` with parameter ``value`` (see
    :data:`STRENGTHS`) over the whole image, as float64 in [0, 1]."""
    x = image.astype(np.float64) / 255.0
    if kind == "gaussian_noise":
        return np.clip(x + rng.normal(0.0, value, x.shape), 0.0, 1.0)
    if kind == "gaussian_blur":
        return filters.gaussian(x, sigma=value, channel_axis=-1, mode="reflect",
                                preserve_range=True)
    if kind == "jpeg":
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="JPEG", quality=int(round(value)))
        buf.seek(0)
        with Image.open(buf) as im:
            return np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0
    if kind == "pixelate":
        # Box-average down by ``value`` (any real > 1, so levels never collapse to one
        # integer block size), then nearest-neighbour back up: blocks of ~value pixels.
        h, w = image.shape[:2]
        small = (max(1, round(w / value)), max(1, round(h / value)))
        im = Image.fromarray(image).resize(small, Image.BOX)
        im = im.resize((w, h), Image.NEAREST)
        return np.asarray(im, dtype=np.float64) / 255.0
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def local_mask(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """(height, width) float blend mask in [0, 1]: 1-3 random ellipses whose union covers
    5-25 % of the image before feathering, softened by a Gaussian of sigma 2 % of the
    shorter side so the seams are soft."""
    area = height * width
    for _ in range(1000):  # rejection sampling; a few tries suffice in practice
        n = int(rng.integers(1, 4))
        target = rng.uniform(0.05, 0.25) * area
        hard = np.zeros((height, width), bool)
        for share in rng.dirichlet(np.ones(n)) * target:
            aspect = rng.uniform(0.6, 1.6)
            ry = max(2.0, np.sqrt(share / np.pi * aspect))
            rx = max(2.0, np.sqrt(share / np.pi / aspect))
            cy = rng.uniform(0.1, 0.9) * height
            cx = rng.uniform(0.1, 0.9) * width
            rr, cc = draw.ellipse(cy, cx, ry, rx, shape=(height, width),
                                  rotation=rng.uniform(0, np.pi))
            hard[rr, cc] = True
        if 0.05 <= hard.mean() <= 0.25:
            break
    else:  # pragma: no cover  (would need a pathological size)
        raise RuntimeError(f"could not place a local region in a {height} x {width} image")
    feather = 0.02 * min(height, width)
    return np.clip(ndimage.gaussian_filter(hard.astype(np.float64), feather), 0.0, 1.0)
