"""Choosing devices: what the user asked for, and where a model already is."""

import pytest
import torch
from torch import nn

from hyperkit.devices import module_device, resolve_device


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    auto = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("auto") == auto and resolve_device(None) == auto
    assert resolve_device() == auto


@pytest.mark.parametrize("bad", ["tpu", "gpu:0", 3.5, "meta"])
def test_resolve_device_errors(bad):
    with pytest.raises(ValueError, match="device"):
        resolve_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is usable here")
def test_cuda_without_a_gpu():
    with pytest.raises(ValueError, match="no usable CUDA"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="no usable CUDA"):
        resolve_device("cuda:1")


def test_module_device():
    assert module_device(nn.Linear(2, 2)) == torch.device("cpu")
    assert module_device(nn.ReLU()) == torch.device("cpu")  # no parameters
    assert module_device(lambda x: x) == torch.device("cpu")  # a plain callable
    if torch.cuda.is_available():
        assert module_device(nn.Linear(2, 2).cuda()).type == "cuda"


def test_describe_machine_names_what_decides_cpu_results():
    import torch

    from hyperkit.devices import describe_machine

    m = describe_machine()
    assert m["torch"] == torch.__version__
    assert m["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert isinstance(m["cpu"], str) and m["cpu"] and m["cpu_threads"] >= 1
