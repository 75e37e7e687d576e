"""Loading the compiled kernel modules and routing a call to the CPU or the GPU."""

import numpy as np
import pytest
import torch

import hyperkit
from hyperkit import _C
from hyperkit.ops import kernels

from ..conftest import needs_cuda


def test_cpu_module_is_the_compiled_extension():
    assert kernels.cpu is _C
    assert _C.get_num_threads() >= 1
    with pytest.raises(ValueError, match="n must be >= 1"):
        _C.set_num_threads(0)


def test_cuda_available_agrees_with_cuda():
    assert hyperkit.cuda_available() == kernels.cuda_available()
    if kernels.cuda_available():
        assert kernels.cuda().device_count() >= 1
    else:
        with pytest.raises(RuntimeError, match="CUDA"):
            kernels.cuda()


def test_launch_routes_cpu_data_to_the_cpu_module():
    x = np.random.default_rng(0).random((2, 9, 11))
    for like in (x, torch.from_numpy(x)):
        out = np.empty_like(x)
        bad = kernels.launch(like, "lcn", "float64", x.ctypes.data, out.ctypes.data, 2, 9, 11,
                             3, 7 / 6, 1 / 255)
        assert not bad
        np.testing.assert_array_equal(out, hyperkit.lcn(x))


@needs_cuda
def test_launch_routes_gpu_data_to_its_own_device():
    x = torch.rand(2, 3, 26, 26, device="cuda")
    assert hyperkit.lcn(x).device == x.device
    if torch.cuda.device_count() >= 2:
        y = torch.rand(2, 3, 26, 26, device="cuda:1")
        torch.testing.assert_close(hyperkit.lcn(y).cpu(), hyperkit.lcn(y.cpu()))
