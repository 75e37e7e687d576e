"""An offline spliced-image set in the CASIA v2 layout, from the photographs that ship
with scikit-image (``skimage.data``), so the forgery task runs without a download.

Authentic images are crops (random position and mirror) of those photographs, saved
as JPEG. A tampered image takes one authentic image as background and pastes a region
(an ellipse or a polygon) cut from another photograph into it, softens the seam as a
forger would (the region's alpha mask is Gaussian-feathered), and is saved as JPEG
again (so the background is compressed twice, as in CASIA). The authentic source and
the region mask are kept: ``ROOT/Au``, ``ROOT/Tp`` (``Tp_D_..._<source>_<donor>_<n>``)
and ``ROOT/masks`` (``<tampered stem>_gt.png``), read back by
:func:`hyperkit.data.forgery.casia2.scan` like the real data.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...files import write_atomic, write_text

# skimage.data photographs that load offline, with the 3-letter category used in names
PHOTOS = {"ast": "astronaut", "cof": "coffee", "che": "chelsea", "roc": "rocket",
          "imm": "immunohistochemistry", "hub": "hubble_deep_field", "ret": "retina",
          "cam": "camera", "coi": "coins", "moo": "moon", "bri": "brick", "gra": "grass",
          "grv": "gravel"}
SIZE = (256, 384)  # CASIA v2's most common size, and the end-to-end network's input
QUALITY = 90  # JPEG quality of every saved image
MANIFEST = "demo.json"


def _photos(size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Each photograph as uint8 RGB, scaled once so that its short side is ~1.4 times
    the crop's (crops then vary in content, not only in position)."""
    from skimage import data
    from skimage.transform import rescale

    out = {}
    for code, name in PHOTOS.items():
        im = getattr(data, name)()
        im = np.repeat(im[..., None], 3, axis=2) if im.ndim == 2 else im[..., :3]
        f = 1.4 * max(size[0] / im.shape[0], size[1] / im.shape[1])
        if f < 1:
            im = rescale(im, f, channel_axis=2, anti_aliasing=True, preserve_range=True)
        if im.shape[0] < size[0] or im.shape[1] < size[1]:
            continue  # too small for a crop (none of the listed ones are)
        out[code] = np.clip(np.rint(im), 0, 255).astype(np.uint8)
    return out


