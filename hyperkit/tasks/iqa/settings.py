"""What an NR-IQA run is: its size (:class:`Setting`), its choices (:class:`Options`), the
paper's experiments (Table 2) and their published figures."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ... import checks
from ...data.iqa.selection import DEFAULT_THRESHOLD
from ...runs import settings_record
from ...training.config import TrainConfig, stage1_config
from ...training.recipes import STAGE2_RECIPES, stage2_recipe

PATCH = (32, 32)
DEFAULT_RECIPE = "adam"  # docs "Stage 2 on real photographs": the paper's dies there
# Each dataset's networks and grid (DatasetSpec) sit beside its loader in
# hyperkit.data.iqa; SPECS (name -> DatasetSpec) is read from that table.

EXPERIMENTS: dict[int, tuple[str, ...]] = {
    1: ("cnn_selective", "two_stage"),
    2: ("cnn", "cnn_selective", "two_stage"),
    3: ("cnn_selective", "two_stage"),
    4: ("shallow_e2e", "deep_e2e"),
    5: ("vgg_patch_average", "vgg_two_stage"),
}
# Experiment 3: TID2013 distortion subsets (hyperkit.data.iqa.tid2013.TID_SUBSETS).
EXP3_SUBSETS = ("live4", "live4+local", "all")
# Table 2, (SROCC, PLCC); None where the source is illegible.
PAPER: dict[int, dict] = {
    1: {"cnn_selective": (0.956, 0.953), "two_stage": (0.9581, 0.9585)},
    2: {"cnn": (0.6618, 0.6907), "cnn_selective": (0.761, 0.7627),
        "two_stage": (0.7875, 0.7738)},
    3: {"live4": {"cnn_selective": (0.92, 0.921), "two_stage": (0.932, 0.932)},
        "live4+local": {"cnn_selective": (0.625, None), "two_stage": (0.76, 0.755)},
        "all": {"cnn_selective": (0.761, 0.763), "two_stage": (0.788, 0.774)}},
    4: {"shallow_e2e": (None, 0.4082), "deep_e2e": (0.3952, 0.52)},
    5: {"vgg_patch_average": (0.6236, 0.6843), "vgg_two_stage": (0.6878, 0.713)},
}


@dataclass(frozen=True)
class Setting:
    """Size of an NR-IQA run. 'full' is the paper's protocol (80/20 and 200/40 epochs)."""

    name: str
    stage1_epochs: int
    stage1_patience: int
    stage2_epochs: int
    stage2_patience: int
    e2e_epochs: int
    e2e_patience: int
    stage1_batch: int = 128
    stage2_batch: int = 16
    e2e_batch: int = 8
    stage1_precision: str = "float32"  # or 'bf16' (TrainConfig.precision; --precision)

    def stage1(self, seed: int, **kw: Any) -> TrainConfig:
        """Stage-1 configuration (the paper's SGD protocol) for ``seed``."""
        return stage1_config(**{"epochs": self.stage1_epochs, "patience": self.stage1_patience,
                                "plateau_patience": max(2, self.stage1_patience // 2),
                                "batch_size": self.stage1_batch, "seed": seed,
                                "precision": self.stage1_precision, **kw})

    def record(self) -> dict:
        """The setting as config.json and results.json record it
        (:func:`hyperkit.runs.settings_record`; stage1_precision came later)."""
        return settings_record(self, later=("stage1_precision",))

    def stage2(self, seed: int, recipe: str) -> tuple[TrainConfig, bool]:
        """Stage-2 configuration of ``recipe`` for ``seed``, and whether to standardize."""
        return stage2_recipe(recipe, epochs=self.stage2_epochs, patience=self.stage2_patience,
                             plateau_patience=max(2, self.stage2_patience // 2),
                             batch_size=self.stage2_batch, seed=seed)

    def e2e(self, seed: int) -> TrainConfig:
        """End-to-end configuration (the stage-1 protocol, the e2e budget) for ``seed``."""
        return stage1_config(epochs=self.e2e_epochs, patience=self.e2e_patience,
                             plateau_patience=max(2, self.e2e_patience // 2),
                             batch_size=self.e2e_batch, seed=seed)


SETTINGS = {
    "quick": Setting("quick", stage1_epochs=12, stage1_patience=4, stage2_epochs=40,
                     stage2_patience=12, e2e_epochs=4, e2e_patience=2),
    "full": Setting("full", stage1_epochs=80, stage1_patience=20, stage2_epochs=200,
                    stage2_patience=40, e2e_epochs=80, e2e_patience=20),
}


@dataclass(frozen=True)
class Options:
    """The choices of one run besides data set, experiment and size."""

    splits: int = 1
    seed: int = 0
    ssim_threshold: float = DEFAULT_THRESHOLD
    balance: str = "oversample"
    stage2_recipe: str = DEFAULT_RECIPE
    arms: tuple[str, ...] | None = None  # None: the experiment's
    vgg_weights: str | None = None
    vgg_random: bool = False  # tests only: a VGG with random weights
    splits_file: str | None = None
    # the prepared-image cache's dtype: 'float32' (exact) or 'float16' (half the disk and
    # page cache; bench/RESULTS.md "prepared-cache" has its measured effect on training)
    cache_dtype: str = "float32"

    def record(self) -> dict:
        """The options as config.json records them: ``cache_dtype`` only when it is not
        the default, so that runs made before the option resume and join unchanged."""
        out = {**asdict(self), "splits": None}
        if self.cache_dtype == "float32":
            del out["cache_dtype"]
        return out


def check_options(opts: Options) -> None:
    """ValueError naming the first option out of its range."""
    if opts.stage2_recipe not in STAGE2_RECIPES:
        raise ValueError(f"stage2_recipe must be one of {', '.join(STAGE2_RECIPES)}, got "
                         f"{opts.stage2_recipe!r}")
    if not (isinstance(opts.ssim_threshold, (int, float)) and 0 < opts.ssim_threshold <= 1):
        raise ValueError(f"ssim_threshold must be in (0, 1], got {opts.ssim_threshold!r}")
    if opts.balance not in ("oversample", "undersample", "none"):
        raise ValueError(f"balance must be oversample, undersample or none, got "
                         f"{opts.balance!r}")
    if opts.cache_dtype not in ("float32", "float16"):
        raise ValueError(f"cache_dtype must be float32 or float16, got {opts.cache_dtype!r}")
    if not isinstance(opts.splits, int) or opts.splits < 1:
        raise ValueError(f"splits must be an integer >= 1, got {opts.splits!r}")


def resolve_setting(setting: str | Setting) -> Setting:
    """A :class:`Setting` from its name in :data:`SETTINGS` (or itself)."""
    return checks.named(setting, SETTINGS, Setting, "setting")
