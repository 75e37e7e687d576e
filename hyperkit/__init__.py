"""hyperkit: CNN hyper-image representations (Chandakkar & Li) with fused kernels.

Stage 1 is a CNN trained on labelled patches; the ReLU-activated penultimate
features of a U x V grid of an image's patches form a (D, U, V) hyper-image, which a
second CNN maps to the image label.
"""

from ._ext import cuda_available
from .grid import gather_patches, grid_positions, grid_shape
from .hyperimage import as_image_tensor, build_hyperimage
from .lcn import LocalContrastNorm, lcn
from .pooling import MinMaxPool2d, minmax_pool2d
from .twostage import TwoStage, load_model

__version__ = "0.1.0"

__all__ = [
    "LocalContrastNorm",
    "MinMaxPool2d",
    "TwoStage",
    "as_image_tensor",
    "build_hyperimage",
    "cuda_available",
    "gather_patches",
    "grid_positions",
    "grid_shape",
    "lcn",
    "load_model",
    "minmax_pool2d",
]
