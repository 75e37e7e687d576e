"""Benchmark inputs at the paper's sizes, made once per session."""

import numpy as np
import pytest
import torch


@pytest.fixture(scope="session")
def tid_images():
    """8 TID2013-sized RGB images (8, 3, 384, 512), float32 in [0, 1]."""
    return torch.from_numpy(np.random.default_rng(0).random((8, 3, 384, 512), dtype=np.float32))


@pytest.fixture(scope="session")
def kang_conv1():
    """Kang et al.'s conv1 output for a 512-patch batch: (512, 50, 26, 26) float32."""
    return torch.randn(512, 50, 26, 26, generator=torch.Generator().manual_seed(0))
