"""Correlation metrics of IQA: SROCC, PLCC and KROCC, computed by scipy.stats.

PLCC is the plain Pearson coefficient of predictions and labels (no logistic fit
first); SROCC is Spearman's rho (average ranks for ties); KROCC is Kendall's tau-b.
A constant input has no defined correlation; we report 0 (a model that predicts one
score for every image ranks nothing), where scipy would warn and return NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats


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


def _constant(p: np.ndarray, t: np.ndarray) -> bool:
    return bool(np.all(p == p[0]) or np.all(t == t[0]))


def plcc(pred: Any, true: Any) -> float:
    """Pearson linear correlation; 0 when either input is constant."""
    p, t = _pair(pred, true)
    return 0.0 if _constant(p, t) else float(stats.pearsonr(p, t).statistic)


def srocc(pred: Any, true: Any) -> float:
    """Spearman rank-order correlation (ties get average ranks); 0 for constant input."""
    p, t = _pair(pred, true)
    return 0.0 if _constant(p, t) else float(stats.spearmanr(p, t).statistic)


def krocc(pred: Any, true: Any) -> float:
    """Kendall's tau-b; 0 for constant input."""
    p, t = _pair(pred, true)
    return 0.0 if _constant(p, t) else float(stats.kendalltau(p, t).statistic)


def correlations(pred: Any, true: Any) -> dict[str, float]:
    """{'srocc', 'plcc', 'krocc'} of predictions against labels."""
    return {"srocc": srocc(pred, true), "plcc": plcc(pred, true), "krocc": krocc(pred, true)}
