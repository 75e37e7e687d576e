"""The named networks of Tables 4 and 5, and building any network by name or string."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .arch import SpecNet
from .heads import build_head, parse_head
from .kang import KangStage1
from .vgg import VGGStage1

# Table 4. Synthetic stage 1: the paper prints Input(128, 128) with five MP(2), but
# stage 1 is trained on the 16x16 patches (the 10x10x400 stage-2 input is a grid of
# them). Five halvings cannot apply to 16x16, so we take 16x16 inputs and drop the
# last MP(2): 16 -> 8 -> 4 -> 2 -> 1, after which 2xC(128) and the dense layers run
# as printed.
PRESETS: dict[str, str] = {
    "synthetic_stage1": "Input(16,16,1) - C(16) - MP(2) - C(32) - MP(2) - 2xC(48) - MP(2) - "
                        "2xC(64) - MP(2) - 2xC(128) - FC(400) - Drop(0.5) - FC(400) - "
                        "Drop(0.5) - FC(1,'linear')",
    "synthetic_stage2": "Input(10,10,400) - 2xC(16) - MP(2) - 2xC(32) - MP(2) - 2xC(64) - "
                        "MP(2) - FC(400) - Drop(0.5) - FC(400,'tanh') - Drop(0.5) - "
                        "FC(1,'linear')",
    "live_stage2": "Input(24,23,800) - 2xC(32) - MP(2) - 2xC(48) - MP(2) - 2xC(64) - MP(2) - "
                   "2xC(128) - MP(2) - FC(500) - Drop(0.5) - FC(500,'tanh') - Drop(0.5) - "
                   "FC(1,'linear')",
    "tid_stage2": "Input(23,31,800) - 2xC(64) - MP(2) - 2xC(64) - MP(2) - 2xC(128) - MP(2) - "
                  "2xC(128) - MP(2) - FC(500) - Drop(0.5) - FC(500,'tanh') - Drop(0.5) - "
                  "FC(1,'linear')",
    "tid_shallow_e2e": "Input(384,512,3) - C(32,7,2) - MP(2) - C(64,7,1) - MP(2) - "
                       "2*(C(128) - MP(2)) - 2*(C(256)) - MP(2) - FC(400) - Drop(0.25) - "
                       "FC(400,'tanh') - Drop(0.25) - FC(1,'linear')",
    "tid_deep_e2e": "Input(384,512,3) - C(32) - MP(2) - C(64) - MP(2) - 2*(C(128) - MP(2)) - "
                    "2*(C(256) - C(256) - MP(2)) - 2*(C(512) - C(512) - MP(2)) - FC(400) - "
                    "Drop(0.25) - FC(400,'tanh') - Drop(0.25) - FC(1,'linear')",
    "forgery_channel": "Input(64,64,3) - 2xC(64) - MP(2) - 2xC(128) - MP(2) - 2xC(128) - "
                       "MP(2) - 2xC(256) - MP(2) - FC(500) - Drop(0.5) - FC(500) - Drop(0.5)",
    "forgery_stage2": "Input(15,15,500) - 3xC(64) - MP(2) - 3xC(128) - MP(2) - 3xC(256) - "
                      "MP(2) - FC(800) - Drop(0.5) - FC(800) - Drop(0.5) - FC(1,'sigmoid')",
    "forgery_e2e": "Input(256,384,3) - C(32) - MP(2) - C(64) - MP(2) - 2xC(64) - MP(2) - "
                   "2xC(128) - MP(2) - 2xC(256) - MP(2) - FC(500) - Drop(0.5) - FC(500) - "
                   "Drop(0.5) - FC(1,'sigmoid')",
}
# Table 5 (Kang et al.): a 'valid' 7x7 convolution and the fused min+max pooling op,
# which the Table 4 grammar does not describe.
BUILDERS: dict[str, Callable[[], nn.Module]] = {
    "live_stage1": lambda: KangStage1(in_channels=1),
    "tid_stage1": lambda: KangStage1(in_channels=3),
    # Experiment 5: VGG-16 to conv4_3 (frozen) + 2 x FC 800. Random convolutions here;
    # the runner loads the user's weights with VGGStage1.load_conv_weights(path).
    "vgg16_stage1": lambda: VGGStage1(),
}


def preset_names() -> list[str]:
    """Every named architecture of Tables 4 and 5."""
    return sorted([*PRESETS, *BUILDERS])


def build(arch: str) -> nn.Module:
    """A fresh network from a preset name or an architecture string.

    Every returned module has ``features(x) -> (N, D)`` and ``forward(x)``.
    """
    if not isinstance(arch, str):
        raise TypeError(f"arch must be a preset name or architecture string, got "
                        f"{type(arch).__name__}")
    if arch in BUILDERS:
        return BUILDERS[arch]()
    if arch in PRESETS:
        return SpecNet(PRESETS[arch])
    if parse_head(arch) is not None:  # head(D,U,V,...): a cell-weighted stage 2
        return build_head(arch)
    if "(" not in arch:
        raise ValueError(f"unknown preset {arch!r}; expected one of {', '.join(preset_names())} "
                         "or an architecture string such as 'Input(16,16) - C(8) - FC(1,'linear')'")
    return SpecNet(arch)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def input_shape(model: nn.Module) -> tuple[int, int, int]:
    """(C, H, W) a network expects: every hyperkit network declares ``input_shape``."""
    shape = getattr(model, "input_shape", None)
    if shape is None:
        raise TypeError(f"no known input shape for {type(model).__name__} (give the module an "
                        "input_shape attribute (C, H, W))")
    return tuple(shape)
