"""Benchmark inputs at the paper's sizes, made once per session (bench/kernel_cases.py)."""

import pytest
from kernel_cases import kang_conv1 as _kang_conv1
from kernel_cases import tid_images as _tid_images


@pytest.fixture(scope="session")
def tid_images():
    """8 TID2013-sized RGB images (8, 3, 384, 512), float32 in [0, 1]."""
    return _tid_images()


@pytest.fixture(scope="session")
def kang_conv1():
    """Kang et al.'s conv1 output for a 512-patch batch: (512, 50, 26, 26) float32."""
    return _kang_conv1()
