"""Array interop: kinds, dtype names, contiguity, addresses and outputs like the input."""

import numpy as np
import pytest
import torch

from hyperkit import interop


def test_kind_and_dtype_name():
    assert interop.kind(np.zeros(2), "x") == "numpy"
    assert interop.kind(torch.zeros(2), "x") == "torch"
    with pytest.raises(TypeError, match="images must be a numpy array, torch tensor or cupy "
                                        "array, got list"):
        interop.kind([1.0], "images")
    assert interop.dtype_name(np.zeros(2, np.uint8)) == "uint8"
    assert interop.dtype_name(torch.zeros(2, dtype=torch.float64)) == "float64"
    assert interop.dtype_name(torch.zeros(2, dtype=torch.int64)) == "int64"


def test_is_cuda(device):
    assert interop.is_cuda(torch.zeros(2, device=device)) == (device == "cuda")
    assert not interop.is_cuda(np.zeros(2))


def test_contiguous_and_address():
    a = np.arange(12.0).reshape(3, 4)
    assert interop.contiguous(a) is a
    at = interop.contiguous(a.T)
    assert at.flags.c_contiguous and np.array_equal(at, a.T)
    assert interop.address(a) == a.ctypes.data
    t = torch.arange(12.0).reshape(3, 4)
    assert interop.contiguous(t) is t
    tt = interop.contiguous(t.T)
    assert tt.is_contiguous() and torch.equal(tt, t.T)
    assert interop.address(t) == t.data_ptr()


def test_empty_is_like_the_input(device):
    e = interop.empty(np.zeros(1, np.float32), (2, 3))
    assert isinstance(e, np.ndarray) and e.shape == (2, 3) and e.dtype == np.float32
    e = interop.empty(np.zeros(1, np.float32), (4,), "int64")
    assert e.dtype == np.int64
    t = interop.empty(torch.zeros(1, dtype=torch.float64, device=device), (2, 5))
    assert isinstance(t, torch.Tensor) and t.shape == (2, 5) and t.dtype == torch.float64
    assert t.device.type == device and t.is_contiguous()
    i = interop.empty(torch.zeros(1, device=device), (3,), "int64")
    assert i.dtype == torch.int64 and i.device.type == device
