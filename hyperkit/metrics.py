"""Correlation metrics of IQA: SROCC, PLCC and KROCC (numpy, no scipy needed).

PLCC is the plain Pearson coefficient of predictions and labels (no logistic
fitting first); SROCC is Pearson on average ranks; KROCC is Kendall's tau-b.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _pair(pred: Any, true: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(true, dtype=np.float64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"pred and true must have the same length, got {p.size} and {t.size}")
    if p.size < 2:
        raise ValueError(f"correlations need at least 2 values, got {p.size}")
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise ValueError("pred and true must be finite (NaN or Inf found)")
    return p, t


def _rank(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their positions), as scipy's rankdata."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.r_[True, xs[1:] != xs[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    counts = np.diff(np.r_[first, x.size])
    avg = first + (counts - 1) / 2.0
    ranks = np.empty(x.size)
    ranks[order] = avg[group]
    return ranks


def plcc(pred: Any, true: Any) -> float:
    """Pearson linear correlation; 0 when either input is constant."""
    p, t = _pair(pred, true)
    p, t = p - p.mean(), t - t.mean()
    den = np.sqrt((p * p).sum() * (t * t).sum())
    return float((p * t).sum() / den) if den > 0 else 0.0


def srocc(pred: Any, true: Any) -> float:
    """Spearman rank-order correlation (ties get average ranks)."""
    p, t = _pair(pred, true)
    return plcc(_rank(p), _rank(t))


def krocc(pred: Any, true: Any, chunk: int = 2048) -> float:
    """Kendall's tau-b, O(n^2) in row chunks of ``chunk`` so memory stays O(chunk * n)."""
    p, t = _pair(pred, true)
    n = p.size
    conc = ties_p = ties_t = 0.0
    for i0 in range(0, n, chunk):
        dp = np.sign(p[i0:i0 + chunk, None] - p[None, :])
        dt = np.sign(t[i0:i0 + chunk, None] - t[None, :])
        conc += float((dp * dt).sum())
        ties_p += float((dp == 0).sum())
        ties_t += float((dt == 0).sum())
    pairs = float(n) * n  # ordered pairs, the diagonal counted as ties in both
    den = np.sqrt((pairs - ties_p) * (pairs - ties_t))
    return float(conc / den) if den > 0 else 0.0


def correlations(pred: Any, true: Any) -> dict[str, float]:
    """{'srocc', 'plcc', 'krocc'} of predictions against labels."""
    return {"srocc": srocc(pred, true), "plcc": plcc(pred, true), "krocc": krocc(pred, true)}
