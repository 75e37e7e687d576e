"""The command-line tests' shared model: the small trained gray model of tests/conftest.py
(16 x 16 patches, 3 x 3 grid), saved as a model folder once per module."""

import pytest

from hyperkit.model import TwoStage


@pytest.fixture(scope="module")
def model_dir(trained, tmp_path_factory):
    """The model folder of the shared gray model."""
    model = trained[0]
    d = tmp_path_factory.mktemp("cli_model") / "model"
    TwoStage(model.stage1, model.stage2, stage1_arch=model.stage1_arch,
             stage2_arch=model.stage2_arch, patch=model.patch, grid=model.grid,
             lcn=model.lcn, meta={"score_meaning": "test score"}).save(d)
    return d
