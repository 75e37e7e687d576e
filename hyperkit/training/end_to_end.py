"""End-to-end CNNs on whole images: the baselines the hyper-image approach is compared
with (NR-IQA experiment 4: the shallow and deep TID2013 networks of Table 4; forgery
experiment 1: the CASIA2 network).

Each image is resized to the network's ``Input(h, w, c)`` (:class:`ResizedImages`) and
the network is trained with :func:`hyperkit.training.fit` on image labels, with the
same protocol, checkpoints and resume as every other stage.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.resized import ResizedImages
from ..images import split_images
from ..nets import build, input_shape
from .config import TrainConfig
from .loop import FitResult, fit, predict
from .objectives import Objective, WeightedBCE

CHECKPOINT = "e2e.ckpt"


def sigmoid_head(net: nn.Module) -> bool:
    """Whether ``net`` ends in a sigmoid output layer (an architecture string ending in
    FC(n, 'sigmoid'), such as the 'forgery_e2e' preset)."""
    head = getattr(net, "head", None)
    return isinstance(head, nn.Sequential) and isinstance(head[-1], nn.Sigmoid)


@contextlib.contextmanager
def logits_output(net: nn.Module) -> Iterator[nn.Module]:
    """Within the block, a sigmoid-headed ``net`` outputs the logit (the sigmoid is
    swapped for the identity and put back afterwards, even on error). The sigmoid has no
    parameters, so the state dict, and every checkpoint written meanwhile, has the same
    keys as the net built from the architecture string."""
    if not sigmoid_head(net):
        yield net
        return
    sigmoid = net.head[-1]
    net.head[-1] = nn.Identity()
    try:
        yield net
    finally:
        net.head[-1] = sigmoid


def train_end_to_end(train_images: Any, train_labels: Any, val_images: Any, val_labels: Any,
                     *, arch: str, objective: Objective, config: TrainConfig,
                     workdir: str | Path, resume: bool = False, device: Any = "auto",
                     log: Callable[[str], None] | None = print, progress: bool = True,
                     lcn: bool = False, flip: bool = False) -> tuple[nn.Module, FitResult]:
    """Trains ``hyperkit.nets.build(arch)`` on whole images resized to its input.

    Sigmoid outputs: a network ending in FC(1, 'sigmoid') ('forgery_e2e') trained with
    :class:`~hyperkit.training.objectives.WeightedBCE`, which takes logits (the stable
    form of BCE), is trained on its pre-sigmoid output (see :func:`logits_output`);
    the returned network has its sigmoid, so it outputs probabilities. With any other
    objective the network is trained on its output as it is.

    Args:
        train_images, val_images: image files and/or arrays, as :class:`ResizedImages`.
        train_labels, val_labels: (N,) labels (scores, or 0/1 for WeightedBCE).
        arch: a preset name ('tid_shallow_e2e', 'tid_deep_e2e', 'forgery_e2e') or an
            architecture string; its Input(h, w, c) sets the size and channel count.
        objective: the loss (MAE for NR-IQA, WeightedBCE for forgery).
        config: training protocol; ``config.seed`` also seeds the initial weights (the
            global torch generator is seeded with it before the network is built) and
            the flips.
        workdir: folder for the checkpoint ``e2e.ckpt`` (created if needed).
        resume: continue ``workdir/e2e.ckpt`` if it exists (flips included: the run
            ends as an uninterrupted one would on CPU).
        device, log, progress: as :func:`hyperkit.training.fit`.
        lcn: local contrast normalization of each image (the paper does not say; the
            end-to-end networks take raw [0, 1] pixels by default).
        flip: random horizontal flips of the training images.

    Returns:
        (the network holding its best-validation weights, on ``device``, in eval mode;
        the :class:`~hyperkit.training.loop.FitResult`).
    """
    if not isinstance(objective, Objective):
        raise TypeError(f"objective must be a hyperkit.training Objective (MAE(), "
                        f"WeightedBCE(...)), got {type(objective).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    # the initial weights come from config.seed alone, not from whatever drew random
    # numbers before in this process (a forgery seed's stage 2 ran first, so its options
    # moved this baseline)
    torch.manual_seed(config.seed)
    net = build(arch)
    c, h, w = input_shape(net)
    train = ResizedImages(train_images, train_labels, (h, w), channels=c, lcn=lcn, flip=flip,
                          seed=config.seed, name="train images")
    val = ResizedImages(val_images, val_labels, (h, w), channels=c, lcn=lcn,
                        name="val images")
    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    ckpt = folder / CHECKPOINT  # fit sets the flips' epoch (a resume replays them)
    logits = isinstance(objective, WeightedBCE) and sigmoid_head(net)
    with logits_output(net) if logits else contextlib.nullcontext(net) as model:
        result = fit(model, train, val, objective, config, checkpoint=ckpt, resume=resume,
                     device=device, log=log, name="e2e", progress=progress)
    return net.eval(), result


def predict_end_to_end(net: nn.Module, images: Any, *, lcn: bool = False, batch_size: int = 16,
                       device: Any = None) -> np.ndarray:
    """One score per image: ``net`` on each image resized to its input.

    Args:
        net: a network with ``input_shape`` (C, H, W) and an output (N,), as returned by
            :func:`train_end_to_end`.
        images: image files and/or arrays, as :class:`ResizedImages`; converted batch by
            batch, never all held at once.
        lcn: as in training.
        batch_size: images per forward pass.
        device: default where the network's weights are.

    Returns:
        float64 (N,): the network's outputs (probabilities for a sigmoid network).
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch module, got {type(net).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    c, h, w = input_shape(net)
    source = ResizedImages(images, np.zeros(_count(images)), (h, w), channels=c, lcn=lcn,
                           cache=False)
    out = predict(net, source, batch_size=batch_size, device=device)
    if out.shape != (len(source),):
        raise ValueError(f"net gives outputs of shape {out.shape[1:]} per image; "
                         "predict_end_to_end needs one score per image (an FC(1) output)")
    return out


def _count(images: Any) -> int:
    """How many images ``images`` holds (a list, or a batch read as hyperkit does)."""
    if isinstance(images, (list, tuple)):
        return len(images)
    return len(split_images(images, name="images"))
