"""What a forgery run is: its networks, sizes and seeds (:class:`Setting`), the labels, and
the paper's Table 3 figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ... import checks, nets
from ...data.forgery.splices import JPEG_SHARE
from ...runs import settings_record
from ...training.config import TrainConfig, stage1_config
from ...training.recipes import stage2_recipe
from ...views import check_views

PATCH = 64
MARGIN = 3.0  # delta of the ranking hinge
CLASSES = ["tampered", "authentic"]  # label 0, label 1 (the paper: 1 = authentic)
SCORE_MEANING = ("probability that the image is authentic (label 1, as in the paper); "
                 "below 0.5 reads tampered")
APPROACHES = {"e2e": "End-to-end CNN (experiment 1)",
              "two_stage": "Proposed two-stage CNN (experiment 2)",
              "format_only": "Format-only baseline: file format, JPEG tables, bytes per pixel, "
                             "size (no pixels; a leak check)",
              "dct_markov": "DCT Markov features of Cr + RBF SVM (Sutthiwan et al. 2011's "
                            "feature family)",
              "fused": "Two-stage + DCT Markov, late fusion (mean of their logits, each "
                       "standardized on the validation images)",
              "fused_weighted": "Two-stage + DCT Markov, late fusion weighted by validation "
                                "ROC AUC above chance"}
# a stage 2 whose test probabilities span less than this kept its initial weights (the
# grid head starts at exactly 0.5 for every image): its ROC AUC is unreliable
FLAT = 1e-3
SPLICES_IN = ("stage1", "stage2", "both")  # where Setting.splices go
PAPER = {"e2e": 0.7522, "sutthiwan": 0.7920, "two_stage": 0.8311}  # Table 3 accuracy

# The quick setting keeps every layer of Table 4's forgery networks at a quarter of the
# widths (about 1/16 of the work) so that both stages and the baseline fit 10 minutes
# on 2 CPU cores; the full setting uses the presets as printed.
QUICK_CHANNEL = ("Input(64,64,3) - 2xC(16) - MP(2) - 2xC(32) - MP(2) - 2xC(32) - MP(2) - "
                 "2xC(64) - MP(2) - FC(128) - Drop(0.5) - FC(128) - Drop(0.5)")
QUICK_STAGE2 = ("Input(15,15,128) - 3xC(16) - MP(2) - 3xC(32) - MP(2) - 3xC(64) - MP(2) - "
                "FC(200) - Drop(0.5) - FC(200) - Drop(0.5) - FC(1,'sigmoid')")
QUICK_E2E = ("Input(256,384,3) - C(8) - MP(2) - C(16) - MP(2) - 2xC(16) - MP(2) - 2xC(32) - "
             "MP(2) - 2xC(64) - MP(2) - FC(128) - Drop(0.5) - FC(128) - Drop(0.5) - "
             "FC(1,'sigmoid')")


@dataclass(frozen=True)
class Setting:
    """Size of a forgery run: networks, epochs (patience), batches, seeds and, for the
    demo data set, how many images to generate. The hyper-image grid is stage 2's
    Input(U, V, D)."""

    name: str
    channel_arch: str = "forgery_channel"
    stage2_arch: str = "forgery_stage2"
    e2e_arch: str = "forgery_e2e"
    seeds: int = 1
    stage1_epochs: int = 30
    stage1_patience: int = 8
    stage2_epochs: int = 200
    stage2_patience: int = 40
    e2e_epochs: int = 40
    e2e_patience: int = 10
    stage1_batch: int = 64
    stage2_batch: int = 32
    e2e_batch: int = 16
    demo_authentic: int = 600
    demo_tampered: int = 400
    hidden: int | None = None  # w1 width of the siamese head (None: the feature width)
    # stage 2's training recipe (hyperkit.training.recipes.STAGE2_RECIPES): 'paper' (SGD)
    # for the paper's deep stage 2; 'head' (Adam, weight decay, grid flips) for the grid
    # head, which learns from the quick demo's 167 images where the deep one does not.
    stage2_recipe: str = "paper"
    # stage-1 patches per pair along the tampered region's contour (the paper: 15)
    contour_points: int = 15
    # stage-1 training windows move by up to this many pixels per draw (0: fixed, as printed)
    contour_jitter: int = 0
    # stage-1 training samples per pair more, each the authentic image's patch at one of
    # its strongest natural edges (hyperkit.data.forgery.contours.edge_tops) ranked
    # against the pair's tampered contour patch (0: the same-position pairs only, as
    # printed); issue 20: stage 1 ranks authentic edges below seams less often (0.77 of
    # validation samples against 0.86 at the same position, bench/forgery_edge_pairs.py)
    edge_negatives: int = 0
    # synthetic tampered images per training authentic image, for the stages splices_in
    # names (hyperkit.data.forgery.splices; 0: the real images only, as printed)
    splices: int = 0
    # which stages train on the splices: 'stage1' (its pairs), 'stage2' (as tampered
    # images) or 'both'
    splices_in: str = "both"
    # share of the splices JPEG-compressed once more (quality 70-95)
    splice_jpeg: float = JPEG_SHARE
    # weight of a per-patch tamper logit trained beside stage 1's ranking (BCE;
    # hyperkit.training.RankingHingePatchScore); 0: the ranking hinge only, as printed
    patch_score: float = 0.0
    # on a CPU, stage-1 steps go forward and backward in parts of this many pairs (the
    # gradient is the whole batch's; TrainConfig.cpu_micro_batch): 1.3-1.4x the patches/s
    # (bench/forgery_microbatch.py)
    stage1_micro_batch: int = 16
    # on a CPU, stage 1 (training and the hyper-image builds) runs its convolutions in
    # channels-last memory (oneDNN's fast layout; bench/forgery_microbatch.py); the
    # features move by float rounding only
    stage1_channels_last: bool = True
    # stage 1's optimizer and initial learning rate: the paper's Nesterov SGD at 0.005
    # by default; 'adam' under the same schedule (TrainConfig.optimizer)
    stage1_optimizer: str = "sgd"
    stage1_lr: float = 0.005
    # the views of every image stage 2 trains on and scores (hyperkit.views): the image
    # ('original', as printed) and its left-right mirror; each view is one hyper-image
    # build more, and a stage 2 on both scores an image by the mean of the two logits
    views: tuple[str, ...] = ("original",)

    def __post_init__(self) -> None:
        for name, low in (("contour_points", 1), ("contour_jitter", 0), ("splices", 0),
                          ("stage1_micro_batch", 0), ("edge_negatives", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be a whole number >= {low}, got {v!r}")
        w = self.patch_score
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < float("inf"):
            raise ValueError(f"patch_score must be a finite number >= 0, got {w!r}")
        j = self.splice_jpeg
        if isinstance(j, bool) or not isinstance(j, (int, float)) or not 0 <= j <= 1:
            raise ValueError(f"splice_jpeg must be a share in [0, 1], got {j!r}")
        if not isinstance(self.stage1_channels_last, bool):
            raise ValueError(f"stage1_channels_last must be True or False, got "
                             f"{self.stage1_channels_last!r}")
        if self.stage1_optimizer not in TrainConfig.OPTIMIZERS:
            raise ValueError(f"stage1_optimizer must be one of "
                             f"{', '.join(TrainConfig.OPTIMIZERS)}, got "
                             f"{self.stage1_optimizer!r}")
        r = self.stage1_lr
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r < float("inf"):
            raise ValueError(f"stage1_lr must be a finite number > 0, got {r!r}")
        # a list (config.json) becomes the tuple the frozen setting keeps
        object.__setattr__(self, "views", check_views(self.views, "views"))
        if self.splices_in not in SPLICES_IN:
            raise ValueError(f"splices_in must be one of {', '.join(SPLICES_IN)}, got "
                             f"{self.splices_in!r}")

    def splices_for(self, stage: str) -> bool:
        """Whether ``stage`` ('stage1' or 'stage2') trains on synthetic splices."""
        return self.splices > 0 and self.splices_in in (stage, "both")

    def configs(self, seed: int) -> tuple[TrainConfig, TrainConfig, TrainConfig]:
        """Stage-1, stage-2 and end-to-end training configurations for ``seed``."""
        def cfg(make: Callable, epochs: int, patience: int, batch: int, **kw: Any
                ) -> TrainConfig:
            return make(epochs=epochs, patience=patience,
                        plateau_patience=max(2, patience // 2), batch_size=batch, seed=seed,
                        **kw)
        def stage2(**kw: Any) -> TrainConfig:
            return stage2_recipe(self.stage2_recipe, **kw)[0]
        return (cfg(stage1_config, self.stage1_epochs, self.stage1_patience, self.stage1_batch,
                    cpu_micro_batch=self.stage1_micro_batch,
                    optimizer=self.stage1_optimizer, lr=self.stage1_lr),
                cfg(stage2, self.stage2_epochs, self.stage2_patience, self.stage2_batch),
                cfg(stage1_config, self.e2e_epochs, self.e2e_patience, self.e2e_batch))

    def record(self) -> dict:
        """The setting as config.json and results.json record it
        (:func:`hyperkit.runs.settings_record`; stage2_recipe and the contour options
        came later)."""
        return settings_record(self, later=("stage2_recipe", "contour_points",
                                                  "contour_jitter", "splices",
                                                  "splices_in", "splice_jpeg", "patch_score",
                                                  "stage1_micro_batch",
                                                  "stage1_channels_last",
                                                  "stage1_optimizer", "stage1_lr",
                                                  "views", "edge_negatives"))

    def grid(self) -> tuple[int, int]:
        """(U, V) of stage 2's input."""
        _, u, v = nets.input_shape(nets.build(self.stage2_arch))
        return u, v


