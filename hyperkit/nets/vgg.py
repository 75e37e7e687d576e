"""VGG-16 up to conv4_3 as a frozen stage 1 (NR-IQA experiment 5 of the paper).

The paper takes VGG-16 pre-trained on ILSVRC 2014, keeps the layers up to "conv4_3"
(frozen), which reduce a 32x32 RGB patch to 2x2x512, and trains two dense layers of
800 from scratch on top. Weights come from a local file the user gives
(:meth:`VGGStage1.load_conv_weights`): nothing is downloaded, torchvision is not
needed. Two layouts are read:

* torchvision: a ``vgg16`` state dict saved with ``torch.save``; conv1_1 ... conv4_3
  are ``features.{0,2,5,7,10,12,14,17,19,21}.weight/bias``. These expect RGB in [0, 1]
  normalized by the ImageNet mean and std.
* Caffe-converted: a dict (``torch.save``) or an .npz keyed ``conv1_1.weight``,
  ``conv1_1.bias`` ... ``conv4_3.bias``. These expect BGR in 0-255 minus the mean
  pixel [103.939, 116.779, 123.68] (B, G, R).

Other keys (the classifier, later convs) are ignored. The module takes what hyperkit
gives every stage 1, float RGB patches in [0, 1], and does the preprocessing of the
loaded format itself; the paper notes that VGG uses mean subtraction where the other
stage-1 networks use LCN, so patches for this network are cut without LCN
(:attr:`VGGStage1.expects_lcn` is False).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

# (name, in channels, out channels) of conv1_1 ... conv4_3, and the index of each in
# torchvision's vgg16().features (ReLUs and pools sit between them).
CONVS: tuple[tuple[str, int, int], ...] = (
    ("conv1_1", 3, 64), ("conv1_2", 64, 64),
    ("conv2_1", 64, 128), ("conv2_2", 128, 128),
    ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256),
    ("conv4_1", 256, 512), ("conv4_2", 512, 512), ("conv4_3", 512, 512),
)
TORCHVISION_INDEX = dict(zip((c[0] for c in CONVS), (0, 2, 5, 7, 10, 12, 14, 17, 19, 21)))
_POOL_AFTER = ("conv1_2", "conv2_2", "conv3_3", "conv4_3")

# Input preprocessing of each weight format: channel order, scale of [0, 1] pixels,
# mean and std (in that order's channels, after scaling).
FORMATS: dict[str, dict[str, Any]] = {
    "torchvision": {"order": (0, 1, 2), "scale": 1.0, "mean": (0.485, 0.456, 0.406),
                    "std": (0.229, 0.224, 0.225)},
    "caffe": {"order": (2, 1, 0), "scale": 255.0, "mean": (103.939, 116.779, 123.68),
              "std": (1.0, 1.0, 1.0)},
}


def _read_weights(path: Path) -> dict[str, Any]:
    """The arrays of a weights file: torch.save'd dict (weights_only) or .npz."""
    if not path.is_file():
        raise FileNotFoundError(f"VGG weights file {path} does not exist (nothing is "
                                "downloaded: save torchvision's vgg16 state_dict or a "
                                "Caffe-converted dict there)")
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (ValueError, OSError) as e:
            raise ValueError(f"{path} is not a readable .npz of arrays: {e}") from e
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle / zip errors differ between torch versions
        raise ValueError(f"{path} is not a torch.save'd state dict readable with "
                         f"weights_only=True: {e}") from e
    if not isinstance(data, Mapping):
        raise ValueError(f"{path} holds a {type(data).__name__}, not a state dict (a dict "
                         "of tensors)")
    return dict(data)


def weights_format(keys: Any) -> str:
    """'torchvision' or 'caffe', from a weights dict's key naming; ValueError otherwise."""
    keys = set(keys)
    if "features.1.running_mean" in keys:
        raise ValueError("these are vgg16_bn weights (batch normalization); VGGStage1 takes "
                         "the plain vgg16")
    if any(k.startswith("features.") for k in keys):
        return "torchvision"
    if any(k.startswith("conv1_1.") for k in keys):
        return "caffe"
    raise ValueError("weights: neither torchvision vgg16 keys (features.0.weight ...) nor "
                     f"Caffe-converted keys (conv1_1.weight ...); found {sorted(keys)[:6]}")


