"""Pooling a grid of stage-1 patch scores into one image score: the baselines a
two-stage model is compared with (and that ``TwoStage.predict`` offers as methods).

All take patch scores (N, U, V) and return (N,) float64. ``higher_better`` says which
end of the scale is "damaged": min and low percentiles then look at the worst patches
(the lowest scores when higher is better, the highest otherwise).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

POOLINGS = ("mean", "min", "percentile", "softmin")
SOFTMIN_TEMPERATURES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # x the spread of the patch scores


def _cells(scores: Any) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 3 or s.shape[0] == 0 or s.shape[1] * s.shape[2] == 0:
        raise ValueError(f"scores must be (N, U, V) patch scores with N, U, V >= 1, got "
                         f"{s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or Inf")
    return s.reshape(len(s), -1)


def pool_scores(scores: Any, method: str = "mean", *, higher_better: bool = True,
                percentile: float = 10.0, temperature: float = 1.0) -> np.ndarray:
    """(N,) image scores from (N, U, V) patch scores.

    Args:
        method: 'mean' (Kang et al.), 'min' (the worst patch), 'percentile' (the
            ``percentile``-th worst, in percent of the cells), 'softmin' (a soft
            minimum: cells weighted by softmax(-s / temperature) when higher is better,
            softmax(s / temperature) otherwise; s and the temperature in score units).
        temperature: softmin's temperature, in score units (> 0); small -> min, large
            -> mean. :func:`pick_temperature` chooses it on validation images.
    """
    s = _cells(scores)
    sign = 1.0 if higher_better else -1.0
    if method == "mean":
        return s.mean(1)
    if method == "min":
        return sign * (sign * s).min(1)
    if method == "percentile":
        if not 0 <= percentile <= 100:
            raise ValueError(f"percentile must be in [0, 100], got {percentile!r}")
        return sign * np.percentile(sign * s, percentile, axis=1)
    if method == "softmin":
        if not (isinstance(temperature, numbers.Real) and temperature > 0):
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        z = -sign * s / temperature
        w = np.exp(z - z.max(1, keepdims=True))
        return (w * s).sum(1) / w.sum(1)
    raise ValueError(f"method must be one of {', '.join(POOLINGS)}, got {method!r}")


def pick_temperature(scores: Any, labels: Any, *, higher_better: bool = True,
                     candidates: tuple[float, ...] = SOFTMIN_TEMPERATURES) -> float:
    """The softmin temperature (score units) with the best validation SROCC among
    ``candidates`` x the standard deviation of all validation patch scores (which
    includes the differences between images: when they dwarf the spread inside each
    image, large candidates all act as the mean)."""
    from scipy.stats import spearmanr

    s = _cells(scores)
    if not candidates:
        raise ValueError("candidates must hold at least one temperature factor")
    spread = float(s.std()) or 1.0
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if len(y) != len(s):
        raise ValueError(f"{len(s)} score grids for {len(y)} labels")
    best, best_t = -np.inf, spread
    for c in candidates:
        t = c * spread
        r = spearmanr(pool_scores(scores, "softmin", higher_better=higher_better,
                                  temperature=t), y)[0]
        r = -np.inf if np.isnan(r) else r
        if r > best:
            best, best_t = r, t
    return float(best_t)
