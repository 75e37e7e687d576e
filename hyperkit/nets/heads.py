"""Stage-2 heads that score a hyper-image by weighting its cells, and the pooling
baselines they are compared with.

A hyper-image (N, D, U, V) holds one stage-1 feature vector per grid cell. Kang et al.
average the cells' patch scores; the paper's stage 2 is a CNN with dense layers over
the whole grid. A :class:`GridHead` sits between the two: a 1x1 reduction of the D
channels, a few 3x3 convolutions over the grid (each cell sees its neighbours, and
optional coordinate channels tell it where it is), then two 1x1 maps, a quality
``q[u, v]`` and a weight ``w[u, v]``, and the score ``sum softmax(w) * q``. With no
context layers and no coordinates it is WaDIQaM's learned weighted pooling (Bosse et
al. 2018) over the stage-1 features, the baseline a reviewer asks for.

Why this shape: with 200-1000 training images the paper's dense stage 2 has millions
of weights on an 11 x 15 x 800 input; a head whose weights are shared by every cell has
a few tens of thousands and can only learn how cells combine, the part a localized
artifact changes. Measured (docs/nr-iqa.md, bench/RESULTS.md "iqa-heads-demo" and
"iqa-heads-photoset"): one head ties learned weighted pooling and beats every fixed
pooling on localized distortions; the mean of 3 heads kept by validation SROCC beats
weighted pooling by +0.057 SROCC on the demo and ties it on the photo set; the paper's
stage 2 trails weighted pooling on the 432-image demo and ties it on the 1080-image set.

Arch strings (``hyperkit.nets.build``)::

    head(800,11,15)                          defaults: r=64, ctx=2, coords=1, res=1, ens=1,
                                             drop=0.1, glob=0, sig=0
    head(800,11,15,ctx=0,coords=0,res=0)     WaDIQaM weighted pooling
    head(800,11,15,ens=5)                    five heads, their mean trained together

``res=1``: ``q[u, v]`` is the stage-1 patch score of the cell plus a learned
correction (the stage-1 output layer is copied into the head, frozen, by
:func:`set_prior`), so an untrained head starts as patch averaging.
"""

from __future__ import annotations

import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

HEAD_DEFAULTS = {"r": 64, "ctx": 2, "coords": 1, "res": 1, "ens": 1, "drop": 0.1, "glob": 0,
                 "sig": 0}
_SPEC = re.compile(r"^\s*head\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*"
                   r"((?:,\s*\w+\s*=\s*[\d.]+\s*)*)\)\s*$")


