"""Builds a second spliced set for issue 20, with a pasting style unlike the demo's
(not committed data).

Photographs: the 18 of scikit-image and the 27 Debian wallpapers that
bench/make_photo_set.py uses (its PACKAGES; mate-backgrounds and opencv-doc are never
read: they are kept for independent evaluation).

How it differs from the demo set (:mod:`hyperkit.data.forgery.demo`):

* **Pasting.** Copy-move within the same image (CASIA's ``Tp_S``) as well as splices
  from another photograph (``Tp_D``); the region is an irregular blob (thresholded
  smooth noise) or a non-convex random polygon, warped with a random scale (0.75-1.3),
  rotation (+-35 degrees) and mirror; its edge is hard or feathered (a Gaussian-blurred
  alpha, sigma 0.7-3.5 px); a splice is colour-matched to the region's surroundings
  half of the time. The demo pastes a feathered ellipse or polygon from another
  photograph, only shifted.
* **No compression cue.** The demo re-saves a decoded JPEG background (the tampered
  image is compressed twice, its source once). Here the tampered image is pasted into
  the same uncompressed pixels its authentic source is saved from, and every image,
  authentic or tampered, is saved once with a format drawn from one mix (JPEG quality
  70-95, TIFF, BMP), so format and compression say nothing about the label.
* **Sizes.** 256 x 384, and 384 x 256 for a fifth of the photographs' views; each view
  is a random crop at a random zoom (1-1.8x the smallest that covers the frame).

Layout read by :func:`hyperkit.data.forgery.casia2.scan`: ``OUT/Au/Au_<cat>_<n>.<ext>``,
``OUT/Tp/Tp_<S|D>_NRN_S_N_<source>_<donor>_<k>.<ext>`` (tampered image k pasted into
authentic image k), ``OUT/masks/<tampered stem>_gt.png`` (the pasted region before
feathering, as CASIA's community masks mark the pasted object; only the tamper maps read
them) and ``OUT/spliced.json`` (arguments and one row per tampered image).

    python bench/make_spliced_set.py --out ~/data/hyperkit-spliced --debs /tmp/hk/debs2
    hyperkit forgery --dataset casia2 --root ~/data/hyperkit-spliced --quick --seeds 3
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

SIZES = ((256, 384), (384, 256))  # (rows, columns): landscape, portrait
PORTRAIT = 0.2  # share of portrait views
ZOOM = (1.0, 1.8)  # crop zoom over the smallest scale that covers the frame
JPEG_QUALITY = (70, 95)  # inclusive
FORMATS = (("jpg", 0.6), ("tif", 0.3), ("bmp", 0.1))  # one mix for Au and Tp alike
AREA = (0.02, 0.12)  # pasted region, share of the image
SCALE, ROTATION = (0.75, 1.3), 35.0  # warp of the pasted region; degrees
HARD_EDGES = 0.4  # share of pastes with a hard edge
FEATHER = (0.7, 3.5)  # Gaussian sigma of a feathered alpha, pixels
COLOUR_MATCH = 0.5  # share of splices colour-matched to their surroundings
MIN_CHANGED = 0.3  # a paste must change this share of its region by > 0.1 (contours)
BASE_SIDE = 768  # photographs are held with a short side of at most this many pixels
MANIFEST = "spliced.json"


def skimage_photos() -> dict[str, np.ndarray]:
    """name -> uint8 (H, W, 3): scikit-image's photographs as make_photo_set uses them
    (gray ones replicated to RGB), at their own size."""
    from skimage import data

    from hyperkit.data.iqa.demo_distortions import PHOTOS

    out = {}
    for name, (func, index) in PHOTOS.items():
        img = getattr(data, func)()
        img = img[index] if index is not None else img  # stereo_motorcycle: a tuple
        out[f"ski_{name}"] = _rgb(np.asarray(img))
    return out


def wallpaper_photos(debs: Path) -> dict[str, np.ndarray]:
    """name -> uint8 (H, W, 3), short side <= BASE_SIDE: make_photo_set's Debian
    photographs, from packages unpacked under ``debs`` (fetched there if missing)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from make_photo_set import FORBIDDEN, debian_photos

    out = {}
    for name, path in sorted(debian_photos(debs).items()):
        if any(f in str(path) for f in FORBIDDEN):
            raise ValueError(f"{path} belongs to a package kept for independent evaluation")
        with Image.open(path) as im:
            im.draft("RGB", (BASE_SIDE * 2, BASE_SIDE * 2))  # JPEG: decode at reduced scale
            im = im.convert("RGB")
            f = BASE_SIDE / min(im.size)
            if f < 1:
                im = im.resize((round(im.width * f), round(im.height * f)), Image.LANCZOS)
            out[name] = np.asarray(im)
    return out


