"""Where an image was tampered: per-pixel maps from the two-stage model, scored against
the ground-truth masks (issue 20; the paper reports image labels only).

A forgery model scores P(authentic). Its importance map (:func:`hyperkit.attribution.explain`,
gradient x input on stage 2) says how much each grid cell moves that score; a cell that
*lowers* it is evidence of tampering, so the tamper map is minus the importance, spread
over the pixels (:func:`hyperkit.attribution.cells_to_pixels`) and scaled to [0, 1] per
image.

Scored per tampered test image with a mask, then averaged over images:

* pixel ROC AUC (the map ranks tampered pixels above authentic ones; 0.5 = chance);
* F1 of the map thresholded at 0.5, and the best F1 over thresholds (an upper bound
  that peers often report as "F1-best");
* the same for two baselines: a blank map that calls every pixel tampered, and a
  uniform random map (seeded).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...attribution import cells_to_pixels, explain
from ...evaluation.classification import roc_auc
from ...files import write_atomic
from ...images import read_image

METHOD = "gradient"
ARMS = ("two_stage", "blank", "random")
_THRESHOLDS = np.linspace(0.0, 1.0, 51)


def tamper_map(cell_map: np.ndarray, size: Sequence[int], patch: Sequence[int]) -> np.ndarray:
    """(H, W) float64 in [0, 1]: minus a P(authentic) importance map, over the pixels,
    min-max scaled (a constant map is all 0.5). Uncovered pixels (grid gaps) get 0."""
    evidence = -np.asarray(cell_map, np.float64)
    m = np.nan_to_num(cells_to_pixels(evidence, size, patch), nan=float(np.nanmin(evidence)))
    lo, hi = float(m.min()), float(m.max())
    return np.full(m.shape, 0.5) if hi <= lo else (m - lo) / (hi - lo)


def image_tamper_map(model: Any, image: Any) -> tuple[np.ndarray, float]:
    """(the (H, W) float64 tamper map in [0, 1] of one image, its P(authentic)): the
    gradient importance of a forgery model (:data:`METHOD`) through :func:`tamper_map`."""
    ex = explain(model, [image], METHOD)
    return tamper_map(ex.maps[0], ex.sizes[0], model.patch), float(ex.scores[0])


def map_files(files: Sequence[str | Path], out: str | Path) -> list[Path]:
    """``out/<name>.png`` for each input file, names unique as ``hyperkit explain``'s
    (:func:`~hyperkit.tasks.explain.output_names`). FileExistsError when ``out`` is a
    file or any of them exists: nothing is overwritten."""
    from ..explain import output_names, refuse_existing

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--map {out} is a file; expected a folder for the tamper maps")
    planned = [out / f"{n}.png" for n in output_names([Path(f) for f in files])]
    refuse_existing(planned, "--map")
    return planned


def save_tamper_map(model: Any, image: Any, path: str | Path,
                    size: Sequence[int] | None = None) -> Path:
    """Writes the tamper map of ``image`` as an 8-bit gray PNG (0 = no evidence, 255 =
    the strongest evidence of tampering in this image: maps are scaled per image).

    Args:
        model: a forgery :class:`~hyperkit.model.TwoStage` (scores P(authentic)).
        image: the image as scored (any layout of :mod:`hyperkit.images`).
        path: the PNG to write (atomically).
        size: (H, W) of the file when the image was shrunk to score it (the map is
            then resized back, bilinear), else None (the map has the image's size).
    """
    from PIL import Image
    from skimage.transform import resize

    pixel_map, _ = image_tamper_map(model, image)
    if size is not None and tuple(size) != pixel_map.shape:
        pixel_map = np.clip(resize(pixel_map, tuple(size), order=1), 0.0, 1.0)
    png = Image.fromarray(np.rint(pixel_map * 255).astype(np.uint8))  # (H, W) uint8: "L"
    return write_atomic(path, lambda f: png.save(f, format="PNG"))


def _f1(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = float(np.sum(pred & truth))
    denom = float(pred.sum() + truth.sum())
    return 0.0 if denom == 0 else 2.0 * tp / denom


def pixel_scores(pixel_map: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Pixel AUC, F1 at 0.5 and best F1 over thresholds of a [0, 1] map against a bool
    mask of the same shape."""
    if pixel_map.shape != mask.shape:
        raise ValueError(f"map {pixel_map.shape} and mask {mask.shape} differ in shape")
    truth = mask.astype(bool).reshape(-1)
    p = pixel_map.reshape(-1)
    best = max(_f1(p >= t, truth) for t in _THRESHOLDS)
    return {"pixel_auc": roc_auc(p, truth), "f1_at_0.5": _f1(p >= 0.5, truth),
            "f1_best": best}


def _mask(path: Path, size: tuple[int, int]) -> np.ndarray | None:
    m = read_image(path)
    m = m[..., 0] if m.ndim == 3 else m
    if m.shape != size:
        return None
    return m > (m.max() / 2 if m.max() > 0 else 0)


def evaluation_masks(data: Any) -> dict[Path, Path]:
    """Tampered image -> mask file for scoring the maps: the pair's ``--masks`` file, else
    ``<root>/masks/<stem>_gt.png`` (or ``_mask``, or the bare stem) when the data set
    keeps its masks there, as the demo does (its contours still come from subtraction,
    as in the paper: these masks only score the maps)."""
    from ...data.forgery.casia2 import MASK_SUFFIXES

    kept = Path(data.root) / "masks"
    out = {}
    for pr in data.pairs:
        if pr.mask is not None:
            out[pr.tampered] = pr.mask
            continue
        for sfx in MASK_SUFFIXES:
            m = kept / f"{pr.tampered.stem}{sfx}.png"
            if m.is_file():
                out[pr.tampered] = m
                break
    return out


def localization(model: Any, items: Sequence[tuple[Path, Path]], *, seed: int = 0,
                 maps_dir: Path | None = None, keep: int = 6) -> dict[str, Any]:
    """Pixel-level scores of the tamper maps (and the two baselines) of tampered images.

    Args:
        model: a trained forgery :class:`~hyperkit.model.TwoStage` (score P(authentic)).
        items: (tampered image file, mask file) pairs; masks of another size are left
            out (and counted).
        seed: the random baseline's seed.
        maps_dir: when given, PNGs of the first ``keep`` images' maps are written there.

    Returns:
        {'n': images scored, 'mask_size_mismatch': count, 'method': METHOD,
         arm: {metric: mean over images} for arm in ARMS}.
    """
    from ..explain import save_heatmap

    rng = np.random.default_rng(seed)
    per: dict[str, list[dict[str, float]]] = {a: [] for a in ARMS}
    mismatch = 0
    for img_path, mask_path in items:
        image = read_image(img_path)
        size = image.shape[:2]
        mask = _mask(mask_path, size)
        if mask is None or not mask.any() or mask.all():
            mismatch += mask is None
            continue
        ex = explain(model, [image], METHOD)
        per["two_stage"].append(pixel_scores(tamper_map(ex.maps[0], size, model.patch), mask))
        per["blank"].append(pixel_scores(np.ones(size), mask))
        per["random"].append(pixel_scores(rng.random(size), mask))
        if maps_dir is not None and len(per["two_stage"]) <= keep:
            maps_dir.mkdir(parents=True, exist_ok=True)
            save_heatmap(image, ex.maps[0], model.patch, maps_dir / f"{img_path.stem}.png",
                         score=float(ex.scores[0]), method=METHOD)
    out: dict[str, Any] = {"n": len(per["two_stage"]), "mask_size_mismatch": mismatch,
                           "method": METHOD}
    for arm, rows in per.items():
        out[arm] = ({m: float(np.mean([r[m] for r in rows])) for m in rows[0]}
                    if rows else {})
    return out