class GridHead(nn.Module):
    """Cell-weighted stage 2: (N, D, U, V) hyper-images -> (N,) scores.

    Args:
        channels, grid: D and (U, V) of the hyper-images.
        r: channels after the 1x1 reduction of the D features.
        ctx: number of 3x3 convolutions over the grid (0: every cell alone).
        coords: append two channels, the cell's row and column in [-1, 1], after the
            reduction (location sensitivity, paper "Training the Second Stage").
        res: q = frozen stage-1 patch score (:func:`set_prior`) + learned correction.
        drop: dropout on the reduced features (training only).
        glob: append the grid mean of the reduced features to every cell, so a cell is
            judged against its own image (a localized artifact is a cell unlike the rest).
        sig: end in a sigmoid (``self.head``), so the score is a probability (a classifier
            trained on logits through :func:`hyperkit.training.end_to_end.logits_output`).
    """

    def __init__(self, channels: int, grid: tuple[int, int], *, r: int = 64, ctx: int = 2,
                 coords: bool = True, res: bool = True, drop: float = 0.1,
                 glob: bool = False, sig: bool = False) -> None:
        super().__init__()
        u, v = (int(g) for g in grid)
        self.input_shape = (int(channels), u, v)
        self.coords, self.res, self.glob = bool(coords), bool(res), bool(glob)
        self.reduce = nn.Sequential(nn.Conv2d(channels, r, 1), nn.ReLU(), nn.Dropout(drop))
        width = r * (1 + self.glob) + 2 * self.coords
        layers: list[nn.Module] = []
        for _ in range(int(ctx)):
            layers += [nn.Conv2d(width, r, 3, padding=1), nn.ReLU()]
            width = r
        self.context = nn.Sequential(*layers)
        self.quality = nn.Conv2d(width, 1, 1)
        self.weight = nn.Conv2d(width, 1, 1)
        # the stage-1 output layer in this head's input units (set_prior); zeros = no prior
        self.register_buffer("prior_w", torch.zeros(channels))
        self.register_buffer("prior_b", torch.zeros(()))
        ys = torch.linspace(-1.0, 1.0, u)[:, None].expand(u, v)
        xs = torch.linspace(-1.0, 1.0, v)[None, :].expand(u, v)
        self.register_buffer("grid_yx", torch.stack([ys, xs])[None], persistent=False)
        self.head = nn.Sequential(nn.Sigmoid() if sig else nn.Identity())
        if self.res:  # start from the prior: no correction, equal weights
            nn.init.zeros_(self.quality.weight)
            nn.init.zeros_(self.quality.bias)
        nn.init.zeros_(self.weight.weight)
        nn.init.zeros_(self.weight.bias)

    def maps(self, x: Tensor, scale: Tensor | None = None, shift: Tensor | None = None
             ) -> tuple[Tensor, Tensor]:
        """(quality, weight logits), each (N, U, V), of hyper-images x (N, D, U, V), or of
        ``x * scale + shift`` when given (per channel, (D,) each: what
        :class:`~hyperkit.nets.standardized.Standardized` asks for).

        The per-channel affine and the stage-1 prior are folded into the 1 x 1 reduction
        (one convolution with r + 1 outputs; the extra one is the frozen prior), so the
        (N, D, U, V) input is read once and never copied: 1.9x a training epoch on 800 x 23
        x 31 hyper-images (bench/RESULTS.md "stage2-fold"). That convolution runs in float32
        (float64 for a float64 input) even under autocast: folded, it subtracts the channel
        means inside its sums, which bfloat16 would round away. Because of the fold, hooks
        on ``reduce[0]`` and on the head itself (when called through ``forward_affine``)
        do not fire."""
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"x must be (N, {', '.join(map(str, self.input_shape))}) "
                             f"hyper-images, got {tuple(x.shape)}")
        if (scale is None) != (shift is None):
            raise ValueError("scale and shift must be given together (per-channel (D,) "
                             "tensors) or not at all")
        conv, r = self.reduce[0], self.reduce[0].out_channels
        xf = x if x.dtype == torch.float64 else x.float()
        with torch.autocast(x.device.type, enabled=False):
            w, b = conv.weight[:, :, 0, 0].to(xf.dtype), conv.bias.to(xf.dtype)
            pw, pb = self.prior_w.to(xf.dtype), self.prior_b.to(xf.dtype)
            if scale is not None:  # W (x s + t) + b = (W s) x + (b + W t)
                scale, shift = scale.to(xf.dtype), shift.to(xf.dtype)
                b, pb = b + w @ shift, pb + pw @ shift
                w, pw = w * scale, pw * scale
            if self.res:
                w, b = torch.cat([w, pw[None]]), torch.cat([b, pb[None]])
            y = F.conv2d(xf, w[:, :, None, None], b)
        q, w = self.cell_maps(self.reduce[2](self.reduce[1](y[:, :r])))
        return (q + y[:, r] if self.res else q), w

    def cell_maps(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(quality correction, weight logits), each (N, U, V), from the reduced features
        z (N, r, U, V): the grid mean and the coordinates appended as configured, the
        context convolutions, then the two 1 x 1 maps (the prior is not added here)."""
        if self.glob:
            z = torch.cat([z, z.mean((2, 3), keepdim=True).expand_as(z)], 1)
        if self.coords:
            z = torch.cat([z, self.grid_yx.expand(len(z), -1, -1, -1).to(z.dtype)], 1)
        z = self.context(z)
        return self.quality(z)[:, 0], self.weight(z)[:, 0]

    def pool(self, q: Tensor, w: Tensor) -> Tensor:
        """(N,) scores from quality and weight-logit maps (N, U, V): sum softmax(w) q."""
        return self.head((torch.softmax(w.flatten(1), 1) * q.flatten(1)).sum(1))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_affine(x)

    def forward_affine(self, x: Tensor, scale: Tensor | None = None,
                       shift: Tensor | None = None) -> Tensor:
        """(N,) scores of ``x * scale + shift`` (see :meth:`maps`)."""
        return self.pool(*self.maps(x, scale, shift))

    def features(self, x: Tensor) -> Tensor:
        """(N, 2 U V): the quality and weight maps, flattened."""
        q, w = self.maps(x)
        return torch.cat([q.flatten(1), w.flatten(1)], 1)


class HeadEnsemble(nn.Module):
    """The mean of K heads of one shape. ``fit`` trains them together (the loss is on
    their mean); bench/iqa_heads.py's '-ens3' rows average independently trained seeds
    instead, which is what its figures measure."""

    def __init__(self, heads: list[nn.Module]) -> None:
        super().__init__()
        if not heads:
            raise ValueError("heads must hold at least one network")
        self.heads = nn.ModuleList(heads)
        self.input_shape = heads[0].input_shape

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_affine(x)

    def forward_affine(self, x: Tensor, scale: Tensor | None = None,
                       shift: Tensor | None = None) -> Tensor:
        """The members' mean score of ``x * scale + shift`` (:meth:`GridHead.maps`)."""
        if scale is None:
            return torch.stack([h(x) for h in self.heads]).mean(0)
        if all(hasattr(h, "forward_affine") for h in self.heads):
            return torch.stack([h.forward_affine(x, scale, shift) for h in self.heads]).mean(0)
        z = x * scale[:, None, None] + shift[:, None, None]  # members that cannot fold
        return torch.stack([h(z) for h in self.heads]).mean(0)

    def features(self, x: Tensor) -> Tensor:
        """The first member's features (the members share a shape, not weights)."""
        return self.heads[0].features(x)


def parse_head(spec: str) -> tuple[int, tuple[int, int], dict[str, Any]] | None:
    """(D, (U, V), options) of a ``head(D,U,V,k=v,...)`` string; None when ``spec`` is
    not a head string; ValueError for a head string with unknown or bad options."""
    m = _SPEC.match(spec)
    if m is None:
        if spec.strip().startswith("head("):
            raise ValueError(f"bad head spec {spec!r}; expected e.g. 'head(800,11,15,ctx=2)'")
        return None
    opts: dict[str, Any] = dict(HEAD_DEFAULTS)
    seen: set[str] = set()
    for part in filter(None, (p.strip() for p in m.group(4).split(","))):
        k, v = (s.strip() for s in part.split("="))
        if k not in HEAD_DEFAULTS or k in seen:
            raise ValueError(f"unknown or repeated head option {k!r} in {spec!r}; expected "
                             f"each of {', '.join(HEAD_DEFAULTS)} at most once")
        seen.add(k)
        if k != "drop" and not v.isdigit():
            raise ValueError(f"head option {k} must be a whole number in {spec!r}, got {v!r}")
        opts[k] = float(v) if k == "drop" else int(v)
    if (opts["ens"] < 1 or opts["r"] < 1 or opts["ctx"] < 0 or not 0 <= opts["drop"] < 1
            or opts["coords"] not in (0, 1) or opts["res"] not in (0, 1)
            or opts["glob"] not in (0, 1) or opts["sig"] not in (0, 1)
            or min(int(m.group(i)) for i in (1, 2, 3)) < 1):
        raise ValueError(f"head options out of range in {spec!r}: D, U, V, r, ens >= 1, "
                         "ctx >= 0, coords, res, glob and sig 0 or 1, 0 <= drop < 1")
    return int(m.group(1)), (int(m.group(2)), int(m.group(3))), opts


def build_head(spec: str) -> nn.Module:
    """A fresh head (or ensemble of heads) from a ``head(...)`` string."""
    parsed = parse_head(spec)
    if parsed is None:
        raise ValueError(f"not a head spec: {spec!r}")
    d, grid, o = parsed
    make = lambda: GridHead(d, grid, r=o["r"], ctx=o["ctx"], coords=bool(o["coords"]),  # noqa: E731
                            res=bool(o["res"]), drop=o["drop"], glob=bool(o["glob"]),
                            sig=bool(o["sig"]))
    return make() if o["ens"] == 1 else HeadEnsemble([make() for _ in range(o["ens"])])


def head_members(net: nn.Module) -> list[GridHead]:
    """The GridHeads inside ``net`` (a head, an ensemble, or either wrapped)."""
    return [m for m in net.modules() if isinstance(m, GridHead)]


def score_layer(stage1: nn.Module) -> nn.Linear | None:
    """Stage 1's output layer when it is a plain Linear(D, 1) on the features (a cell's
    score = ``layer(features)``): Kang's and VGG's ``out``, or a SpecNet's linear head;
    None otherwise (e.g. a sigmoid head or a pure feature extractor)."""
    net = getattr(stage1, "net", stage1)  # Centered and other wrappers keep it in .net
    out = getattr(net, "out", None)
    if out is None and isinstance(getattr(net, "head", None), nn.Sequential):
        lin, act = net.head[0], net.head[1]
        out = lin if isinstance(act, nn.Identity) else None
    ok = isinstance(out, nn.Linear) and out.out_features == 1
    return out if ok else None


def set_prior(net: nn.Module, out_layer: nn.Linear, in_mean: Tensor | None = None,
              in_std: Tensor | None = None, out_mean: float = 0.0, out_std: float = 1.0
              ) -> None:
    """Copies stage 1's output layer (Linear(D, 1): a cell's features -> its patch score)
    into every residual head of ``net``, in the head's input and output units.

    A head inside :class:`~hyperkit.nets.standardized.Standardized` sees
    z = (x - in_mean) / in_std and answers in (label - out_mean) / out_std, so the score
    w . x + b becomes (w * in_std / out_std) . z + (w . in_mean + b - out_mean) / out_std.
    """
    # folded on the CPU: stage 1 may sit on a GPU while the fresh head is still on the CPU
    w = out_layer.weight.detach().reshape(-1).double().cpu()
    b = float(out_layer.bias.detach().reshape(())) if out_layer.bias is not None else 0.0
    mean = torch.zeros_like(w) if in_mean is None else in_mean.detach().double().cpu()
    std = torch.ones_like(w) if in_std is None else in_std.detach().double().cpu()
    wz = w * std / out_std
    bz = (float(w @ mean) + b - out_mean) / out_std
    for h in head_members(net):
        if h.res:
            with torch.no_grad():
                h.prior_w.copy_(wz.to(h.prior_w.dtype).to(h.prior_w.device))
                h.prior_b.fill_(bz)