def _rgb(img: np.ndarray) -> np.ndarray:
    img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
    return np.ascontiguousarray(img, dtype=np.uint8)


def _is_gray(photo: np.ndarray) -> bool:
    return bool(np.ptp(photo.astype(np.int16), axis=2).max() <= 2)


def random_view(photo: np.ndarray, size: tuple[int, int], rng: np.random.Generator
                ) -> np.ndarray:
    """float64 (h, w, 3) in [0, 255]: a random crop of ``photo`` at a random zoom,
    resampled to ``size`` (never saved before the paste: one compression in all)."""
    from skimage.transform import resize

    h, w = size
    H, W = photo.shape[:2]
    f = rng.uniform(*ZOOM) * max(h / H, w / W)  # output pixels per photo pixel
    ch, cw = min(H, int(np.ceil(h / f))), min(W, int(np.ceil(w / f)))
    y, x = int(rng.integers(0, H - ch + 1)), int(rng.integers(0, W - cw + 1))
    crop = photo[y:y + ch, x:x + cw]
    crop = crop[:, ::-1] if rng.random() < 0.5 else crop
    return resize(crop.astype(np.float64), (h, w), order=1, anti_aliasing=f < 1)


def region_mask(size: tuple[int, int], rng: np.random.Generator
                ) -> tuple[np.ndarray, tuple[float, float], float]:
    """(bool (H, W) region, its centre (row, col), its radius in pixels): an irregular
    blob or a non-convex random polygon of AREA of the image, fully inside it."""
    from skimage.draw import polygon

    h, w = size
    r = float(np.sqrt(rng.uniform(*AREA) * h * w / np.pi))
    cy, cx = rng.uniform(r + 4, h - r - 4), rng.uniform(r + 4, w - r - 4)
    yy, xx = np.mgrid[:h, :w]
    if rng.random() < 0.5:  # blob: a radial falloff plus smooth noise, thresholded
        noise = ndimage.gaussian_filter(rng.standard_normal(size), r / 4)
        noise /= noise.std() or 1.0
        field = 1.2 * (1 - ((yy - cy) ** 2 + (xx - cx) ** 2) / r ** 2) + 0.6 * noise
        m = field > 0
    else:  # polygon: 7-14 vertices at 35-100 % of the radius (often non-convex)
        k = int(rng.integers(7, 15))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = r * rng.uniform(0.35, 1.0, k)
        m = np.zeros(size, bool)
        m[polygon(cy + rad * np.sin(ang), cx + rad * np.cos(ang), shape=size)] = True
    m &= ((yy - cy) ** 2 + (xx - cx) ** 2) <= (1.25 * r) ** 2  # stays near the centre
    lab, n = ndimage.label(m)
    if n > 1:  # one region: the largest piece
        m = lab == 1 + int(np.argmax(ndimage.sum(m, lab, range(1, n + 1))))
    return ndimage.binary_fill_holes(m), (float(cy), float(cx)), r


def warp_into(source: np.ndarray, size: tuple[int, int], dst: tuple[float, float],
              src: tuple[float, float], scale: float, angle: float, mirror: bool
              ) -> np.ndarray:
    """float64 (H, W, 3): ``source`` moved so that its point ``src`` lands on ``dst``,
    scaled by ``scale``, rotated by ``angle`` degrees and mirrored (bilinear)."""
    from skimage.transform import AffineTransform, warp

    t = np.deg2rad(angle)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) / scale
    if mirror:
        rot = rot @ np.diag([-1.0, 1.0])
    d, s = np.array(dst[::-1]), np.array(src[::-1])  # (x, y) as skimage's transforms take
    m = np.eye(3)
    m[:2, :2], m[:2, 2] = rot, s - rot @ d  # output (x, y) -> source (x, y)
    return warp(source, AffineTransform(matrix=m), output_shape=(*size, 3), order=1,
                mode="reflect", preserve_range=True)


def colour_match(pasted: np.ndarray, background: np.ndarray, mask: np.ndarray,
                 radius: float) -> np.ndarray:
    """``pasted`` with each channel's mean and spread over ``mask`` moved to those of the
    background in a ring around the region (as a forger evens out a splice)."""
    ring = ndimage.binary_dilation(mask, iterations=max(2, int(radius / 3))) & ~mask
    out = pasted.copy()
    for c in range(3):
        a, b = pasted[..., c][mask], background[..., c][ring]
        k = float(np.clip(b.std() / max(a.std(), 1e-6), 0.5, 2.0))
        out[..., c] = (pasted[..., c] - a.mean()) * k + b.mean()
    return np.clip(out, 0, 255)


