"""PNG figures of the forgery task (matplotlib, Agg backend, no display): the ROC curves
of both approaches, and Fig. 2-like pictures of contours and their patches."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from ...data.forgery import contours
from ...data.forgery.casia2 import Casia2
from ...evaluation.classification import roc_auc, roc_curve
from ...images import read_image
from ..plotting import pyplot
from .settings import APPROACHES


def plot_roc(out: Path, runs: list[dict], path: Path) -> Path | None:
    """ROC curves (authentic = positive) of the first seed's test predictions, one per
    approach; None when the test set holds one class only."""
    first = min(runs, key=lambda r: r["seed"])
    p = dict(np.load(Path(out) / first["run"] / "predictions.npz"))
    y = p["true"]
    if y.min() == y.max():
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    for k, label in APPROACHES.items():
        if k not in p:  # predictions from before this approach existed
            continue
        fpr, tpr, _ = roc_curve(p[k], y)
        ax.plot(fpr, tpr, lw=1.5, label=f"{label} (AUC {roc_auc(p[k], y):.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_xlabel("false positive rate (tampered called authentic)")
    ax.set_ylabel("true positive rate (authentic called authentic)")
    ax.set_title(f"ROC, test set of {len(y)} images ({first['run']})", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_contour(authentic: np.ndarray, tampered: np.ndarray, found: contours.ContourPatches,
                 path: Path, title: str = "") -> Path:
    """Fig. 2: authentic, tampered, and the tampered region's contour with the sampled
    points and their patches."""
    from matplotlib.patches import Rectangle

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    axes[0].imshow(authentic, cmap="gray")
    axes[0].set_title("authentic", fontsize=9)
    axes[1].imshow(tampered, cmap="gray")
    axes[1].set_title("tampered", fontsize=9)
    axes[2].imshow(tampered, cmap="gray")
    axes[2].imshow(np.ma.masked_where(~found.mask, found.mask), cmap="autumn", alpha=0.35)
    axes[2].plot(found.contour[:, 1], found.contour[:, 0], "r.", ms=0.8)
    axes[2].plot(found.centres[:, 1], found.centres[:, 0], "yo", ms=3)
    for y, x in found.tops:
        axes[2].add_patch(Rectangle((x - 0.5, y - 0.5), contours.PATCH, contours.PATCH,
                                    fill=False, ec="cyan", lw=0.7))
    axes[2].set_title(f"contour, {len(found.tops)} points and their "
                      f"{contours.PATCH}x{contours.PATCH} patches", fontsize=9)
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_contour_examples(data: Casia2, positions: Path, folder: Path, count: int = 3
                          ) -> list[Path]:
    """Fig. 2-like pictures of the first ``count`` pairs with a usable contour (from the
    positions file of the run), written to folder/<tampered stem>.png. Pairs whose image
    files are gone (a run folder moved away from its data) are skipped with a warning:
    the figure is an illustration, and ``hyperkit report`` must still merge the run."""
    if not positions.is_file():
        return []
    known = json.loads(positions.read_text())
    masks = {str(p.tampered): p.mask for p in data.pairs}
    folder.mkdir(parents=True, exist_ok=True)
    written, missing = [], []
    for tampered, info in known.items():
        if len(written) >= count:
            break
        if "skip" in info:
            continue
        gone = [f for f in (info["authentic"], tampered) if not Path(f).is_file()]
        if gone:
            missing.append(gone[0])
            continue
        a, t = read_image(info["authentic"]), read_image(tampered)
        m = masks.get(tampered)
        found = contours.contour_patches(a, t, read_image(m) if m is not None else None)
        written.append(plot_contour(a, t, found, folder / f"{Path(tampered).stem}.png",
                                    title=Path(tampered).name))
    if missing:
        warnings.warn(f"contour figures: {len(missing)} pair(s) skipped because their images "
                      f"are gone (first: {missing[0]}); {len(written)} drawn in {folder}",
                      stacklevel=2)
    return written
