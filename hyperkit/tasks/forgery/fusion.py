"""Late fusion of the two-stage CNN with the DCT Markov baseline (issue 20).

The two read different cues: the two-stage CNN the seams along a pasted region, the DCT
Markov features the image's block-DCT statistics (which a second JPEG compression
changes). Their test scores are weakly correlated on the demo (rank correlation -0.06 to
0.66 per seed), so a fused score ranks images better than either when one of them fails
on a split. The rule has no weights to learn, because 42 validation images would fit
them to noise: each approach's score is mapped to its logit, standardized with the
validation images' mean and standard deviation, and the standardized logits are
averaged with equal weights. The mean goes back through a sigmoid so that it reads like
the other approaches' P(authentic) and its threshold is picked on validation like
theirs. An input whose validation scores span less than
:data:`~hyperkit.tasks.forgery.settings.FLAT` (a stage 2 that kept its initial weights)
carries no ranking and is left out, instead of having its rounding noise scaled up to
an equal vote.

Equal weights cost where one input knows nothing (a spliced set where the DCT row is at
chance pulled a working two-stage CNN down by 0.06). :func:`auc_weights` gives the
second row, ``fused_weighted``: each standardized logit weighted by how far its
validation ROC AUC lies above chance, max(AUC - 0.5, 0). That is one number per input
from the validation images, no fit; the rule was fixed before any run measured it.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import special

from ...evaluation.classification import roc_auc
from ...views import EPS, logit  # noqa: F401 (EPS: the clip, re-exported with logit)
from .settings import FLAT

FUSED = ("two_stage", "dct_markov")  # the approaches averaged, in this order


def _scores(where: str, scores: Mapping[str, np.ndarray], names: Sequence[str]
            ) -> dict[str, np.ndarray]:
    """``names``' scores of one image set as float64 (N,), checked: present, finite, one
    length; ``where`` names the set in the errors."""
    out = {}
    for k in names:
        if k not in scores:
            raise ValueError(f"{where} has no scores of {k!r} (has: {', '.join(scores)})")
        out[k] = np.asarray(scores[k], dtype=np.float64).reshape(-1)
        if not np.isfinite(out[k]).all():
            raise ValueError(f"{where} scores of {k!r} hold NaN or infinity")
    lengths = sorted({len(v) for v in out.values()})
    if len(lengths) != 1:
        raise ValueError(f"{where}'s score arrays differ in length: {lengths}")
    return out


def auc_weights(val: Mapping[str, np.ndarray], labels: np.ndarray,
                names: Sequence[str] = FUSED) -> dict[str, float]:
    """Each approach's weight for :func:`late_fusion`: max(validation ROC AUC - 0.5, 0).

    Args:
        val: approach name -> its validation scores (N_val,), P(authentic).
        labels: the validation images' labels (N_val,), 1 = authentic, 0 = tampered;
            both classes must be present.
        names: the approaches to weigh.

    Returns:
        approach name -> weight in [0, 0.5]; an input that ranks no better than chance on
        validation gets 0.
    """
    if len(names) < 1:
        raise ValueError("names must hold at least one approach to weigh")
    v = _scores("val", val, names)
    y = np.asarray(labels).reshape(-1)
    if len(y) != len(v[names[0]]):
        raise ValueError(f"labels has {len(y)} entries; the validation scores have "
                         f"{len(v[names[0]])}")
    if not np.isin(y, (0, 1)).all() or len(np.unique(y)) < 2:
        raise ValueError("labels must hold 0 (tampered) and 1 (authentic), both present")
    return {k: max(roc_auc(v[k], y) - 0.5, 0.0) for k in names}


def _weights(weights: Mapping[str, float], names: Sequence[str]) -> dict[str, float]:
    """``weights`` checked: a mapping with a finite real number >= 0 for each of ``names``."""
    if not isinstance(weights, Mapping):
        raise ValueError(f"weights must be a mapping of approach name -> weight, got "
                         f"{type(weights).__name__}")
    missing = [k for k in names if k not in weights]
    if missing:
        raise ValueError(f"weights has no entry for {', '.join(missing)}")
    out = {}
    for k in names:
        w = weights[k]
        if isinstance(w, np.generic):
            w = w.item()
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not np.isfinite(w) \
                or w < 0:
            raise ValueError(f"weights must be finite real numbers >= 0; {k} is {w!r}")
        out[k] = float(w)
    return out


def fuse(val: Mapping[str, np.ndarray], test: Mapping[str, np.ndarray],
         val_labels: np.ndarray, names: Sequence[str] = FUSED
         ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str], dict[str, float]]:
    """Both fusion rows of a forgery seed: equal weights (``fused``) and weights from
    :func:`auc_weights` (``fused_weighted``).

    Args:
        val: approach name -> validation scores (N_val,), P(authentic).
        test: approach name -> test scores (N_test,), same units.
        val_labels: the validation labels (N_val,), 1 = authentic.
        names: the approaches to fuse.

    Returns:
        ({'fused': (validation, test), 'fused_weighted': (validation, test)} fused
        scores, the approaches used (the span rule), the weights).
    """
    fv, (ft,), used = late_fusion(val, [test], names)
    weights = auc_weights(val, val_labels, names)
    wv, (wt,), _ = late_fusion(val, [test], names, weights=weights)
    return {"fused": (fv, ft), "fused_weighted": (wv, wt)}, used, weights


def late_fusion(val: Mapping[str, np.ndarray], others: Sequence[Mapping[str, np.ndarray]],
                names: Sequence[str] = FUSED, min_span: float = FLAT,
                weights: Mapping[str, float] | None = None
                ) -> tuple[np.ndarray, list[np.ndarray], list[str]]:
    """Fused P(authentic)-like scores.

    Args:
        val: approach name -> its validation scores (N_val,), probabilities in [0, 1].
        others: for each further image set (e.g. the test images), approach name -> its
            scores (N_k,), in the same units.
        names: the approaches to fuse; each must be in ``val`` and in every one of
            ``others``.
        min_span: an approach whose validation scores span less than this (max - min)
            is left out.
        weights: approach name -> weight >= 0 of its standardized logit (e.g.
            :func:`auc_weights`); None, or weights that are all 0 among the approaches
            kept, average with equal weights.

    Returns:
        (fused validation scores (N_val,), fused scores of each set in ``others``, the
        names actually used); when no approach is left every fused score is 0.5.
    """
    if len(names) < 1:
        raise ValueError("names must hold at least one approach to fuse")
    if weights is not None:
        weights = _weights(weights, names)
    v = _scores("val", val, names)
    if len(v[names[0]]) == 0:
        raise ValueError("val holds no scores; the standardization needs validation images")
    sets = [v] + [_scores(f"others[{i}]", o, names) for i, o in enumerate(others)]
    used = []
    z: list[list[np.ndarray]] = [[] for _ in sets]
    for k in names:
        lv = logit(v[k])
        sd = float(lv.std())
        if float(np.ptp(v[k])) < min_span or sd == 0:
            continue
        used.append(k)
        for zs, scores in zip(z, sets):
            zs.append((logit(scores[k]) - lv.mean()) / sd)
    w = np.array([weights[k] for k in used] if weights is not None else [], np.float64)
    if not (w > 0).any():  # equal weights: none given, or none of the kept above chance
        w = np.ones(len(used))
    if len(w):
        w = w / w.max()  # the largest is 1: a sum of huge finite weights cannot overflow
    fused = [special.expit(np.tensordot(w / w.sum(), np.stack(zs), axes=1)) if zs
             else np.full(len(sc[names[0]]), 0.5) for zs, sc in zip(z, sets)]
    return fused[0], fused[1:], used
