"""hyperkit's CPU kernels against what a user would otherwise write (pytest-benchmark).

Run all and write bench/RESULTS.md:  python bench/run.py
Each group times hyperkit and its alternatives in the same process on the same input, one
implementation after another (bench/kernel_ratios.py times them interleaved instead).
The cases live in bench/kernel_cases.py.
"""

import math

import numpy as np
import pytest
import torch
from kernel_cases import (
    BATCH,
    GATHER,
    GRID,
    LCN,
    MINMAX,
    batch_cases,
    gather_cases,
    grid_minmax_cases,
    kang_map,
    lcn_cases,
    minmax_cases,
)

import hyperkit


@pytest.mark.benchmark(group=LCN)
@pytest.mark.parametrize("impl", ["hyperkit", "torch_conv2d", "opencv"])
def test_lcn(benchmark, tid_images, impl):
    out = benchmark(lcn_cases(tid_images)[impl])
    ref = hyperkit.lcn(tid_images.numpy())
    np.testing.assert_allclose(np.asarray(out), ref, atol=5e-3)  # same transform


@pytest.mark.benchmark(group=MINMAX)
@pytest.mark.parametrize("impl", ["hyperkit", "amax_amin", "max_pool2d_pair", "aminmax",
                                  "sum_floor"])
def test_minmax(benchmark, kang_conv1, impl):
    with torch.no_grad():
        benchmark(minmax_cases(kang_conv1)[impl])


@pytest.mark.benchmark(group=GATHER)
@pytest.mark.parametrize("impl", ["hyperkit", "unfold_contiguous"])
def test_gather(benchmark, tid_images, impl):
    out = benchmark(gather_cases(tid_images)[impl])
    u, v = hyperkit.grid_shape(384, 512, 32, 16)
    assert out.shape == (8 * u * v, 3, 32, 32) and math.isfinite(float(out[-1].sum()))


@pytest.mark.benchmark(group=BATCH)
@pytest.mark.parametrize("impl", ["hyperkit", "slice_stack"])
def test_training_batch(benchmark, impl):
    cases = batch_cases()
    out = benchmark(cases[impl])
    assert torch.equal(out, cases["slice_stack"]())


@pytest.fixture(scope="module", name="kang_map")
def kang_map_fixture():
    return kang_map()


@pytest.mark.benchmark(group=GRID)
@pytest.mark.parametrize("impl", ["hyperkit", "hyperkit_channels_last",
                                  "max_pool2d_pair_separable_index"])
def test_grid_minmax(benchmark, kang_map, impl):
    cases = grid_minmax_cases(kang_map)
    with torch.no_grad():
        mx, mn = benchmark(cases[impl])
        want = cases["max_pool2d_pair_separable_index"]()
    assert torch.equal(mx, want[0]) and torch.equal(mn, want[1])
