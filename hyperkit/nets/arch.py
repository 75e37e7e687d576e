"""Networks declared in the paper's notation (Table 4): the parser and SpecNet.

Grammar (Table 4's caption): layers joined by '-'::

    Input(h, w[, c])      input of c channels (default 1), h x w pixels; must come first
    C(n[, r[, s]])        n "same" r x r convolutions with stride s (r = 3, s = 1) + ReLU
    MP(n)                 max pooling by a factor n (floor, as Keras/Theano 'valid')
    FC(n[, 'act'])        dense layer; act is 'relu' (default), 'linear', 'tanh', 'sigmoid'
    Drop(p)               dropout with rate p
    SRM(['keep'])         fixed high-pass residuals, right after Input: RGB-N's three SRM
                          kernels (Zhou et al. 2018) applied to each input channel
                          (c -> 3c channels; RGB-N sums them over R, G, B), 8-bit units
                          truncated at +-3 and scaled to [-1, 1]; 'keep' puts the input's
                          own c channels first (c -> 4c); not in Table 4 (an option for
                          forgery channels)
    k x L, k * (L - ...)  L repeated k times ('x', '*', the paper's '\\times' or '×')

Dashes may be '-', '–' or '—'; quotes may be ', ", ` or ‘ ’.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..devices import autocast_dtype

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU, "linear": nn.Identity, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
}

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<mult>\d+)\s*(?:x|\*)(?=\s*[A-Za-z(])
  | (?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)
  | (?P<name>[A-Za-z_]\w*)
  | (?P<str>['"`‘’]\w+['"`‘’])
  | (?P<punct>[(),-])
""", re.VERBOSE)


@dataclass(frozen=True)
class Layer:
    """One parsed layer: its kind ('Input', 'C', 'MP', 'FC', 'Drop', 'SRM') and arguments."""

    kind: str
    args: tuple


_ARITY = {"Input": (2, 3), "C": (1, 3), "MP": (1, 1), "FC": (1, 2), "Drop": (1, 1),
          "SRM": (0, 1)}

# The three high-pass kernels of the spatial rich model (Fridrich & Kodovsky 2012) that
# RGB-N (Zhou et al., CVPR 2018) feeds its noise stream, each divided by its quantization
# step q = 4, 12, 2 as there (RGB-N sums each over R, G, B and does not truncate; here
# each channel keeps its own residuals, truncated as in steganalysis): a second-order
# 3x3 ('KB'), the 5x5 'KV' and a horizontal second difference. They null constants and
# linear ramps, so image content weighs less than the noise that splicing and resampling
# disturb.
_SRM_FILTERS = (
    ((0, 0, 0, 0, 0), (0, -1, 2, -1, 0), (0, 2, -4, 2, 0), (0, -1, 2, -1, 0), (0, 0, 0, 0, 0)),
    ((-1, 2, -2, 2, -1), (2, -6, 8, -6, 2), (-2, 8, -12, 8, -2), (2, -6, 8, -6, 2),
     (-1, 2, -2, 2, -1)),
    ((0, 0, 0, 0, 0), (0, 0, 0, 0, 0), (0, 1, -2, 1, 0), (0, 0, 0, 0, 0), (0, 0, 0, 0, 0)),
)
_SRM_STEPS = (4.0, 12.0, 2.0)


def _normalize(spec: str) -> str:
    s = spec.replace("\\times", "x").replace("×", "x").replace("$", "")
    for dash in "–—−":
        s = s.replace(dash, "-")
    return s


def _tokens(spec: str) -> list[tuple[str, str]]:
    out, pos, s = [], 0, _normalize(spec)
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if m is None:
            raise ValueError(f"architecture: unexpected {s[pos:pos + 12]!r} at position {pos} "
                             f"in {spec!r}")
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group(m.lastgroup)))
        pos = m.end()
    return out


