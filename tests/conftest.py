"""Shared test settings: hypothesis profiles sized for the 2-core CI machine, and the
``device`` fixture that runs a test on the CPU and, where the CUDA kernels are usable,
on the GPU (the CUDA case is skipped cleanly elsewhere)."""

import os

import pytest
from hypothesis import HealthCheck, settings

import hyperkit

settings.register_profile(
    "ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

CUDA = hyperkit.cuda_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no usable CUDA device")


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=needs_cuda)])
def device(request):
    """'cpu', then 'cuda' (skipped unless hyperkit's CUDA kernels are usable)."""
    return request.param


# ---- a small trained two-stage model, shared by tests/test_model.py and
# tests/training/test_recipes.py (training it is the slow part)

S1 = "Input(16,16) - C(4) - MP(2) - C(8) - MP(4) - FC(12) - FC(1,'linear')"
S2 = "Input(3,3,12) - C(8) - MP(2) - FC(8) - FC(1,'linear')"


def two_stage_config():
    from hyperkit.training import TrainConfig

    return TrainConfig(epochs=2, patience=2, batch_size=64, seed=0)


def two_stage_kwargs(workdir):
    """train_two_stage's keyword arguments for the shared model."""
    cfg = two_stage_config()
    return dict(stage1_arch=S1, stage2_arch=S2, patch=(16, 16), grid=(3, 3), lcn=False,
                stage1_config=cfg, stage2_config=cfg, workdir=workdir, log=None,
                progress=False)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """(model, fits, data, folder): trained on images 0..23, validated on 24..31 of a
    40-image synthetic set; folder/work holds its checkpoints and hyper-image cache."""
    from hyperkit.data import synthetic
    from hyperkit.training.recipes import train_two_stage

    d = synthetic.generate(40, 0)
    wd = tmp_path_factory.mktemp("two")
    model, fits = train_two_stage(
        list(d.images[:24]), d.scores[:24], list(d.images[24:32]), d.scores[24:32],
        **two_stage_kwargs(wd / "work"))
    return model, fits, d, wd
# the saved model's score meaning, which the command-line tests read back
MEANING = "test score, higher is better, with a comma"


@pytest.fixture(scope="session")
def trained_model_dir(trained, tmp_path_factory):
    """The shared model (16x16 patches, 3x3 grid) saved as a model folder with
    :data:`MEANING`, for the command-line tests."""
    from hyperkit.model import TwoStage

    model = trained[0]
    d = tmp_path_factory.mktemp("cli_model") / "model"
    TwoStage(model.stage1, model.stage2, stage1_arch=model.stage1_arch,
             stage2_arch=model.stage2_arch, patch=model.patch, grid=model.grid,
             lcn=model.lcn, meta={"score_meaning": MEANING}).save(d)
    return d
