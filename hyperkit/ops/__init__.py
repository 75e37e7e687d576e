"""hyperkit's kernels as array functions and torch ops, one module per op.

Each op takes numpy arrays, torch tensors (CPU or CUDA) or cupy arrays and returns the
caller's type on the caller's device; torch calls go through ``torch.ops.hyperkit.*``
(torch.library: fake kernels for torch.compile, autograd where it applies).
"""

from .conv_grid_minmax import conv_grid_minmax
from .conv_minmax import conv_minmax
from .gather_patches import gather_patches
from .grid_minmax_pool import grid_minmax_pool
from .kernels import cuda_available
from .lcn import LocalContrastNorm, lcn
from .minmax_pool2d import MinMaxPool2d, minmax_pool2d

__all__ = ["LocalContrastNorm", "MinMaxPool2d", "conv_grid_minmax", "conv_minmax",
           "cuda_available", "gather_patches", "grid_minmax_pool", "lcn", "minmax_pool2d"]