class _Parser:
    """Recursive descent over the tokens of one architecture string."""

    def __init__(self, spec: str, toks: list[tuple[str, str]]) -> None:
        self.spec, self.toks, self.pos = spec, toks, 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def expect(self, kind: str, value: str | None = None) -> str:
        t = self.peek()
        if t is None or t[0] != kind or (value is not None and t[1] != value):
            want = value or kind
            got = "the end" if t is None else repr(t[1])
            raise ValueError(f"architecture: expected {want!r} but found {got} in {self.spec!r}")
        self.pos += 1
        return t[1]

    def sequence(self) -> list[Layer]:
        """item ('-' item)*"""
        layers = self.item()
        while self.peek() == ("punct", "-"):
            self.pos += 1
            layers += self.item()
        return layers

    def item(self) -> list[Layer]:
        """[k x] (layer | '(' sequence ')'), repeats expanded."""
        reps = 1
        if self.peek() is not None and self.peek()[0] == "mult":
            reps = int(self.expect("mult"))
            if reps < 1:
                raise ValueError(f"architecture: repeat count must be >= 1 in {self.spec!r}")
        if self.peek() == ("punct", "("):
            self.pos += 1
            body = self.sequence()
            self.expect("punct", ")")
        else:
            body = [self.layer()]
        return body * reps

    def layer(self) -> Layer:
        """name '(' args ')', with the argument count checked against _ARITY."""
        name = self.expect("name")
        if name not in _ARITY:
            raise ValueError(f"architecture: unknown layer {name!r} in {self.spec!r}; "
                             f"expected one of {', '.join(_ARITY)}")
        self.expect("punct", "(")
        args: list = []
        while self.peek() != ("punct", ")"):
            if args:
                self.expect("punct", ",")
            t = self.peek()
            if t is not None and t[0] == "num":
                self.pos += 1
                args.append(float(t[1]) if any(c in t[1] for c in ".eE") else int(t[1]))
            elif t is not None and t[0] == "str":
                self.pos += 1
                args.append(t[1][1:-1].lower())
            else:
                self.expect("num")
        self.pos += 1
        lo, hi = _ARITY[name]
        if not lo <= len(args) <= hi:
            takes = "no arguments" if hi == 0 else f"{lo} to {hi} arguments"
            raise ValueError(f"architecture: {name} takes {takes}, got "
                             f"{name}{tuple(args)} in {self.spec!r}")
        return Layer(name, tuple(args))


