"""hyperkit: CNN hyper-image representations (Chandakkar & Li) with fused kernels.

Stage 1 is a CNN trained on labelled patches; the ReLU-activated penultimate
features of a U x V grid of an image's patches form a (D, U, V) hyper-image, which a
second CNN maps to the image label.
"""

from .grid import grid_positions, grid_shape
from .hyperimage import build_hyperimage
from .images import as_image_tensor
from .model import TwoStage, load_model
from .ops import (LocalContrastNorm, MinMaxPool2d, cuda_available, gather_patches, lcn,
                  minmax_pool2d)

__version__ = "0.2.0"

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