def paste(background: np.ndarray, donor: np.ndarray | None, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(forged float64 (H, W, 3), the pasted region bool (H, W), what was drawn): a
    region of ``donor`` (a splice) or of ``background`` itself (copy-move, donor None)
    pasted into ``background``. Redrawn until the paste changes MIN_CHANGED of its
    region by more than 0.1 (else there is nothing to find, in CASIA's sense either)."""
    size = background.shape[:2]
    for _ in range(40):
        mask, dst, r = region_mask(size, rng)
        scale = float(rng.uniform(*SCALE))
        angle = float(rng.uniform(-ROTATION, ROTATION))
        mirror = bool(rng.random() < 0.3)
        reach = r * 1.3 / scale + 4  # the region's extent in the source
        lo, hi = np.full(2, reach), np.array(size, float) - reach
        src = tuple(rng.uniform(lo, np.maximum(hi, lo + 1)))
        if donor is None and np.hypot(src[0] - dst[0], src[1] - dst[1]) < 1.5 * r:
            continue  # copy-move: the copy must come from elsewhere in the image
        warped = warp_into(background if donor is None else donor, size, dst, src, scale,
                           angle, mirror)
        matched = donor is not None and rng.random() < COLOUR_MATCH
        if matched:
            warped = colour_match(warped, background, mask, r)
        hard = bool(rng.random() < HARD_EDGES)
        feather = 0.0 if hard else float(rng.uniform(*FEATHER))
        alpha = mask.astype(np.float64)
        if feather:
            alpha = ndimage.gaussian_filter(alpha, feather)
        forged = alpha[..., None] * warped + (1 - alpha[..., None]) * background
        changed = np.abs(np.rint(forged) - np.rint(background)).max(axis=2) > 25.5
        if changed[mask].mean() >= MIN_CHANGED:
            return forged, mask, {"scale": round(scale, 3), "rotation": round(angle, 1),
                                   "mirror": mirror, "feather": round(feather, 2),
                                   "colour_matched": bool(matched),
                                   "area": round(float(mask.mean()), 4)}
    raise RuntimeError("no paste changed its region after 40 draws (a flat background)")


def draw_format(rng: np.random.Generator) -> tuple[str, int | None]:
    """(suffix, JPEG quality or None), from the one mix of FORMATS."""
    names, weights = zip(*FORMATS)
    ext = str(rng.choice(names, p=np.array(weights) / sum(weights)))
    return ext, (int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)) if ext == "jpg"
                 else None)


def save(path: Path, image: np.ndarray, quality: int | None) -> None:
    """Saves a float [0, 255] image once (rounded to uint8): JPEG at ``quality``,
    else lossless by the suffix (TIFF uncompressed, BMP)."""
    im = Image.fromarray(np.clip(np.rint(image), 0, 255).astype(np.uint8))
    if quality is not None:
        im.save(path, format="JPEG", quality=quality)
    else:
        im.save(path, format={".tif": "TIFF", ".bmp": "BMP"}[path.suffix])


def _tamper(background: np.ndarray, name: str, photos: dict[str, np.ndarray],
            gray: dict[str, bool], copy_move: bool, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray, dict[str, Any], str | None]:
    """(forged, region, what was drawn, donor photograph or None for copy-move) of one
    tampered image. A copy-move of a view too flat to change (a plain sky) becomes a
    splice; a splice's donor is a view of another photograph of the same colour kind
    (gray into gray, colour into colour: no trivially gray/colour region)."""
    if copy_move:
        try:
            return (*paste(background, None, rng), None)
        except RuntimeError:
            pass
    same = [n for n in sorted(photos) if n != name and gray[n] == gray[name]]
    donor_name = str(rng.choice(same or [n for n in sorted(photos) if n != name]))
    donor = random_view(photos[donor_name], background.shape[:2], rng)
    return (*paste(background, donor, rng), donor_name)


def _category(name: str) -> str:
    return name.split("_", 1)[0]  # ski, plasma, lomiri: letters only, as CASIA's


