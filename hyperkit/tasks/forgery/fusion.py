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
from scipy import special

from .settings import FLAT

FUSED = ("two_stage", "dct_markov")  # the approaches averaged, in this order
EPS = 1e-6  # probabilities are clipped to [EPS, 1 - EPS] before the logit


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) in float64 with ``p`` clipped to [EPS, 1 - EPS]."""
    return special.logit(np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS))


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
    fused = [special.expit(np.mean(zs, axis=0)) if zs else np.full(len(sc[names[0]]), 0.5)
             for zs, sc in zip(z, sets)]
    return fused[0], fused[1:], used
