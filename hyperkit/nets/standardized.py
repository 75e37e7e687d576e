"""A stage-2 network that standardizes its inputs and outputs, with the statistics
stored in the network (buffers), so a saved model predicts on the label's own scale.

Why: a hyper-image has D = 800 (or 500) ReLU channels whose scales differ by orders
of magnitude, and IQA labels sit far from 0 (DMOS 0-100, MOS 0-9). Standardizing both
is what lets the default stage-2 recipe learn on real photographs (see
:mod:`hyperkit.training.recipes`); keeping the statistics inside the module means
``predict``, ``save`` and ``load`` need no side files.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

FOLD_MAX_SHIFT = 30.0  # largest |mean| / std for which Standardized folds (see forward)


def max_shift(shift: Tensor) -> float:
    """The largest |mean| / std of a (D,) shift, read back to the host."""
    return float(shift.abs().max())


class Standardized(nn.Module):
    """``net((x - in_mean) / in_std) * out_std + out_mean`` for x (N, D, U, V).

    Args:
        net: the wrapped stage-2 network; its ``input_shape`` is forwarded.
        channels: D, the number of hyper-image channels.
    """

    def __init__(self, net: nn.Module, channels: int) -> None:
        super().__init__()
        self.net = net
        self.input_shape = getattr(net, "input_shape", None)
        self.register_buffer("in_mean", torch.zeros(channels))
        self.register_buffer("in_std", torch.ones(channels))
        self.register_buffer("out_mean", torch.zeros(()))
        self.register_buffer("out_std", torch.ones(()))

    def fit_statistics(self, hyper: Any, labels: Any, chunk: int = 32) -> Standardized:
        """Sets the buffers from training hyper-images (N, D, U, V) (numpy, memory-mapped
        is fine: read in chunks of ``chunk`` images) and labels (N,).

        Per-channel mean and standard deviation over every cell of every image
        (float64 sums); a channel that never varies (a dead ReLU) gets std 1 so it
        stays 0 instead of dividing by 0.
        """
        n, d = len(hyper), hyper.shape[1]
        if d != self.in_mean.numel():
            raise ValueError(f"hyper-images have {d} channels, this stage 2 takes "
                             f"{self.in_mean.numel()}")
        s, s2, count = np.zeros(d), np.zeros(d), 0
        for i in range(0, n, chunk):
            x = np.asarray(hyper[i:i + chunk], dtype=np.float64)
            s += x.sum(axis=(0, 2, 3))
            s2 += (x * x).sum(axis=(0, 2, 3))
            count += x.shape[0] * x.shape[2] * x.shape[3]
        mean = s / count
        std = np.sqrt(np.maximum(s2 / count - mean * mean, 0.0))
        std[std < 1e-6 * (1 + np.abs(mean))] = 1.0
        y = np.asarray(labels, dtype=np.float64)
        ystd = float(y.std()) if y.std() > 0 else 1.0
        with torch.no_grad():
            self.in_mean.copy_(torch.from_numpy(mean))
            self.in_std.copy_(torch.from_numpy(std))
            self.out_mean.fill_(float(y.mean()))
            self.out_std.fill_(ystd)
        return self

    def forward(self, x: Tensor) -> Tensor:
        shift = self._fold_shift()
        if shift is not None:
            return self.net.forward_affine(x, 1 / self.in_std, shift) * self.out_std \
                + self.out_mean
        z = (x - self.in_mean[:, None, None]) / self.in_std[:, None, None]
        return self.net(z) * self.out_std + self.out_mean

    def _fold_shift(self) -> Tensor | None:
        """-in_mean / in_std (D,) when the net folds the affine into its first layer (no
        copy of x), else None. Folded, each sum subtracts the channel means inside it, so
        float32 rounding grows with |mean| / std (measured at 800 x 23 x 31: 6e-5 of the
        output at 100, 5e-4 at 1,000, against 1e-6 unfolded); beyond FOLD_MAX_SHIFT the
        explicit route runs (forgery hyper-images measured so far stay under 2). The
        test reads the statistics back from the device, so it is decided once per
        version of the buffers (an in-place change, a load or a move redoes it; a write
        through ``.data`` bypasses the version counter), not once per batch: on a GPU
        that read is a synchronization."""
        if getattr(self.net, "forward_affine", None) is None:
            return None
        shift = -self.in_mean / self.in_std
        key = (self.in_mean.data_ptr(), self.in_mean._version, self.in_std.data_ptr(),
               self.in_std._version)
        if self.__dict__.get("_fold_key") != key:
            self._fold_ok = max_shift(shift) <= FOLD_MAX_SHIFT
            self._fold_key = key
        return shift if self._fold_ok else None

    def features(self, x: Tensor) -> Tensor:
        """The wrapped network's features of standardized inputs."""
        return self.net.features((x - self.in_mean[:, None, None]) / self.in_std[:, None, None])
