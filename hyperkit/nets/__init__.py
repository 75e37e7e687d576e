"""Networks: the paper's architecture notation (arch), the presets of Tables 4 and 5
(presets), Kang et al.'s stage 1 (kang) and VGG-16 to conv4_3 (vgg). Every network has
``features(x) -> (N, D)``, ``forward(x)`` and an ``input_shape`` (C, H, W)."""

from .arch import Layer, SpecNet, parse
from .heads import GridHead, HeadEnsemble
from .kang import KangStage1
from .presets import BUILDERS, PRESETS, build, count_parameters, input_shape, preset_names
from .vgg import VGGStage1

__all__ = ["BUILDERS", "GridHead", "HeadEnsemble", "KangStage1", "Layer", "PRESETS", "SpecNet",
           "VGGStage1", "build", "count_parameters", "input_shape", "parse", "preset_names"]