def _crop(photo: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    h, w = size
    y = rng.integers(0, photo.shape[0] - h + 1)
    x = rng.integers(0, photo.shape[1] - w + 1)
    c = photo[y:y + h, x:x + w]
    return c[:, ::-1] if rng.random() < 0.5 else c


def _region(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """bool (H, W): an ellipse or a random polygon, 8-30 % of the short side in radius,
    fully inside the image."""
    from skimage.draw import ellipse, polygon

    h, w = size
    m = np.zeros(size, bool)
    r = rng.uniform(0.08, 0.3) * min(h, w)
    cy = rng.uniform(r + 2, h - r - 2)
    cx = rng.uniform(r + 2, w - r - 2)
    if rng.random() < 0.5:
        rr, cc = ellipse(cy, cx, r, r * rng.uniform(0.5, 1.5), shape=size,
                         rotation=rng.uniform(0, np.pi))
    else:
        k = int(rng.integers(5, 9))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = r * rng.uniform(0.6, 1.0, k)
        rr, cc = polygon(cy + rad * np.sin(ang), cx + rad * np.cos(ang), shape=size)
    m[rr, cc] = True
    return m


def _save_jpeg(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    write_atomic(path, lambda f: Image.fromarray(image).save(f, format="JPEG",
                                                            quality=QUALITY))


def _load(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def generate(root: str | Path, n_authentic: int, n_tampered: int, *, seed: int = 0,
             size: tuple[int, int] = SIZE, feather: tuple[float, float] = (1.0, 3.0)) -> Path:
    """Writes the demo set to ``root`` (created; refused when it already holds files).

    Args:
        n_authentic: authentic images (Au/), at least 3.
        n_tampered: tampered images (Tp/), at most n_authentic: tampered image k uses
            authentic image k as background, so sources differ.
        seed: everything is drawn from it.
        size: (H, W) of every image.
        feather: range of the Gaussian sigma (pixels) that softens each seam.

    Returns:
        ``root``; ``root/demo.json`` records the arguments.
    """
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    if not (isinstance(n_authentic, int) and n_authentic >= 3):
        raise ValueError(f"n_authentic must be an integer >= 3, got {n_authentic!r}")
    if not (isinstance(n_tampered, int) and 1 <= n_tampered <= n_authentic):
        raise ValueError(f"n_tampered must be an integer in 1..n_authentic ({n_authentic}), "
                         f"got {n_tampered!r}")
    if len(size) != 2 or min(size) < 64:
        raise ValueError(f"size must be (H, W) of at least 64 x 64 (one patch), got {size!r}")
    size = (int(size[0]), int(size[1]))
    out = Path(root)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} already holds files; the demo set is written only into "
                              "a new or empty folder")
    rng = np.random.default_rng(seed)
    photos = _photos(size)
    codes = sorted(photos)
    au, tp, masks = out / "Au", out / "Tp", out / "masks"
    for d in (au, tp, masks):
        d.mkdir(parents=True, exist_ok=True)
    au_paths, cats = [], []
    for i in range(n_authentic):
        code = codes[i % len(codes)]
        p = au / f"Au_{code}_{i + 1:05d}.jpg"
        _save_jpeg(p, np.ascontiguousarray(_crop(photos[code], size, rng)))
        au_paths.append(p)
        cats.append(code)
    for k in range(n_tampered):
        background = _load(au_paths[k]).astype(np.float64)  # decoded JPEG: re-saved below
        donor_code = codes[(codes.index(cats[k]) + 1 + int(rng.integers(len(codes) - 1)))
                           % len(codes)]
        donor = _crop(photos[donor_code], size, rng).astype(np.float64)
        region = _region(size, rng)
        # The pasted region keeps its place in the donor crop's frame, moved by up to
        # a quarter of the image, so content and position both change.
        dy, dx = (int(v) for v in rng.integers(-size[0] // 4, size[0] // 4 + 1, 2))
        donor = np.roll(donor, (dy, dx), axis=(0, 1))
        alpha = gaussian_filter(region.astype(np.float64), rng.uniform(*feather))[..., None]
        forged = np.clip(np.rint(alpha * donor + (1 - alpha) * background), 0, 255)
        source_id = f"{cats[k]}{k + 1:05d}"
        donor_id = f"{donor_code}{int(rng.integers(1, 99999)):05d}"
        stem = f"Tp_D_NRN_S_N_{source_id}_{donor_id}_{k + 1:05d}"
        _save_jpeg(tp / f"{stem}.jpg", forged.astype(np.uint8))
        mask = (alpha[..., 0] > 0.5).astype(np.uint8) * 255
        write_atomic(masks / f"{stem}_gt.png", lambda f, m=mask: Image.fromarray(m).save(
            f, format="PNG"))
    write_text(out / MANIFEST, json.dumps(
        {"format": "hyperkit-forgery-demo", "n_authentic": n_authentic,
         "n_tampered": n_tampered, "seed": seed, "size": list(size), "quality": QUALITY,
         "feather": list(feather), "photos": PHOTOS}, indent=2))
    return out


def matches(root: str | Path, n_authentic: int, n_tampered: int, seed: int,
            size: tuple[int, int] = SIZE) -> bool:
    """Whether ``root`` holds a complete demo set made with these arguments (reused on
    resume instead of being written again)."""
    p = Path(root) / MANIFEST
    if not p.is_file():
        return False
    try:
        info = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return (info.get("n_authentic"), info.get("n_tampered"), info.get("seed"),
            info.get("size")) == (n_authentic, n_tampered, seed, list(size))
