"""Table 3 of the paper: image forgery classification, end to end.

Data: CASIA v2 as shipped (:mod:`hyperkit.data.forgery.casia2`) or the built-in spliced set
(:mod:`hyperkit.data.forgery.demo`, written into ``out/data`` in the same layout).
Authentic images are label 1, tampered ones 0 (as in the paper). A seeded 2/3, 1/6,
1/6 split keeps every tampered image on the side of its source.

* Stage 1 (experiment 2, Fig. 3): a siamese ranker on (authentic, tampered) patch pairs
  cut at 15 points of each training pair's tampered-region contour
  (:mod:`hyperkit.data.forgery.contours`, :mod:`hyperkit.data.forgery.pairs`), ranking hinge
  with delta = 3, the training patches' mean subtracted, flips on the fly.
* Stage 2: hyper-images of every image, the channel's features over a 15 x 15 eq.-2
  grid of 64 x 64 patches (any image size), cached as memory-mapped .npy files; the
  stage-2 network with a sigmoid output trained with binary cross-entropy on logits,
  each class weighted by n / (2 n_class) of the training set.
* Experiment 1: the end-to-end CNN on images resized to 256 x 384
  (:func:`hyperkit.training.end_to_end.train_end_to_end`, same class weights, flips).

Modules: :mod:`.settings` (sizes, labels, the paper's figures), :mod:`.seed` (one seed),
:mod:`.runner` (the run folder, --inspect), :mod:`.report` (summary, results.md),
:mod:`.plots` (ROC, contour pictures).

Results: accuracy (the paper's metric), balanced accuracy, ROC AUC and the confusion
matrix on the test images (:mod:`hyperkit.evaluation.classification`).
"""

from __future__ import annotations

from .report import summarize, table
from .runner import inspect, load_dataset, run_forgery
from .seed import _rgb, class_weights, positions, run_seed
from .settings import APPROACHES, CLASSES, MARGIN, PAPER, PATCH, SCORE_MEANING, SETTINGS, Setting

__all__ = ["APPROACHES", "CLASSES", "MARGIN", "PAPER", "PATCH", "SCORE_MEANING", "SETTINGS",
           "Setting", "_rgb", "class_weights", "inspect", "load_dataset", "positions",
           "run_forgery", "run_seed", "summarize", "table"]
