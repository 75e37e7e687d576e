"""Kang et al.'s NR-IQA network (Table 5 of the paper): the LIVE and TID2013 stage 1."""

from __future__ import annotations

from torch import Tensor, nn

from ..ops.minmax_pool2d import MinMaxPool2d


class KangStage1(nn.Module):
    """Table 5: Conv1 50x7x7 -> global MaxPool + MinPool -> Concat -> FC1 800 -> FC2 800 -> 1.

    Input (P, C, 32, 32) patches (C = 3 for TID2013, 1 for LIVE); Conv1 gives
    (P, 50, 26, 26), pooled to (P, 100). :meth:`features` is the ReLU-activated FC2
    output (P, 800), the hyper-image's D = 800; :meth:`forward` is the score (P,).
    """

    def __init__(self, in_channels: int = 3, patch: int = 32, kernels: int = 50,
                 hidden: int = 800) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, kernels, 7)
        self.pool = MinMaxPool2d(concat=True)  # Concat(MinPool, MaxPool), global 26x26
        self.fc1 = nn.Linear(2 * kernels, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)
        self.relu = nn.ReLU()
        self.patch = patch
        self.input_shape = (in_channels, patch, patch)  # (C, H, W), as SpecNet declares it
        self.feature_dim = hidden

    def features(self, patches: Tensor) -> Tensor:
        """(P, C, 32, 32) -> (P, 800), the ReLU-activated penultimate layer."""
        h = self.pool(self.conv1(patches)).flatten(1)
        return self.relu(self.fc2(self.relu(self.fc1(h))))

    def forward(self, patches: Tensor) -> Tensor:
        """(P, C, 32, 32) -> (P,) patch scores."""
        return self.out(self.features(patches)).squeeze(1)
