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
theirs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

FUSED = ("two_stage", "dct_markov")  # the approaches averaged, in this order
EPS = 1e-6  # probabilities are clipped to [EPS, 1 - EPS] before the logit
MIN_STD = 1e-9  # a validation logit std below this carries no ranking: input left out


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) in float64 with ``p`` clipped to [EPS, 1 - EPS]."""
    q = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(q) - np.log1p(-q)


def late_fusion(val: Mapping[str, np.ndarray], others: Sequence[Mapping[str, np.ndarray]],
                names: Sequence[str] = FUSED) -> tuple[np.ndarray, list[np.ndarray], list[str]]:
    """Fused P(authentic)-like scores.

    Args:
        val: approach name -> its validation scores (N_val,), probabilities in [0, 1].
        others: for each further image set (e.g. the test images), approach name -> its
            scores (N_k,), in the same units.
        names: the approaches to fuse; each must be in ``val`` and in every one of
            ``others``.

    Returns:
        (fused validation scores (N_val,), fused scores of each set in ``others``, the
        names actually used). An approach whose validation logits are constant (std <
        :data:`MIN_STD`) is left out; when none is left every fused score is 0.5.
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
    for i, o in enumerate(others):
        n = {len(np.asarray(o[k]).reshape(-1)) for k in names}
        if len(n) != 1:
            raise ValueError(f"others[{i}]'s score arrays differ in length: {sorted(n)}")
    used, zv, zo = [], [], [[] for _ in others]
    for k in names:
        lv = logit(np.asarray(val[k]).reshape(-1))
        if not np.isfinite(lv).all():
            raise ValueError(f"val scores of {k!r} hold NaN")
        mu, sd = float(lv.mean()), float(lv.std())
        if sd < MIN_STD:
            continue
        used.append(k)
        zv.append((lv - mu) / sd)
        for i, o in enumerate(others):
            lo = logit(np.asarray(o[k]).reshape(-1))
            if not np.isfinite(lo).all():
                raise ValueError(f"others[{i}] scores of {k!r} hold NaN")
            zo[i].append((lo - mu) / sd)

    def back(z: list[np.ndarray], n: int) -> np.ndarray:
        if not z:
            return np.full(n, 0.5)
        return 1.0 / (1.0 + np.exp(-np.mean(z, axis=0)))

    return (back(zv, n_val.pop()),
            [back(z, len(np.asarray(o[names[0]]).reshape(-1))) for z, o in zip(zo, others)],
            used)
