"""The forgery task's stage-1 network (Fig. 3): two channels that share weights, and a
ranking head on the difference of their features.

Each channel (the ``forgery_channel`` preset, Table 4) maps a 64 x 64 RGB patch to
500 features. For features C1, C2 of the first and second patch,

    d(C1, C2) = w2^T relu(w1^T (C1 - C2)),

and the ranking hinge max(0, delta - y d) with delta = 3
(:class:`hyperkit.training.RankingHinge`) teaches d > 0 when the authentic patch is in
the first channel (y = 1) and d < 0 otherwise (y = -1). After training, one channel's
:meth:`SiameseRanker.features` build the hyper-images.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .presets import build, input_shape


class SiameseRanker(nn.Module):
    """Two weight-sharing channels and d = w2^T relu(w1^T (C1 - C2)).

    Args:
        channel: the channel network (a module with ``features`` and ``input_shape``) or
            a preset name / architecture string; default the paper's 'forgery_channel'.
        hidden: width of w1 (the paper does not give it; we use the feature width, 500
            for the paper's channel, when None).

        patch_score: also a per-patch head s(C) = w3^T C + b (a logit: this patch is
            tampered), which :class:`hyperkit.training.RankingHingePatchScore` trains
            beside the ranking (not in the paper: it makes the features tell a seam
            patch from an authentic one on their own, as stage 2 must).

    ``forward(x1, x2)`` takes two (N, C, h, w) patch batches and returns d (N,), or with
    ``patch_score`` (N, 3): d, s(C1), s(C2). ``features(x)`` is the channel's (N, D).
    ``input_shape`` is the channel's. The two channels run as one batch (the same
    weights, one pass). w1 and w2 have no bias, as the formula is printed.
    """

    def __init__(self, channel: nn.Module | str = "forgery_channel",
                 hidden: int | None = None, patch_score: bool = False) -> None:
        super().__init__()
        if isinstance(channel, str):
            channel = build(channel)
        if not isinstance(channel, nn.Module) or not hasattr(channel, "features"):
            raise TypeError("channel must be a network with features() (or a preset name / "
                            f"architecture string), got {type(channel).__name__}")
        self.channel = channel
        self.input_shape = input_shape(channel)
        with torch.no_grad():
            was = channel.training
            channel.eval()
            dim = channel.features(torch.zeros(1, *self.input_shape)).shape[1]
            channel.train(was)
        hidden = dim if hidden is None else hidden
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"hidden must be an integer >= 1, got {hidden!r}")
        self.feature_dim = int(dim)
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, 1, bias=False)
        nn.init.kaiming_normal_(self.w1.weight, nonlinearity="relu")  # ReLU follows w1
        nn.init.xavier_uniform_(self.w2.weight)
        self.w3 = nn.Linear(dim, 1) if patch_score else None

    def features(self, x: Tensor) -> Tensor:
        """(N, C, h, w) -> (N, D): one channel's features (the hyper-image's pixels)."""
        return self.channel.features(x)

    def rank(self, c1: Tensor, c2: Tensor) -> Tensor:
        """d (N,) from features (N, D) of the first and second channel."""
        return self.w2(torch.relu(self.w1(c1 - c2))).squeeze(1)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        """d (N,) of patch pairs (N, C, h, w) x 2 (> 0 ranks the first patch higher);
        with ``patch_score`` (N, 3): d and each patch's tamper logit."""
        if not isinstance(x1, Tensor) or not isinstance(x2, Tensor) or x1.shape != x2.shape:
            raise ValueError("x1 and x2 must be tensors of one shape (N, C, h, w), got "
                             f"{getattr(x1, 'shape', type(x1).__name__)} and "
                             f"{getattr(x2, 'shape', type(x2).__name__)}")
        c = self.features(torch.cat([x1, x2]))
        d = self.rank(c[:len(x1)], c[len(x1):])
        if self.w3 is None:
            return d
        s = self.w3(c).squeeze(1)
        return torch.stack([d, s[:len(x1)], s[len(x1):]], 1)


class Centered(nn.Module):
    """``net.features(x - mean)``: a stage 1 trained on mean-subtracted patches, with
    the (C,) per-channel mean applied where hyper-images are built.

    A :class:`~hyperkit.model.TwoStage` takes it as its stage 1 and saves the plain
    network (stage1.pt) and the mean (model.json, ``stage1_mean``) apart, so the saved
    stage 1 stays the plain preset network.
    """

    def __init__(self, net: nn.Module, mean: object) -> None:
        super().__init__()
        self.net = net
        self.input_shape = input_shape(net)
        m = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        if m.numel() != self.input_shape[0] or not torch.isfinite(m).all():
            raise ValueError(f"mean must be {self.input_shape[0]} finite numbers (one per "
                             f"channel), got {mean!r}")
        self.register_buffer("mean", m.reshape(-1, 1, 1), persistent=False)

    def features(self, x: Tensor) -> Tensor:
        """(N, C, h, w) -> (N, D): the network's features of x - mean."""
        return self.net.features(x - self.mean.to(x.device))
