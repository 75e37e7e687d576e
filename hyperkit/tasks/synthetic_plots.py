"""PNG figures of the synthetic experiments (matplotlib, Agg backend, no display)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.synthetic import SyntheticSet
from ..model import METHODS
from .plotting import pyplot


def plot_predictions(out: Path, runs: list[dict], experiment: int, path: Path) -> None:
    """Predicted against true score on the test images of each data set's first seed,
    one panel per method (experiment 2: one colour per patch count)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharex=True, sharey=True)
    first_seed = min(r["seed"] for r in runs)
    preds = {r["run"]: (r, dict(np.load(Path(out) / r["run"] / "predictions.npz")))
             for r in runs if r["seed"] == first_seed}
    lo = min(float(p["true"].min()) for _, p in preds.values())
    for ax, method in zip(axes, METHODS):
        for r, p in preds.values():
            label = None if experiment == 1 else f"{r['count']} patch(es)"
            ax.scatter(p["true"], p[method], s=6, alpha=0.6, label=label)
        ax.plot([lo, 5], [lo, 5], "k--", lw=0.8)
        ax.set_title(METHODS[method])
        ax.set_xlabel("true score (eq. 3)")
        if experiment == 2:
            ax.legend(fontsize=7, markerscale=2)
    axes[0].set_ylabel("predicted score")
    fig.suptitle(f"Synthetic experiment {experiment}: test images")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_examples(sets: dict, path: Path, per_set: int = 6) -> None:
    """A few generated images of each data set with their scores."""
    plt = pyplot()
    items = list(sets.items())
    fig, axes = plt.subplots(len(items), per_set, figsize=(1.9 * per_set, 2.1 * len(items)),
                             squeeze=False)
    for row, (_count, data) in zip(axes, items):
        data: SyntheticSet
        for j, ax in enumerate(row):
            ax.imshow(data.images[j], cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{data.counts[j]} p, score {data.scores[j]:.2f}", fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
