"""Training: a task-agnostic loop (loop.fit) with pluggable objectives, its
configuration, checkpoints and DDP helpers, and the two-stage recipes.

    from hyperkit.training import fit, MAE, stage1_config
    fit(model, (x_train, y_train), (x_val, y_val), MAE(), stage1_config(), checkpoint="run.ckpt")
"""

from .batches import ArraySource, BatchSource
from .config import TrainConfig, stage1_config, stage2_config
from .dist import init_distributed
from .loop import FitResult, FitState, fit, predict
from .objectives import (
    MAE,
    MAEPlusPLCC,
    Objective,
    RankingHinge,
    RankingHingePatchScore,
    WeightedBCE,
)

__all__ = ["ArraySource", "BatchSource", "FitResult", "FitState", "MAE", "MAEPlusPLCC",
           "Objective", "RankingHinge", "RankingHingePatchScore", "TrainConfig", "WeightedBCE",
           "fit", "init_distributed", "predict", "stage1_config", "stage2_config"]
