"""PNG figures of an NR-IQA run (matplotlib, Agg backend, no display)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import pyplot


def plot_predictions(out: Path, runs: list[dict], path: Path) -> None:
    """Predicted against true score on the first split's test images, one panel per
    method (the first group of experiment 3)."""
    plt = pyplot()
    first = runs[0]
    sub = "" if first["group"] == "all" else first["group"].replace("+", "_plus_") + "/"
    p = dict(np.load(Path(out) / f"{sub}split{first['split']}" / "predictions.npz"))
    arms = list(first["metrics"])
    fig, axes = plt.subplots(1, len(arms), figsize=(4.6 * len(arms), 4.4), squeeze=False)
    lo, hi = float(p["true"].min()), float(p["true"].max())
    for ax, a in zip(axes[0], arms):
        m = first["metrics"][a]
        ax.scatter(p["true"], p[a], s=8, alpha=0.6)
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_title(f"{a}\nSROCC {m['srocc']:.3f}, PLCC {m['plcc']:.3f}"
                     f"{' (collapsed)' if m['collapsed'] else ''}", fontsize=9)
        ax.set_xlabel("true score")
    axes[0][0].set_ylabel("predicted score")
    fig.suptitle(f"Test images of split {first['split']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_per_type(results: dict, path: Path) -> None:
    """Mean SROCC per distortion type and method (bars; std over splits as error bars).
    Writes nothing when the data set has no distortion types."""
    group = next(iter(results["summary"].values()))
    types = sorted({t for v in group.values() for t in v["per_type"]})
    if not types:
        return
    plt = pyplot()
    arms = list(group)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(types) * len(arms)), 4.4))
    width = 0.8 / len(arms)
    for j, a in enumerate(arms):
        pt = group[a]["per_type"]
        mean = [pt[t]["mean"] if t in pt and pt[t]["n"] else np.nan for t in types]
        std = [pt[t]["std"] if t in pt and pt[t]["n"] else 0 for t in types]
        ax.bar(np.arange(len(types)) + j * width, mean, width, yerr=std, label=a, capsize=2)
    ax.set_xticks(np.arange(len(types)) + 0.4 - width / 2)
    ax.set_xticklabels(types, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("test SROCC")
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