def build(out: str | Path, photos: dict[str, np.ndarray], n_authentic: int,
          n_tampered: int, *, seed: int = 0, copy_move: float = 0.5,
          sizes: Sequence[tuple[int, int]] = SIZES) -> dict[str, Any]:
    """Writes the set into ``out`` (created; refused when it holds anything).

    Args:
        photos: name -> uint8 (H, W, 3); names start with a letters-only category.
        n_authentic: authentic images (Au/), cycling through the photographs.
        n_tampered: tampered images (Tp/), 1..n_authentic; image k is pasted into
            authentic image k.
        seed: everything is drawn from it (same arguments, same files).
        copy_move: share of copy-move forgeries; the rest are splices.
        sizes: (landscape, portrait) frame; portrait for PORTRAIT of the views.

    Returns:
        the manifest written to ``out/spliced.json``.
    """
    if not (isinstance(n_authentic, int) and n_authentic >= 3):
        raise ValueError(f"n_authentic must be an integer >= 3, got {n_authentic!r}")
    if not (isinstance(n_tampered, int) and 1 <= n_tampered <= n_authentic):
        raise ValueError(f"n_tampered must be an integer in 1..n_authentic ({n_authentic}), "
                         f"got {n_tampered!r}")
    if not 0.0 <= copy_move <= 1.0:
        raise ValueError(f"copy_move must be a share in [0, 1], got {copy_move!r}")
    if len(photos) < 2:
        raise ValueError(f"photos must hold at least 2 photographs (splices need a donor), "
                         f"got {len(photos)}")
    root = Path(out)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(f"--out {root} is not an empty folder; the set is written only "
                              "into a new or empty one")
    rng = np.random.default_rng(seed)
    names = sorted(photos)
    gray = {n: _is_gray(photos[n]) for n in names}
    order = [names[i] for i in rng.permutation(len(names))]
    au, tp, mk = root / "Au", root / "Tp", root / "masks"
    for d in (au, tp, mk):
        d.mkdir(parents=True, exist_ok=True)
    views, rows = [], []
    for i in range(n_authentic):
        name = order[i % len(order)]
        size = tuple(sizes[1] if rng.random() < PORTRAIT else sizes[0])
        view = random_view(photos[name], size, rng)
        ext, q = draw_format(rng)
        path = au / f"Au_{_category(name)}_{i + 1:05d}.{ext}"
        save(path, view, q)
        views.append((name, view))
    for k in range(n_tampered):
        name, background = views[k]
        forged, region, drawn, donor_name = _tamper(background, name, photos, gray,
                                                   rng.random() < copy_move, rng)
        source_id = f"{_category(name)}{k + 1:05d}"
        kind = "S" if donor_name is None else "D"
        target_id = (source_id if donor_name is None
                     else f"{_category(donor_name)}{90000 + k:05d}")  # not an Au image
        ext, q = draw_format(rng)
        stem = f"Tp_{kind}_NRN_S_N_{source_id}_{target_id}_{k + 1:05d}"
        save(tp / f"{stem}.{ext}", forged, q)
        Image.fromarray(region.astype(np.uint8) * 255).save(mk / f"{stem}_gt.png")
        rows.append({"tampered": f"{stem}.{ext}", "kind": kind, "photo": name,
                     "donor": donor_name, "quality": q, **drawn})
    manifest = {"format": "hyperkit-spliced-set", "seed": seed, "n_authentic": n_authentic,
                "n_tampered": n_tampered, "copy_move": copy_move,
                "sizes": [list(s) for s in sizes], "formats": dict(FORMATS),
                "jpeg_quality": list(JPEG_QUALITY), "photos": names, "tampered": rows}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="an absent or empty folder")
    ap.add_argument("--debs", default=str(Path.home() / ".cache/hyperkit/debs"),
                    help="where make_photo_set.py's Debian packages are (or go) unpacked")
    ap.add_argument("--authentic", type=int, default=150)
    ap.add_argument("--tampered", type=int, default=100)
    ap.add_argument("--copy-move", type=float, default=0.5, help="share of copy-move images")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    out = Path(a.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        ap.error(f"--out {out} is not an empty folder")
    photos = skimage_photos()
    photos.update(wallpaper_photos(Path(a.debs)))
    m = build(out, photos, a.authentic, a.tampered, seed=a.seed, copy_move=a.copy_move)
    kinds = [r["kind"] for r in m["tampered"]]
    print(f"{len(photos)} photographs; wrote {a.authentic} authentic and {a.tampered} "
          f"tampered ({kinds.count('S')} copy-move, {kinds.count('D')} spliced) to {out}")


if __name__ == "__main__":
    main()
