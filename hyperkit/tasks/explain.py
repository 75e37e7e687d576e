"""Where is the artifact? Importance maps of image files, and their check against ground
truth on the synthetic task.

``hyperkit explain RUN IMAGE... [--out DIR] [--method M]`` writes, for each image,
``<name>.png`` (the image and its importance map in pixels over it, the most important
cell boxed), ``<name>.npy`` (the (U, V) map, float64, score units) and a row of
``scores.csv`` (path, score, method, the top cell and its pixel box). It works for any
run whose model is a :class:`~hyperkit.model.TwoStage` (synthetic, NR-IQA, forgery).

:func:`evaluate_synthetic` scores the maps of every method against the synthetic
generator's known patch positions on a run's test images (AUROC of |map| against "the
cell overlaps an overlaid patch", and the pointing game), and draws a figure.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data import synthetic
from ..data.splits import random_split
from ..evaluation.importance import (
    DEFAULT_METHOD,
    METHODS,
    Explanation,
    cells_to_pixels,
    evaluate_localization,
    explain,
    mask_to_cells,
)
from ..files import write_atomic, write_text
from ..grid import grid_positions
from ..images import as_image_tensor, read_image
from ..model import load_model
from ..runs import read_manifest
from .plotting import pyplot
from .synthetic import Setting, _dataset

LABELS = {"gradient": "Two-stage, gradient x input", "occlusion": "Two-stage, occlusion",
          "patch_average": "Patch-averaging (stage-1 scores)"}


def _display(image: Any) -> np.ndarray:
    """An image as float (H, W) or (H, W, 3) in [0, 1] for imshow."""
    t = as_image_tensor(image).cpu()
    arr = t.permute(1, 2, 0).numpy()
    if arr.shape[2] == 1:
        return arr[..., 0]
    return arr[..., :3]


def top_cell_box(cell_map: np.ndarray, size: Sequence[int], patch: Sequence[int]
                 ) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """The cell of largest |map| and its patch's pixel box (top, left, bottom, right),
    bottom and right exclusive."""
    u, v = np.unravel_index(int(np.abs(cell_map).argmax()), cell_map.shape)
    y = int(grid_positions(int(size[0]), int(patch[0]), cell_map.shape[0])[u])
    x = int(grid_positions(int(size[1]), int(patch[1]), cell_map.shape[1])[v])
    return (int(u), int(v)), (y, x, y + int(patch[0]), x + int(patch[1]))


def _overlay(ax: Any, image: Any, pixel_map: np.ndarray, scale: float) -> Any:
    """The image in gray with the signed map over it (red raises the score, blue lowers)."""
    shown = _display(image)
    gray = shown if shown.ndim == 2 else shown @ np.array([0.2126, 0.7152, 0.0722])
    ax.imshow(gray, cmap="gray", vmin=0, vmax=1)
    im = ax.imshow(pixel_map, cmap="RdBu_r", vmin=-scale, vmax=scale, alpha=0.6)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def _box(ax: Any, box: tuple[int, int, int, int], **kw: Any) -> None:
    from matplotlib.patches import Rectangle

    y0, x0, y1, x1 = box
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, **kw))


def save_heatmap(image: Any, cell_map: np.ndarray, patch: Sequence[int], path: str | Path,
                 *, score: float, method: str) -> Path:
    """A PNG: the image, and the map spread over its pixels on top of it.

    Args:
        image: the image as it was explained (any layout of :mod:`hyperkit.images`).
        cell_map: its (U, V) map, score units.
        patch: (ph, pw) pixels; path: the PNG to write (atomically).
        score, method: printed in the titles (the score's meaning is in scores.csv).
    """
    plt = pyplot()
    shown = _display(image)
    size = shown.shape[:2]
    pixels = cells_to_pixels(cell_map, size, patch)
    scale = float(np.nanmax(np.abs(pixels))) or 1.0
    (u, v), box = top_cell_box(cell_map, size, patch)
    aspect = size[1] / size[0]
    fig, axes = plt.subplots(1, 2, figsize=(2 * 3.4 * aspect + 1.2, 3.8))
    axes[0].imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=1)
    axes[0].set_title(f"score {score:.4f}", fontsize=9)
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    im = _overlay(axes[1], image, pixels, scale)
    _box(axes[1], box, edgecolor="black", lw=1.2)
    axes[1].set_title(f"{LABELS.get(method, method)}; top cell ({u}, {v})", fontsize=9)
    bar = fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.04)
    bar.set_label("score change from the cell (red raises, blue lowers)", fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return write_atomic(path, lambda f: f.write(buf.getvalue()))


def output_names(files: Sequence[Path]) -> list[str]:
    """Output stems, unique: the file's stem when no other input shares it; else the stem
    and its position (a/x.png, b/x.png -> x-0, x-1), with more suffixes while a name is
    still taken (a third input c/x-1.png becomes x-1-2). Also names ``hyperkit predict
    --map``'s tamper maps."""
    stems = [f.stem for f in files]
    count: dict[str, int] = {}
    for s in stems:
        count[s] = count.get(s, 0) + 1
    taken = {s for s in stems if count[s] == 1}  # unique stems keep their name
    out = []
    for i, s in enumerate(stems):
        name = s
        if count[s] > 1:
            name = f"{s}-{i}"
            while name in taken:
                name = f"{name}-{i}"
            taken.add(name)
        out.append(name)
    return out


def refuse_existing(planned: Sequence[Path], option: str) -> None:
    """FileExistsError naming the first of ``planned`` that exists (the rule of every
    map output: nothing is overwritten, and nothing is computed before that is sure)."""
    clash = [str(p) for p in planned if p.exists()]
    if clash:
        raise FileExistsError(f"{clash[0]} exists ({len(clash)} output file(s) would be "
                              f"overwritten); choose another {option} (nothing is overwritten)")


def explain_files(model: Any, files: Sequence[str | Path], out: str | Path,
                  method: str = DEFAULT_METHOD, *, neutral: Any = "median",
                  log: Callable[[str], None] = print
                  ) -> tuple[list[dict], list[tuple[str, str]]]:
    """Explains image files one by one and writes their PNG, .npy and scores.csv to out.

    Args:
        model: a loaded :class:`~hyperkit.model.TwoStage`.
        files: image file paths (read with :func:`hyperkit.images.read_image`).
        out: output folder; created if missing. Files that are there already are never
            overwritten: FileExistsError before any work.
        method: a key of :data:`~hyperkit.evaluation.importance.METHODS`.

    Returns:
        (rows, problems): one dict per explained file (path, score, method, top cell,
        top box, png, npy); (path, reason) for files that could not be explained.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    out = Path(out)
    files = [Path(f) for f in files]
    names = output_names(files)
    refuse_existing([out / "scores.csv"] + [out / f"{n}{ext}" for n in names
                                            for ext in (".png", ".npy")], "--out")
    out.mkdir(parents=True, exist_ok=True)
    meaning = model.meta.get("score_meaning", "")
    rows, problems = [], []
    for path, name in zip(files, names):
        try:
            image = read_image(path)
            ex: Explanation = explain(model, [image], method, neutral=neutral)
        except (FileNotFoundError, ValueError, TypeError) as e:
            problems.append((str(path), str(e)))
            continue
        cell_map, score = ex.maps[0], float(ex.scores[0])
        (u, v), box = top_cell_box(cell_map, ex.sizes[0], model.patch)
        write_atomic(out / f"{name}.npy", lambda f, m=cell_map: np.save(f, m))
        save_heatmap(image, cell_map, model.patch, out / f"{name}.png", score=score,
                     method=method)
        log(f"{path}\t{score:.4f}\ttop cell ({u}, {v}) at rows {box[0]}-{box[2] - 1}, "
            f"columns {box[1]}-{box[3] - 1}")
        rows.append({"path": str(path), "score": score, "method": method,
                     "top_cell": (u, v), "top_box": box, "png": f"{name}.png",
                     "npy": f"{name}.npy"})
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "score", "method", "top_u", "top_v", "top", "left", "bottom", "right",
                "png", "npy", "meaning"])
    for r in rows:
        w.writerow([r["path"], f"{r['score']:.6f}", r["method"], *r["top_cell"], *r["top_box"],
                    r["png"], r["npy"], meaning])
    write_text(out / "scores.csv", buf.getvalue())
    return rows, problems


# ---------------------------------------------------------------- synthetic ground truth

def synthetic_masks(data: synthetic.SyntheticSet, index: Sequence[int]) -> list[np.ndarray]:
    """Per image of ``index``, (K, 128, 128) bool: one mask per overlaid patch (K = its
    patch count), in the order of ``data.positions``."""
    masks = []
    for i in index:
        k = int(data.counts[i])
        m = np.zeros((k, *data.images.shape[1:]), bool)
        for j, (r, c) in enumerate(data.positions[i, :k]):
            m[j, r:r + synthetic.PATCH, c:c + synthetic.PATCH] = True
        masks.append(m)
    return masks


def _run_models(run_dir: Path) -> list[tuple[str, int, int | None]]:
    """(model folder, seed, count) of each model of a synthetic run folder."""
    manifest = read_manifest(run_dir)
    if manifest is None or manifest.get("task") != "synthetic":
        raise ValueError(f"{run_dir} is not a finished synthetic run (no run.json of task "
                         "'synthetic'; run `hyperkit synthetic` first)")
    found = []
    for rel in manifest["models"]:
        parts = Path(rel).parts  # seed<S>/model or count<C>/seed<S>/model
        seed = int(parts[-2].removeprefix("seed"))
        count = int(parts[0].removeprefix("count")) if len(parts) == 3 else None
        found.append((rel, seed, count))
    return found


def evaluate_synthetic(run_dir: str | Path, methods: Sequence[str] = tuple(METHODS), *,
                       neutral: Any = "median", figure: str | Path | None = None,
                       figure_images: int = 5, log: Callable[[str], None] = print) -> dict:
    """Importance maps of a synthetic run's models against the true patch positions.

    For each model listed in ``run_dir``'s run.json, the run's data set is generated
    again (same call, seed 2017) and split as the run split it (``random_split(len,
    seed)``); on the test images each method's maps are scored by
    :func:`~hyperkit.evaluation.importance.evaluate_localization`.

    Args:
        run_dir: a folder written by ``hyperkit synthetic``.
        methods: which variants to score.
        neutral: the neutral cell of the two-stage variants.
        figure: also draw the first ``figure_images`` test images of the first model with
            their true patches and each method's map to this PNG.

    Returns:
        {"runs": [{"model", "seed", "count", "test_images", method: scores...}], "neutral"}.
    """
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{run_dir} has no config.json: not a synthetic run folder")
    cfg = json.loads(cfg_path.read_text())
    setting = Setting(**cfg["setting"])
    results = []
    for rel, seed, count in _run_models(run_dir):
        data = _dataset(cfg["experiment"], setting, count)
        _, _, test = random_split(len(data), seed)
        model = load_model(run_dir / rel)
        ims, masks = list(data.images[test]), synthetic_masks(data, test)
        alphas = synthetic.patch_alphas(data)[test]
        weights = [a[:int(k)] for a, k in zip(alphas, data.counts[test])]
        scores = evaluate_localization(model, ims, masks, methods, weights=weights,
                                       neutral=neutral)
        results.append({"model": rel, "seed": seed, "count": count, "test_images": len(test),
                        **scores})
        for m in methods:
            s = scores[m]
            log(f"[{rel}] {m}: AUROC pooled {s['auroc_pooled']:.4f}, per image "
                f"{s['auroc_per_image']:.4f}, pointing game {s['pointing_game']:.4f}, "
                f"top patch hit {s['top_region_hit']:.4f}, patch pairs ordered "
                f"{s['pair_concordance']:.4f}")
        if figure is not None and len(results) == 1:
            k = min(figure_images, len(test))
            plot_synthetic(model, ims[:k], [m.any(0) for m in masks[:k]], methods, figure,
                           neutral=neutral)
    return {"runs": results, "neutral": neutral if isinstance(neutral, str) else "vector"}


def plot_synthetic(model: Any, images: Sequence[np.ndarray], masks: Sequence[np.ndarray],
                   methods: Sequence[str], path: str | Path, *, neutral: Any = "median") -> Path:
    """One row per image: the image with its true patches outlined, then each method's
    map in pixels with the top cell boxed (green: it overlaps a true patch; red: not)."""
    plt = pyplot()
    exps = {m: explain(model, list(images), m, neutral=neutral) for m in methods}
    fig, axes = plt.subplots(len(images), 1 + len(methods),
                             figsize=(2.3 * (1 + len(methods)), 2.35 * len(images)),
                             squeeze=False)
    for i, (im, mk) in enumerate(zip(images, masks)):
        ax = axes[i, 0]
        ax.imshow(im, cmap="gray", vmin=0, vmax=1)
        ax.contour(mk, levels=[0.5], colors="yellow", linewidths=0.8)
        ax.set_xticks([])
        ax.set_yticks([])
        if i == 0:
            ax.set_title("image, true patches", fontsize=8)
        cells = mask_to_cells(mk, model.patch, model.grid)
        for j, m in enumerate(methods, 1):
            ex = exps[m]
            px = ex.pixels(i)
            _overlay(axes[i, j], im, px, float(np.nanmax(np.abs(px))) or 1.0)
            (u, v), box = top_cell_box(ex.maps[i], ex.sizes[i], model.patch)
            _box(axes[i, j], box, edgecolor="lime" if cells[u, v] else "red", lw=1.4)
            axes[i, j].contour(mk, levels=[0.5], colors="yellow", linewidths=0.5)
            if i == 0:
                axes[i, j].set_title(LABELS.get(m, m), fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, lambda f: f.write(buf.getvalue()))