def parse(spec: str) -> list[Layer]:
    """Parses an architecture string into a flat list of layers (repeats expanded).

    Raises ValueError naming the position and what was expected for malformed
    strings, unknown layers and wrong argument counts.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"architecture must be a non-empty string, got {spec!r}")
    parser = _Parser(spec, _tokens(spec))
    layers = parser.sequence()
    if parser.pos != len(parser.toks):
        raise ValueError(f"architecture: unexpected {parser.toks[parser.pos][1]!r} after a "
                         f"complete network in {spec!r}")
    if layers[0].kind != "Input" or any(layer.kind == "Input" for layer in layers[1:]):
        raise ValueError(f"architecture must start with Input(h, w[, c]) and have one Input: "
                         f"{spec!r}")
    return layers


def _init(mods: list[nn.Module]) -> None:
    """He-normal weights for layers followed by ReLU, Glorot-uniform for the others
    (output, tanh, sigmoid), zero biases. With PyTorch's default init the 12-layer
    synthetic stage 1 collapsed to a constant prediction in our runs."""
    for i, m in enumerate(mods):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if i + 1 < len(mods) and isinstance(mods[i + 1], nn.ReLU):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


class SRMResidual(nn.Module):
    """Fixed SRM high-pass residuals (the grammar's ``SRM()``): (N, c, H, W) in [0, 1]
    units -> (N, 3c, H, W) in [-1, 1] ('same' 5 x 5 filters per channel, zero padding);
    with ``keep`` (``SRM('keep')``) the input itself comes first, (N, 4c, H, W), so the
    network sees the pixels (colour, compression blocks) beside their residuals.

    Residuals are taken in 8-bit units, truncated at +-T with T = 3 (the rich model's
    truncation; Ye et al.'s TLU) and divided by T. Untruncated 8-bit residuals have a
    std of 6-10 on textured photographs, 30x a photograph's, and the paper's SGD at
    0.005 diverged on them in its first epoch (measured). The filters are a
    non-persistent buffer: fixed, never trained or saved, rebuilt from the string, so
    saved models depend on this exact definition; a change needs a new layer name.

    Padding is zero, as in RGB-N, but on 64 x 64 mean-subtracted patches rather than
    whole images: the outer two rows and columns also respond to the patch's level
    (the same in training and at inference)."""

    TRUNCATE = 3.0

    def __init__(self, channels: int, keep: bool = False) -> None:
        super().__init__()
        self.keep = keep
        k = torch.tensor(_SRM_FILTERS, dtype=torch.float32)
        k = k / torch.tensor(_SRM_STEPS).view(3, 1, 1) * 255.0
        self.channels = channels
        # groups=c: channel i's three residuals are outputs 3i, 3i+1, 3i+2
        self.register_buffer("kernels", k.unsqueeze(1).repeat(channels, 1, 1, 1),
                             persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """(N, c, H, W) -> (N, 3c, H, W), or (N, 4c, H, W) with ``keep``."""
        r = F.conv2d(x, self.kernels.to(x.dtype), padding=2, groups=self.channels)
        r = r.clamp(-self.TRUNCATE, self.TRUNCATE) / self.TRUNCATE
        return torch.cat([x, r], dim=1) if self.keep else r

    def extra_repr(self) -> str:
        out = (4 if self.keep else 3) * self.channels
        return f"channels={self.channels}, out={out}, keep={self.keep}, fixed"


def _foldable(layer: nn.Module | None) -> bool:
    """Whether conv(W, x s + t) = conv(W s, x) + conv(W, T) holds for ``layer`` as
    :meth:`SpecNet.forward_affine` computes it: a plain, zero-padded 2-D convolution."""
    return (type(layer) is nn.Conv2d and layer.groups == 1
            and tuple(layer.dilation) == (1, 1) and layer.padding_mode == "zeros")


class SpecNet(nn.Module):
    """A CNN built from an architecture string (see the module docstring).

    Input (N, c, h, w) as declared by Input(h, w, c). When the string ends with an
    output layer (an FC whose activation is not ReLU), :meth:`forward` gives its
    output, (N,) for FC(1, ...) and (N, n) otherwise, and :meth:`features` the
    ReLU-activated output of the last hidden layer (N, D) that hyper-images are built
    from. A string without an output layer (the forgery channel) is a pure feature
    extractor: forward and features agree.
    """

    def __init__(self, spec: str) -> None:
        super().__init__()
        self.spec = spec
        layers = parse(spec)
        h, w, *c = layers[0].args
        self.input_shape = (int(c[0]) if c else 1, int(h), int(w))
        ch, h, w = self.input_shape
        if min(self.input_shape) < 1:
            raise ValueError(f"architecture: Input sizes must be >= 1 in {spec!r}")
        mods: list[nn.Module] = []
        flat: int | None = None  # feature count once flattened
        for layer in layers[1:]:
            if layer.kind == "C":
                if flat is not None:
                    raise ValueError(f"architecture: C after FC in {spec!r}")
                n, r, s = (list(layer.args) + [3, 1][len(layer.args) - 1:])[:3]
                if r % 2 == 0:
                    raise ValueError(f"architecture: 'same' convolution needs an odd size, "
                                     f"got C{layer.args} in {spec!r}")
                mods += [nn.Conv2d(ch, n, r, stride=s, padding=r // 2), nn.ReLU()]
                ch, h, w = n, (h - 1) // s + 1, (w - 1) // s + 1
            elif layer.kind == "SRM":
                if mods:  # its units and truncation are a photograph's, not features'
                    raise ValueError(f"architecture: SRM() must come right after Input in "
                                     f"{spec!r}")
                if layer.args not in ((), ("keep",)):
                    raise ValueError(f"architecture: SRM takes nothing or 'keep', got "
                                     f"SRM{layer.args} in {spec!r}")
                mods.append(SRMResidual(ch, keep=bool(layer.args)))
                ch *= 4 if layer.args else 3
            elif layer.kind == "MP":
                (n,) = layer.args
                if flat is not None or h < n or w < n:
                    raise ValueError(f"architecture: MP({n}) on a {h}x{w} map (or after FC) "
                                     f"in {spec!r}")
                mods.append(nn.MaxPool2d(n))
                h, w = h // n, w // n
            elif layer.kind == "FC":
                if flat is None:
                    mods.append(nn.Flatten())
                    flat = ch * h * w
                n, act = (list(layer.args) + ["relu"])[:2]
                if act not in ACTIVATIONS:
                    raise ValueError(f"architecture: unknown activation {act!r}; expected "
                                     f"one of {', '.join(ACTIVATIONS)}")
                mods += [nn.Linear(flat, n), ACTIVATIONS[act]()]
                flat = n
            else:  # Drop
                (p,) = layer.args
                if not 0 <= p < 1:
                    raise ValueError(f"architecture: Drop rate must be in [0, 1), got {p}")
                mods.append(nn.Dropout(p))
        last_fc = max((i for i, layer in enumerate(layers) if layer.kind == "FC"), default=None)
        has_head = last_fc == len(layers) - 1 and (layers[-1].args + ("relu",))[1] != "relu"
        if has_head:
            self.body, self.head = nn.Sequential(*mods[:-2]), nn.Sequential(*mods[-2:])
            self.out_features = layers[-1].args[0]
        else:
            self.body, self.head = nn.Sequential(*mods), None
            self.out_features = flat if flat is not None else ch * h * w
        self.feature_dim = flat if not has_head else self.head[0].in_features
        _init(mods)

    def _check(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            c, h, w = self.input_shape
            raise ValueError(f"input must be (N, {c}, {h}, {w}) for {self.spec!r}, got {got}")

    def features(self, x: Tensor) -> Tensor:
        """(N, c, h, w) -> (N, D): the last hidden layer's output (flattened)."""
        self._check(x)
        return self.body(x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        """(N, c, h, w) -> (N,) for a one-unit output layer, else (N, n)."""
        return self._output(self.features(x))

    def _output(self, y: Tensor) -> Tensor:
        """The output layer on features y (N, D) (y itself without one)."""
        if self.head is None:
            return y
        y = self.head(y)
        return y.squeeze(1) if y.shape[1] == 1 else y

    def forward_affine(self, x: Tensor, scale: Tensor | None = None,
                       shift: Tensor | None = None) -> Tensor:
        """:meth:`forward` of ``x * scale + shift`` (per channel, (c,) each: what
        :class:`~hyperkit.nets.standardized.Standardized` asks for).

        When the first layer is a convolution (the paper's stage 2s) and autocast is
        off, the affine is folded into it: conv(W, x s + t) = conv(W s, x) + conv(W, T),
        T the (1, c, h, w) frame filled with t inside and zero-padded like x, computed
        once per call. The padding stays exact at the border and the (N, c, h, w) input
        is read once, never copied (bench/RESULTS.md "stage2-fold"). Under autocast the
        affine is applied first, in float32, as before the fold: folded, the convolution
        would subtract the channel means inside bfloat16 sums. A first layer that is not
        a plain convolution (groups, dilation, a padding mode other than zeros: none that
        an architecture string builds) also takes the affine first. Because of the fold,
        hooks on ``body[0]`` (and, called through ``Standardized``, on this net) do not
        fire."""
        if (scale is None) != (shift is None):
            raise ValueError("scale and shift must be given together (per-channel (c,) "
                             "tensors) or not at all")
        self._check(x)
        if scale is None:
            return self.forward(x)
        first = self.body[0] if len(self.body) else None
        if not _foldable(first) or autocast_dtype(x) is not None:
            return self.forward(x * scale[:, None, None] + shift[:, None, None])
        w = first.weight.to(x.dtype)
        s, t = scale.to(x.dtype), shift.to(x.dtype)
        bias = None if first.bias is None else first.bias.to(x.dtype)
        y = F.conv2d(x, w * s[None, :, None, None], bias, first.stride, first.padding)
        frame = t.view(1, -1, 1, 1).expand(1, *x.shape[1:]).contiguous()
        y = y + F.conv2d(frame, w, None, first.stride, first.padding)
        return self._output(self.body[1:](y).flatten(1))
