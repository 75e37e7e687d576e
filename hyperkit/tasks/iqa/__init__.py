"""Table 2 of the paper: the NR-IQA experiments, run end to end on any IQA data set.

One run = one data set (LIVE, TID2013, a folder with a CSV, or the built-in demo), one
experiment (a set of methods, "arms"), K reference-disjoint 60/20/20 splits. For each
split and arm: stage 1 on 32 x 32 patches (all grid patches, or the selective patch
training set of :mod:`hyperkit.data.iqa.selection`), patch averaging over the grid, and
stage 2 on the hyper-images of that stage 1; or an end-to-end CNN (experiment 4); or a
frozen VGG-16 stage 1 (experiment 5). Every arm is scored on the same test images.

Arms:
    cnn             Kang et al.: stage 1 on every grid patch, patch averaging.
    cnn_selective   stage 1 on selected patches (the paper's), patch averaging.
    two_stage       stage 2 on the hyper-images of the cnn_selective stage 1 (or of
                    the cnn stage 1 when the data set has no references).
    shallow_e2e, deep_e2e      end-to-end CNNs on whole 384 x 512 images.
    vgg_patch_average, vgg_two_stage  VGG-16 up to conv4_3 (frozen, weights from a
                    local file) + two trained FC800 layers, patch averaging / stage 2.
    patch_min, patch_p10, patch_softmin   pooling baselines of the selective stage 1's
                    patch scores (worst patch, 10th percentile, softmin with the
                    temperature picked on validation images).
    weighted_pooling  learned weighted pooling of the cells (WaDIQaM), a 1x1 head.
    grid_stage2     the cell-weighted stage 2 of :mod:`hyperkit.nets.heads` (3x3 context
                    over the grid, cell coordinates, residual on the patch scores).

The arms are a table (:data:`~hyperkit.tasks.iqa.arms.ARMS`: name -> stage 1 kind and
scorer); :mod:`.settings` holds the sizes and the paper's experiments, :mod:`.runner` the run
folder and splits, :mod:`.split` one split, :mod:`.report` the summary and results.md.

Memory: images are read when needed (:class:`~hyperkit.data.image_files.ImageFiles`);
the normalized images stage 1 cuts patches from live in one float32 file per run,
memory-mapped (out/cache); patches are cut batch by batch; hyper-images are built
group by group into memory-mapped .npy files. Nothing grows with the number of patches
except 14 bytes of position and label per training patch.

Under ``torchrun --nproc-per-node N`` one split's training runs on N processes
(DistributedDataParallel in :func:`hyperkit.training.loop.fit`); splits run one after
another. Only rank 0 writes.
"""

from __future__ import annotations

from ...data.iqa import SPECS, DatasetSpec
from . import arms, runner, split
from .arms import ARMS, LABELS, Arm, arms_for, end_to_end, pooled, stage2
from .data import Run, predict_files
from .report import KEYS, summarize_runs, table_md
from .runner import run_iqa
from .settings import (
                       DEFAULT_RECIPE,
                       EXP3_SUBSETS,
                       EXPERIMENTS,
                       PAPER,
                       PATCH,
                       SETTINGS,
                       Options,
                       Setting,
)
from .split import run_split

__all__ = ["ARMS", "Arm", "DEFAULT_RECIPE", "DatasetSpec", "EXP3_SUBSETS", "EXPERIMENTS", "KEYS",
           "LABELS", "Options", "PAPER", "PATCH", "Run", "SETTINGS", "SPECS", "Setting",
           "arms", "arms_for", "end_to_end", "pooled", "predict_files", "run_iqa", "run_split",
           "runner", "split", "stage2", "summarize_runs", "table_md"]
