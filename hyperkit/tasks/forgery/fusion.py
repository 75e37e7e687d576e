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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .settings import FLAT

FUSED = ("two_stage", "dct_markov")  # the approaches averaged, in this order
EPS = 1e-6  # probabilities are clipped to [EPS, 1 - EPS] before the logit


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) in float64 with ``p`` clipped to [EPS, 1 - EPS]."""
    q = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(q) - np.log1p(-q)


def late_fusion(val: Mapping[str, np.ndarray], others: Sequence[Mapping[str, np.ndarray]],
                names: Sequence[str] = FUSED, min_span: float = FLAT
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

    Returns:
        (fused validation scores (N_val,), fused scores of each set in ``others``, the
        names actually used); when no approach is left every fused score is 0.5.
    """
    if len(names) < 1:
        raise ValueError("names must hold at least one approach to fuse")
    for k in names:
        if k not in val:
            raise ValueError(f"val has no scores of {k!r} (has: {', '.join(val)})")
        for i, o in enumerate(others):
            if k not in o:
                raise ValueError(f"others[{i}] has no scores of {k!r} (has: {', '.join(o)})")
    n_val = {len(np.asarray(val[k]).reshape(-1)) for k in names}
    if len(n_val) != 1:
        raise ValueError(f"val's score arrays differ in length: {sorted(n_val)}")
    if 0 in n_val:
        raise ValueError("val holds no scores; the standardization needs validation images")
    for i, o in enumerate(others):
        n = {len(np.asarray(o[k]).reshape(-1)) for k in names}
        if len(n) != 1:
            raise ValueError(f"others[{i}]'s score arrays differ in length: {sorted(n)}")
    used, zv, zo = [], [], [[] for _ in others]
    for k in names:
        pv = np.asarray(val[k], dtype=np.float64).reshape(-1)
        if not np.isfinite(pv).all():
            raise ValueError(f"val scores of {k!r} hold NaN or infinity")
        lv = logit(pv)
        mu, sd = float(lv.mean()), float(lv.std())
        if float(np.ptp(pv)) < min_span or sd == 0:
            continue
        used.append(k)
        zv.append((lv - mu) / sd)
        for i, o in enumerate(others):
            po = np.asarray(o[k], dtype=np.float64).reshape(-1)
            if not np.isfinite(po).all():
                raise ValueError(f"others[{i}] scores of {k!r} hold NaN or infinity")
            lo = logit(po)
            zo[i].append((lo - mu) / sd)

    def back(z: list[np.ndarray], n: int) -> np.ndarray:
        if not z:
            return np.full(n, 0.5)
        return 1.0 / (1.0 + np.exp(-np.mean(z, axis=0)))

    return (back(zv, n_val.pop()),
            [back(z, len(np.asarray(o[names[0]]).reshape(-1))) for z, o in zip(zo, others)],
            used)
