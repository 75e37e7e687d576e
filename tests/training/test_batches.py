"""Batch sources: ArraySource over numpy (memory-mapped too) or torch arrays, and
as_source, which fit uses to accept either a source or an (inputs, labels) pair."""

import numpy as np
import pytest
import torch

from hyperkit.batching import all_finite, to_device
from hyperkit.training import ArraySource, BatchSource
from hyperkit.training.batches import as_source


@pytest.mark.parametrize("form", ["numpy", "memmap", "torch"])
def test_array_source_batches(tmp_path, form):
    rng = np.random.default_rng(0)
    x = rng.random((20, 2, 3, 3)).astype(np.float32)
    y = rng.random(20)
    if form == "memmap":
        np.save(tmp_path / "x.npy", x)
        inputs = np.load(tmp_path / "x.npy", mmap_mode="r")
    elif form == "torch":
        inputs = torch.from_numpy(x)
    else:
        inputs = x
    src = ArraySource(inputs, y)
    assert isinstance(src, BatchSource) and len(src) == 20
    idx = np.array([19, 0, 7, 7])
    (b,), t = src.batch(idx)
    assert isinstance(b, torch.Tensor) and isinstance(t, torch.Tensor)
    np.testing.assert_array_equal(b.numpy(), x[idx])
    assert t.dtype == torch.float32
    np.testing.assert_array_equal(t.numpy(), y[idx].astype(np.float32))


def test_labels_are_flattened():
    src = ArraySource(np.zeros((4, 1)), torch.arange(4.0)[:, None])
    assert src.batch(np.array([3]))[1].tolist() == [3.0]


@pytest.mark.parametrize("inputs, labels, exc, words", [
    ([[1.0], [2.0]], np.zeros(2), TypeError, "train inputs must be a numpy array"),
    (np.zeros((2, 1)), [0.0, 1.0], TypeError, "train labels must be"),
    (np.zeros((3, 1)), np.zeros(2), ValueError, "3 inputs and 2 labels"),
    (np.zeros((0, 1)), np.zeros(0), ValueError, "non-zero"),
    (np.zeros((2, 1)), np.array([0.0, np.inf]), ValueError, "train labels contain NaN or Inf"),
])
def test_array_source_errors(inputs, labels, exc, words):
    with pytest.raises(exc, match=words):
        ArraySource(inputs, labels, "train")


def test_as_source():
    x, y = np.zeros((3, 2)), np.zeros(3)
    src = as_source((x, y), "train")
    assert isinstance(src, ArraySource) and len(src) == 3
    assert isinstance(as_source([x, y], "train"), ArraySource)
    assert as_source(src, "train") is src

    class Empty:
        def __len__(self):
            return 0

        def batch(self, idx):
            raise AssertionError

    with pytest.raises(ValueError, match="val is empty"):
        as_source(Empty(), "val")
    with pytest.raises(TypeError, match="val must be a batch source"):
        as_source(x, "val")
    with pytest.raises(TypeError, match="or a pair"):
        as_source((x, y, y), "val")


@pytest.mark.parametrize("bad", [[float("nan")], [float("inf")], [float("-inf")],
                                 [float("inf"), float("-inf")]])
def test_all_finite_finds_every_non_finite_value(bad):
    x = torch.ones(4, 5, 6)
    assert all_finite(x)
    x.view(-1)[7:7 + len(bad)] = torch.tensor(bad)
    assert not all_finite(x)


def test_all_finite_is_exact_when_finite_values_sum_past_float_max():
    x = torch.full((3,), 3e38)  # the float32 sum overflows; every value is finite
    assert not torch.isfinite(x.sum())
    assert all_finite(x)
    assert all_finite(torch.empty(0)) and all_finite(torch.arange(3))
    h = torch.full((70_000,), 60_000.0, dtype=torch.float16)  # float16 sum would overflow
    assert all_finite(h)
    h[5] = float("nan")
    assert not all_finite(h)
    c = torch.ones(3, dtype=torch.complex64)
    assert all_finite(c)
    c[1] = complex(float("nan"), 0.0)
    assert not all_finite(c)


def test_to_device_refuses_a_non_finite_batch():
    x = torch.zeros(2, 3)
    x[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        to_device(((x,), torch.zeros(2)), torch.device("cpu"))