SETTINGS = {
    # 3 seeds: one seed's 41 test images swing ROC AUC by +-0.1 (issue 20), so no quick
    # figure stands on one run
    "quick": Setting("quick", seeds=3, channel_arch=QUICK_CHANNEL,
                     stage2_arch="head(128,15,15,sig=1)", stage2_recipe="head", stage2_batch=16,
                     # stage-1 patience 12 (no early stop; plateau patience 6): with 4, a
                     # stage 1 whose validation hinge sat at the margin for 3 epochs had its
                     # learning rate cut at epoch 4 and stopped at 5 (bench/RESULTS.md
                     # forgery-channels-last: 5 seeds, paired +0.107 ROC AUC)
                     e2e_arch=QUICK_E2E, stage1_epochs=12, stage1_patience=12,
                     # stage 2 on both views of each image: 10 seeds, paired +0.040 ROC
                     # AUC (95 % interval +0.007 to +0.073; bench/RESULTS.md forgery-views)
                     views=("original", "mirror"),
                     stage2_epochs=60, stage2_patience=15, e2e_epochs=12, e2e_patience=4,
                     demo_authentic=150, demo_tampered=100),
    "full": Setting("full"),
}


def resolve_setting(setting: str | Setting) -> Setting:
    """A :class:`Setting` from its name in :data:`SETTINGS` (or itself)."""
    return checks.named(setting, SETTINGS, Setting, "setting")
