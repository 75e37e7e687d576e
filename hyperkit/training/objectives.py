"""What training minimizes, passed to :func:`hyperkit.training.fit`.

An objective maps a model's outputs for a batch and the batch's targets to a scalar
loss (the batch mean). The loop calls ``model(*inputs)`` and never looks inside, so a
regression head, a siamese pair or a classifier on logits all train the same way.
Validation applies the same objective to the outputs of the whole validation set.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


class Objective:
    """Base class: ``objective(outputs, targets) -> scalar loss``. ``name`` is stored in
    checkpoints: a run resumes only with the objective it started with."""

    name = "objective"
    # True when the loss is a plain mean of per-sample terms, so that a batch's gradient
    # is the size-weighted sum of its parts' (what TrainConfig.cpu_micro_batch needs).
    # Subclasses inherit it: one that adds a batch-level term must set it back to False.
    sample_mean = False

    def __call__(self, outputs: Tensor, targets: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class MAE(Objective):
    """Mean absolute error of scores (N,) or (N, 1) against labels (N,): the paper's
    regression loss for both stages."""

    name = "mae"
    sample_mean = True

    def __call__(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return F.l1_loss(outputs.reshape(-1), targets)


class MAEPlusPLCC(Objective):
    """MAE plus ``weight`` x (1 - Pearson correlation) of the batch: the MAE pins the
    scale, the correlation term rewards ranking the batch's images in order (the
    norm-in-norm idea of Li et al. 2020, in its simplest form). ``weight`` is in label
    units (e.g. the training labels' std), so both terms are comparable. A batch of
    fewer than 2 images, or of one label, adds no correlation term."""

    def __init__(self, weight: float) -> None:
        if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
            raise ValueError(f"weight must be a finite number >= 0, got {weight!r}")
        self.weight = float(weight)
        self.name = f"mae_plcc(weight={self.weight:g})"

    def __call__(self, outputs: Tensor, targets: Tensor) -> Tensor:
        o = outputs.reshape(-1)
        loss = F.l1_loss(o, targets)
        if len(o) < 2 or self.weight == 0:
            return loss
        oc, tc = o - o.mean(), targets - targets.mean()
        denom = torch.sqrt((oc * oc).sum() * (tc * tc).sum())
        if not bool(denom.detach() > 0):  # a constant: no correlation to reward
            return loss
        return loss + self.weight * (1.0 - (oc * tc).sum() / denom)


class RankingHinge(Objective):
    """max(0, margin - y d), averaged: the forgery task's siamese ranking loss (Fig. 3).

    ``outputs`` d (N,) is the network's score of the pair (or (N, 3) d, s1, s2 of a
    ranker with a patch score, of which d is used: the same criterion with or without
    it); ``targets`` y is +1 when the authentic patch is in the first channel and -1
    otherwise. The paper's margin (delta) is 3.
    """

    sample_mean = True

    def __init__(self, margin: float = 3.0) -> None:
        if not margin > 0:
            raise ValueError(f"margin must be > 0, got {margin!r}")
        self.margin = float(margin)
        self.name = f"ranking_hinge(margin={self.margin:g})"

    def __call__(self, outputs: Tensor, targets: Tensor) -> Tensor:
        if outputs.ndim == 2 and outputs.shape[1] == 3:
            outputs = outputs[:, 0]  # d of a ranker with a patch score (d, s1, s2)
        if outputs.numel() != targets.numel():
            raise ValueError(f"outputs must be d (N,) of {targets.numel()} pairs (or "
                             f"(N, 3): d, s1, s2), got {tuple(outputs.shape)}")
        return torch.clamp(self.margin - targets * outputs.reshape(-1), min=0).mean()


class RankingHingePatchScore(Objective):
    """:class:`RankingHinge` on d plus ``weight`` x the binary cross-entropy of each
    patch's tamper logit, for a :class:`hyperkit.nets.siamese.SiameseRanker` with
    ``patch_score``: ``outputs`` (N, 3) are d, s1, s2; ``targets`` y (N,) is +1 when the
    authentic patch is first, so the first patch is tampered where y = -1 and the
    second where y = +1. A mean over pairs."""

    sample_mean = True

    def __init__(self, margin: float = 3.0, weight: float = 1.0) -> None:
        self.hinge = RankingHinge(margin)
        if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight > 0):
            raise ValueError(f"weight must be a finite number > 0, got {weight!r}")
        self.weight = float(weight)
        self.name = f"ranking_hinge_patch_score(margin={self.hinge.margin:g}, " \
                    f"weight={self.weight:g})"

    def __call__(self, outputs: Tensor, targets: Tensor) -> Tensor:
        if outputs.ndim != 2 or outputs.shape[1] != 3:
            raise ValueError(f"outputs must be (N, 3): d, s1, s2 (a SiameseRanker with "
                             f"patch_score), got {tuple(outputs.shape)}")
        y = targets.to(outputs.dtype)
        first_tampered = (y < 0).to(outputs.dtype)
        bce = (F.binary_cross_entropy_with_logits(outputs[:, 1], first_tampered) +
               F.binary_cross_entropy_with_logits(outputs[:, 2], 1 - first_tampered)) / 2
        return self.hinge(outputs[:, 0], y) + self.weight * bce


class WeightedBCE(Objective):
    """Binary cross-entropy on logits with one weight per class, averaged.

    ``outputs`` are logits (N,) (no sigmoid: BCE on logits is the numerically stable
    form); ``targets`` are 0 or 1. ``weights`` = (w0, w1) scale the loss of class-0 and
    class-1 samples, e.g. inverse class frequencies for an unbalanced set.
    """

    sample_mean = True

    def __init__(self, weights: tuple[float, float] = (1.0, 1.0)) -> None:
        w0, w1 = (float(w) for w in weights)
        if not (w0 > 0 and w1 > 0):
            raise ValueError(f"weights must be two numbers > 0, got {weights!r}")
        self.weights = (w0, w1)
        self.name = f"weighted_bce(w0={w0:g}, w1={w1:g})"

    def __call__(self, outputs: Tensor, targets: Tensor) -> Tensor:
        w = torch.where(targets > 0.5, self.weights[1], self.weights[0]).to(outputs.dtype)
        return F.binary_cross_entropy_with_logits(outputs.reshape(-1), targets, weight=w)


class NegSpearman(Objective):
    """Minus Spearman's rank correlation of outputs and targets: a validation criterion
    (``fit(..., val_objective=NegSpearman())`` keeps the weights that rank the validation
    images best), not a training loss (ranks have no gradient). Ties share their mean
    rank (scipy.stats.spearmanr); a constant output scores 0."""

    name = "neg_srocc"

    def __call__(self, outputs: Tensor, targets: Tensor) -> Tensor:
        from scipy.stats import spearmanr

        o = outputs.detach().double().reshape(-1).cpu().numpy()
        t = targets.detach().double().reshape(-1).cpu().numpy()
        if len(o) != len(t) or len(o) < 2:
            raise ValueError(f"NegSpearman needs >= 2 paired values, got {len(o)} outputs and "
                             f"{len(t)} targets")
        if np.ptp(o) == 0 or np.ptp(t) == 0:  # a constant ranks nothing (scipy: NaN)
            return torch.tensor(0.0)
        return torch.tensor(-float(spearmanr(o, t)[0]))
