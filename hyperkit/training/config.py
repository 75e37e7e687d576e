"""Hyper-parameters of one training run, with the paper's protocol as defaults.

Section "NR-IQA", training paragraph: lr_0 = 0.005, Nesterov momentum 0.9,
lr_t = lr_0 * f / (1 + 1e-5 t) after t updates, where f starts at 1 and is divided by
10 whenever validation loss has not improved for ``plateau_patience`` epochs (the
paper gives no patience for the drop; we use half the early-stopping patience).
Stage 1 runs at most 80 epochs and stops after 20 without improvement, stage 2 200
and 40.

``optimizer='adam'`` swaps SGD for Adam under the same schedule: the default stage-2
recipe of the NR-IQA task (see :func:`hyperkit.training.recipes.stage2_recipe`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run; defaults are the paper's stage-1 protocol."""

    epochs: int = 80
    patience: int = 20
    plateau_patience: int = 10
    plateau_factor: float = 0.1
    batch_size: int = 128
    lr: float = 0.005
    momentum: float = 0.9
    nesterov: bool = True
    decay: float = 1e-5
    seed: int = 0
    optimizer: str = "sgd"  # 'sgd' (the paper: Nesterov momentum) or 'adam'
    weight_decay: float = 0.0
    # 'bf16': training steps under bfloat16 autocast (validation stays float32); only on
    # hardware with native bf16 (hyperkit.devices.native_bf16). float32 is the default
    # because results then agree across CPUs that differ only in bf16 support.
    precision: str = "float32"
    # On a CPU, each step's batch goes forward and backward in parts of this many samples
    # whose gradients add up to the whole batch's (0: in one piece). Small parts keep the
    # activations in cache: the forgery quick channel trains 1.3-1.4x faster in parts of
    # 16 pairs (bench/forgery_microbatch.py). Only objectives that are a mean over samples
    # and networks without batch norm are split (else the step is taken whole); dropout
    # draws differ from a whole step's.
    cpu_micro_batch: int = 0

    OPTIMIZERS = ("sgd", "adam")
    PRECISIONS = ("float32", "bf16")

    def __post_init__(self) -> None:
        for name in ("epochs", "patience", "plateau_patience", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        for name in ("lr", "momentum", "decay", "plateau_factor"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        v = self.cpu_micro_batch
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"cpu_micro_batch must be an integer >= 0 (0: whole batches), "
                             f"got {v!r}")
        if self.optimizer not in self.OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(self.OPTIMIZERS)}, got "
                             f"{self.optimizer!r}")
        if self.precision not in self.PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(self.PRECISIONS)}, got "
                             f"{self.precision!r}")
        if not isinstance(self.weight_decay, (int, float)) or not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be a number >= 0, got {self.weight_decay!r}")
        if self.lr == 0 or not 0 < self.plateau_factor <= 1:
            raise ValueError("lr must be > 0 and plateau_factor in (0, 1]")


def stage1_config(**overrides: Any) -> TrainConfig:
    """The paper's stage-1 protocol: at most 80 epochs, early stop after 20."""
    return TrainConfig(**{"epochs": 80, "patience": 20, "plateau_patience": 10, **overrides})


def stage2_config(**overrides: Any) -> TrainConfig:
    """The paper's stage-2 protocol: at most 200 epochs, early stop after 40."""
    return TrainConfig(**{"epochs": 200, "patience": 40, "plateau_patience": 20, **overrides})
