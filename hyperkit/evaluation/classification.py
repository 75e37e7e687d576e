"""Binary classification metrics: accuracy, balanced accuracy, ROC AUC, ROC curve and
the confusion matrix (the forgery task, Table 3).

scikit-learn is not a dependency. ROC AUC is the Mann-Whitney U statistic of the
positive scores against the negative ones divided by n_pos * n_neg
(``scipy.stats.mannwhitneyu``, which gives ties half credit, as sklearn's
``roc_auc_score`` does). Labels are 0 and 1; for the forgery task 1 = authentic, as
in the paper, and a score is the probability of label 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats


def _labels(labels: Any, name: str = "labels") -> np.ndarray:
    y = np.asarray(labels, dtype=np.float64).ravel()
    if y.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"{name} must hold only 0 and 1, got values "
                         f"{np.unique(y)[:5].tolist()}")
    return y.astype(np.int64)


def _scores(scores: Any, n: int, name: str = "scores") -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64).ravel()
    if s.size != n:
        raise ValueError(f"{name} has {s.size} values for {n} labels")
    if not np.isfinite(s).all():
        raise ValueError(f"{name} contain NaN or Inf")
    return s


def confusion_matrix(predicted: Any, labels: Any) -> np.ndarray:
    """int64 (2, 2): row = true class, column = predicted class (0, 1), as sklearn."""
    y = _labels(labels)
    p = _labels(predicted, "predicted")
    if p.size != y.size:
        raise ValueError(f"predicted has {p.size} values for {y.size} labels")
    m = np.zeros((2, 2), np.int64)
    np.add.at(m, (y, p), 1)
    return m


def accuracy(predicted: Any, labels: Any) -> float:
    """Fraction of correct 0/1 predictions (the paper's metric)."""
    m = confusion_matrix(predicted, labels)
    return float(np.trace(m) / m.sum())


def balanced_accuracy(predicted: Any, labels: Any) -> float:
    """Mean of the per-class recalls over the classes present in ``labels``."""
    m = confusion_matrix(predicted, labels)
    rows = m.sum(axis=1)
    present = rows > 0
    return float(np.mean(np.diag(m)[present] / rows[present]))


def roc_auc(scores: Any, labels: Any) -> float:
    """Area under the ROC curve of ``scores`` (higher = more likely label 1).

    U / (n1 n0) from ``scipy.stats.mannwhitneyu``; ties count one half. NaN when
    ``labels`` hold one class only (the area is undefined).
    """
    y = _labels(labels)
    s = _scores(scores, y.size)
    pos, neg = s[y == 1], s[y == 0]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    u = stats.mannwhitneyu(pos, neg, alternative="two-sided").statistic
    return float(u / (pos.size * neg.size))


def roc_curve(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positive rates, true positive rates, thresholds), from (0, 0) to (1, 1).

    A sample counts as predicted 1 when its score >= the threshold; thresholds are the
    distinct scores, decreasing, after a first +inf. ValueError with one class only.
    """
    y = _labels(labels)
    s = _scores(scores, y.size)
    n1, n0 = int(y.sum()), int((1 - y).sum())
    if n1 == 0 or n0 == 0:
        raise ValueError("roc_curve needs both classes in labels")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    return (np.r_[0.0, fp / n0], np.r_[0.0, tp / n1], np.r_[np.inf, s[last]])


def pick_threshold(scores: Any, labels: Any) -> float:
    """The probability threshold that maximizes balanced accuracy on ``scores`` (of label
    1) and ``labels`` (0/1), e.g. validation images: the midpoint between two adjacent
    distinct scores (ties: the one nearest 0.5). Needs both classes; 0.5 if the scores
    are all equal."""
    y = _labels(labels)
    s = _scores(scores, y.size)
    if y.min() == y.max():
        raise ValueError("labels must hold both classes to pick a threshold")
    u = np.unique(s)
    if u.size == 1:
        return 0.5
    cands = np.concatenate([[u[0] - 1e-6], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-6]])
    best = max(cands, key=lambda t: (balanced_accuracy((s >= t).astype(np.int64), y),
                                     -abs(t - 0.5)))
    return float(np.clip(best, 0.0, 1.0))


def classification_report(scores: Any, labels: Any, threshold: float = 0.5) -> dict:
    """Every metric of the forgery table for scores = probabilities of label 1.

    Returns:
        {'accuracy', 'balanced_accuracy', 'roc_auc', 'confusion_matrix' (2x2 list, rows
        true 0/1, columns predicted 0/1), 'threshold', 'n'}; a score >= threshold
        predicts 1.
    """
    y = _labels(labels)
    s = _scores(scores, y.size)
    p = (s >= threshold).astype(np.int64)
    return {"accuracy": accuracy(p, y), "balanced_accuracy": balanced_accuracy(p, y),
            "roc_auc": roc_auc(s, y), "confusion_matrix": confusion_matrix(p, y).tolist(),
            "threshold": float(threshold), "n": int(y.size)}