class VGGStage1(nn.Module):
    """VGG-16 conv1_1 ... conv4_3 (frozen) -> FC 800 -> FC 800 -> 1 on 32x32 RGB patches.

    Input (P, 3, 32, 32) float RGB in [0, 1] (no LCN, see :attr:`expects_lcn`); it is
    preprocessed for the loaded weights' format (:attr:`weights_format`), then 3x3
    convolutions (padding 1) with ReLU and 2x2 max-pools after conv1_2, conv2_2,
    conv3_3 and conv4_3: 32 -> 16 -> 8 -> 4 -> 2, so (P, 512, 2, 2). The pool after
    conv4_3 is VGG's pool4: the paper names conv4_3 but gives the size after pool4,
    2x2x512, which we follow. Then two dense layers of 800 with ReLU, trained from
    scratch, and FC(1). No dropout: the paper gives none.

    :meth:`features` is the ReLU-activated output of the second FC 800, (P, 800), the
    hyper-image's D for the TID stage 2; :meth:`forward` is the patch score (P,).

    Args:
        weights: a weights file (see the module docstring), or None for random
            convolutions (He-normal; for tests, or to load later with
            :meth:`load_conv_weights`).
        freeze: the convolutions do not train (requires_grad False) and stay in eval
            mode when the module is put in training mode; only the dense layers train.
    """

    expects_lcn = False  # VGG subtracts a mean pixel; cut its patches without LCN
    input_shape = (3, 32, 32)  # (C, H, W)
    feature_dim = 800

    def __init__(self, weights: str | Path | None = None, *, freeze: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for name, cin, cout in CONVS:
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]
            if name in _POOL_AFTER:
                layers.append(nn.MaxPool2d(2))
        self.convs = nn.Sequential(*layers)
        self.fc1 = nn.Linear(512 * 2 * 2, self.feature_dim)
        self.fc2 = nn.Linear(self.feature_dim, self.feature_dim)
        self.out = nn.Linear(self.feature_dim, 1)
        self.relu = nn.ReLU()
        for m in [*self.convs, self.fc1, self.fc2]:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        nn.init.xavier_uniform_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        # The preprocessing lives in buffers, so it travels with the state dict.
        self.register_buffer("channel_order", torch.zeros(3, dtype=torch.long))
        self.register_buffer("pixel_scale", torch.ones(()))
        self.register_buffer("pixel_mean", torch.zeros(3, 1, 1))
        self.register_buffer("pixel_std", torch.ones(3, 1, 1))
        self._set_format("torchvision")
        self.freeze = bool(freeze)
        if self.freeze:
            for p in self.convs.parameters():
                p.requires_grad_(False)
            self.convs.eval()
        if weights is not None:
            self.load_conv_weights(weights)

    def _set_format(self, fmt: str) -> None:
        f = FORMATS[fmt]
        self.channel_order.copy_(torch.tensor(f["order"]))
        self.pixel_scale.fill_(f["scale"])
        self.pixel_mean.copy_(torch.tensor(f["mean"]).view(3, 1, 1))
        self.pixel_std.copy_(torch.tensor(f["std"]).view(3, 1, 1))

    @property
    def weights_format(self) -> str:
        """'torchvision' (RGB, [0, 1], ImageNet mean/std) or 'caffe' (BGR, 0-255, mean
        pixel): the preprocessing applied to the input."""
        return "caffe" if int(self.channel_order[0]) == 2 else "torchvision"

    def load_conv_weights(self, path: str | Path, *, format: str | None = None) -> str:
        """Loads conv1_1 ... conv4_3 from a weights file and sets the preprocessing.

        Args:
            path: a torchvision vgg16 state dict, or a Caffe-converted dict / .npz
                (see the module docstring); other keys are ignored.
            format: 'torchvision' or 'caffe' to override the preprocessing read from
                the key naming (e.g. Caffe weights renamed to torchvision keys).

        Returns:
            The format whose preprocessing is now applied.

        Raises:
            FileNotFoundError: no such file. ValueError: unreadable file, unknown key
            naming, or a missing key or wrong shape (naming the key and the shape
            expected). Nothing is changed when it raises.
        """
        if format is not None and format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)} or None, got "
                             f"{format!r}")
        data = _read_weights(Path(path))
        naming = weights_format(data.keys())
        convs = [m for m in self.convs if isinstance(m, nn.Conv2d)]
        new: list[tuple[Tensor, Tensor]] = []
        for (name, cin, cout), _ in zip(CONVS, convs):
            prefix = f"features.{TORCHVISION_INDEX[name]}" if naming == "torchvision" else name
            pair = []
            for part, shape in (("weight", (cout, cin, 3, 3)), ("bias", (cout,))):
                key = f"{prefix}.{part}"
                if key not in data:
                    raise ValueError(f"{path}: missing {key} ({name} {part}, shape {shape})")
                t = torch.as_tensor(np.asarray(data[key]) if not isinstance(data[key], Tensor)
                                    else data[key])
                if tuple(t.shape) != shape:
                    raise ValueError(f"{path}: {key} ({name} {part}) has shape "
                                     f"{tuple(t.shape)}, expected {shape}")
                if not torch.is_floating_point(t) or not torch.isfinite(t).all():
                    raise ValueError(f"{path}: {key} must hold finite floats")
                pair.append(t)
            new.append((pair[0], pair[1]))
        with torch.no_grad():
            for conv, (w, b) in zip(convs, new):
                conv.weight.copy_(w)
                conv.bias.copy_(b)
        fmt = format or naming
        self._set_format(fmt)
        return fmt

    def train(self, mode: bool = True) -> VGGStage1:
        """As nn.Module.train, but frozen convolutions stay in eval mode."""
        super().train(mode)
        if self.freeze:
            self.convs.eval()
        return self

    def _check(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"VGGStage1 takes (N, 3, 32, 32) RGB patches in [0, 1], got {got}")

    def conv_features(self, patches: Tensor) -> Tensor:
        """(P, 3, 32, 32) RGB in [0, 1] -> (P, 512, 2, 2): pool4 of the loaded VGG."""
        self._check(patches)
        x = patches[:, self.channel_order] * self.pixel_scale
        return self.convs((x - self.pixel_mean) / self.pixel_std)

    def features(self, patches: Tensor) -> Tensor:
        """(P, 3, 32, 32) -> (P, 800), the ReLU-activated second FC 800."""
        h = self.conv_features(patches).flatten(1)
        return self.relu(self.fc2(self.relu(self.fc1(h))))

    def forward(self, patches: Tensor) -> Tensor:
        """(P, 3, 32, 32) -> (P,) patch scores."""
        return self.out(self.features(patches)).squeeze(1)
