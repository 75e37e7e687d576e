"""The command line and the Kang stage-1 model."""

import numpy as np
import pytest
import torch

import hyperkit
from hyperkit.cli import main
from hyperkit.models import KangStage1


def test_kang_stage1_shapes():
    net = KangStage1(in_channels=3)
    x = torch.rand(5, 3, 32, 32)
    assert net.features(x).shape == (5, 800) and (net.features(x) >= 0).all()
    assert net(x).shape == (5,)
    net(x).sum().backward()  # gradients flow through the fused min+max pooling
    assert net.conv1.weight.grad.abs().sum() > 0


def test_demo_writes_hyperimages(tmp_path, capsys):
    out = tmp_path / "h.npy"
    main(["demo", "--images", "2", "--out", str(out)])
    h = np.load(out)
    assert h.shape == (2, 800, 23, 31) and np.isfinite(h).all()
    assert "(2, 800, 23, 31)" in capsys.readouterr().out


def test_info_and_bad_arguments(capsys):
    main(["info"])
    assert f"CUDA kernels usable: {hyperkit.cuda_available()}" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["demo", "--images", "0"])
