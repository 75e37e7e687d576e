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


def logistic5(x: np.ndarray, b1: float, b2: float, b3: float, b4: float, b5: float
              ) -> np.ndarray:
    """The VQEG 5-parameter logistic: b1 (1/2 - 1/(1 + exp(b2 (x - b3)))) + b4 x + b5."""
    z = np.clip(b2 * (x - b3), -500, 500)  # exp overflow guard; the curve is flat there
    return b1 * (0.5 - 1.0 / (1.0 + np.exp(z))) + b4 * x + b5


def plcc_logistic(pred: Any, true: Any) -> float:
    """PLCC after mapping predictions to labels by the 5-parameter logistic (VQEG /
    Sheikh et al. 2006), fitted with scipy.optimize.curve_fit. Falls back to the plain
    PLCC when the fit does not converge; NaN for fewer than 6 images (5 parameters
    cannot be fitted to fewer points)."""
    from scipy.optimize import curve_fit

    p, t = _pair(pred, true)
    if _constant(p, t):
        return 0.0
    if p.size < 6:
        return float("nan")
    b0 = [float(t.max() - t.min()), 1.0 / (float(p.std()) + 1e-12), float(np.mean(p)), 0.0,
          float(np.mean(t))]
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params, _ = curve_fit(logistic5, p, t, p0=b0, maxfev=20000)
        mapped = logistic5(p, *params)
        if not np.all(np.isfinite(mapped)) or np.all(mapped == mapped[0]):
            return plcc(p, t)
        return float(stats.pearsonr(mapped, t).statistic)
    except (RuntimeError, ValueError, OverflowError, TypeError):
        return plcc(p, t)


def collapsed(pred: Any, true: Any, rel: float = 1e-3) -> bool:
    """True when predictions are (nearly) one constant: their spread is below ``rel``
    times the labels' spread. A stage 2 whose ReLUs all died predicts this way; its
    correlations mean nothing and must not be reported as a result."""
    p, t = _pair(pred, true)
    return bool(p.std() <= rel * max(float(t.std()), 1e-12))


def iqa_metrics(pred: Any, true: Any, types: Any = None) -> dict:
    """Everything an NR-IQA table reports for one test set.

    Returns:
        {'srocc', 'plcc', 'plcc_logistic', 'krocc', 'collapsed', 'per_type'}:
        per_type maps each distortion type (when ``types`` is given) to its SROCC (None
        when the type has fewer than 3 test images).
    """
    p, t = _pair(pred, true)
    pl = plcc_logistic(p, t)
    out: dict = {**correlations(p, t), "plcc_logistic": None if np.isnan(pl) else pl,
                 "collapsed": collapsed(p, t)}
    if types is not None:
        types = np.asarray(types).ravel()
        if types.shape != p.shape:
            raise ValueError(f"types must have one entry per prediction ({p.size}), got "
                             f"{types.size}")
        out["per_type"] = {str(k): (srocc(p[types == k], t[types == k])
                                    if (types == k).sum() >= 3 else None)
                           for k in sorted(set(types.tolist()))}
    return out


def summarize(values: Any) -> dict:
    """{'mean', 'std', 'median', 'n'} of a list of numbers (None and NaN skipped)."""
    v = np.array([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"mean": None, "std": None, "median": None, "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std()), "median": float(np.median(v)),
            "n": int(v.size)}
