"""The training loop: the paper's protocol for any model, data and objective.

``fit`` runs epochs until early stopping: each epoch trains on a seeded permutation
of the training samples (:func:`train_one_epoch`), scores the validation set with the
same objective (:func:`validate`), then updates the schedule and the best weights
(:func:`end_of_epoch`). The learning rate is lr_0 * f / (1 + decay * t) after t
updates (:func:`learning_rate`), f divided by ``plateau_factor`` on a plateau. The
protocol's numbers are in :mod:`hyperkit.training.config`.

Under ``torchrun`` (a process group is initialized, see
:func:`hyperkit.training.dist.init_distributed`) the model is wrapped in
DistributedDataParallel, each rank trains on its share of every epoch's shuffled
samples, rank 0's validation loss drives every decision, and only rank 0 writes
checkpoints.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

# predict and to_device are re-exported (hyperkit.training.predict)
from ..batching import BatchSource, as_source, batch_outputs, predict, to_device  # noqa: F401
from ..devices import native_bf16, resolve_device
from ..files import check_writable_dir
from . import checkpoint as checkpoints
from . import dist
from .config import TrainConfig, stage1_config
from .objectives import MAE, Objective


@dataclass
class FitState:
    """Where a run is: everything the schedule and early stopping decide from."""

    epoch: int = 0  # epochs finished
    updates: int = 0  # optimizer steps taken
    factor: float = 1.0  # plateau factor f of the learning rate
    best_val: float = math.inf
    best_epoch: int = -1  # 0-based epoch of best_val
    since_best: int = 0  # epochs without improvement (early stopping)
    plateau_wait: int = 0  # epochs without improvement since the last drop
    done: bool = False
    stopped_early: bool = False


@dataclass
class FitResult:
    """What :func:`fit` did: best validation loss, its epoch, epochs run, per-epoch log."""

    best_val: float
    best_epoch: int
    epochs_run: int
    history: list[dict] = field(default_factory=list)
    stopped_early: bool = False


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD with (Nesterov) momentum, the paper's, or Adam; frozen parameters
    (requires_grad False) are left out."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                           nesterov=config.nesterov, weight_decay=config.weight_decay)


def learning_rate(config: TrainConfig, state: FitState) -> float:
    """lr_0 * f / (1 + decay * t) for the next update."""
    return config.lr * state.factor / (1.0 + config.decay * state.updates)


def epoch_order(n: int, seed: int, epoch: int, world: int = 1, rank: int = 0) -> np.ndarray:
    """This rank's share of epoch ``epoch``'s permutation of n samples.

    The permutation depends only on (seed, epoch): identical on every rank and across a
    resume, with no generator state to save. Each rank takes every world-th sample.
    """
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=g).numpy()
    per_rank = n // world
    return perm[: per_rank * world].reshape(per_rank, world)[:, rank]


def eval_batch_size(device: torch.device) -> int:
    """Samples per forward pass of :func:`validate`: 128 on a CPU, where a batch's
    activations then stay in cache (Kang's stage 1 validated 20,000 real patches 1.9x
    faster than at 512 on a 2-core AMD EPYC; bench/RESULTS.md "validation-batch"), 512
    on an accelerator."""
    return 128 if device.type == "cpu" else 512


def validate(model: nn.Module, source: BatchSource, objective: Objective,
             device: torch.device, batch_size: int | None = None) -> float:
    """The objective over the whole validation set: one value from all outputs, not a
    mean of per-batch values; ``batch_size`` default :func:`eval_batch_size`."""
    outputs, targets = batch_outputs(model, source, batch_size or eval_batch_size(device),
                                     device)
    return float(objective(outputs.float(), targets.to(torch.float32)).item())


def train_one_epoch(net: nn.Module, source: BatchSource, order: np.ndarray,
                    objective: Objective, optimizer: torch.optim.Optimizer,
                    config: TrainConfig, state: FitState, device: torch.device,
                    bar: Any, name: str) -> tuple[float, float]:
    """One pass over ``order`` in batches; returns (mean training loss, last lr)."""
    net.train()
    total, seen, lr = 0.0, 0, learning_rate(config, state)
    part = micro_batch(net, objective, config, device)
    for i in range(0, len(order), config.batch_size):
        idx = order[i:i + config.batch_size]
        inputs, targets = to_device(source.batch(idx), device)
        lr = learning_rate(config, state)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        loss = 0.0
        for sl in _slices(len(idx), part):
            with training_precision(config.precision, device):
                piece = objective(net(*(x[sl] for x in inputs)), targets[sl])
            if not torch.isfinite(piece):
                raise FloatingPointError(f"{name}: loss became {piece.item()} at epoch "
                                         f"{state.epoch + 1}; lower the learning rate")
            share = (sl.stop - sl.start) / len(idx)  # the parts' mean is the batch's
            (piece * share if share < 1 else piece).backward()
            loss += piece.item() * share
        optimizer.step()
        state.updates += 1
        total += loss * len(idx)
        seen += len(idx)
        bar.update(1)
        bar.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
    return total / seen, lr


def micro_batch(net: nn.Module, objective: Objective, config: TrainConfig,
                device: torch.device) -> int:
    """Samples per forward/backward part of a step: ``config.cpu_micro_batch`` on a CPU
    for a sample-mean objective, a network without batch norm (whose statistics would
    see a part, not the batch) and no DDP wrapper (each part would all-reduce); else
    the whole batch (``config.batch_size``)."""
    k = config.cpu_micro_batch
    if (not k or k >= config.batch_size or device.type != "cpu"
            or not getattr(objective, "sample_mean", False)
            or isinstance(net, nn.parallel.DistributedDataParallel)
            or any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())):
        return config.batch_size
    return k


def _slices(n: int, part: int) -> list[slice]:
    """Consecutive slices of at most ``part`` covering range(n)."""
    return [slice(i, min(n, i + part)) for i in range(0, n, part)]


def training_precision(precision: str, device: torch.device) -> Any:
    """The context a training step's forward pass and loss run in: bfloat16 autocast for
    precision 'bf16' (refused where the hardware would only emulate it), else nothing."""
    if precision != "bf16":
        return contextlib.nullcontext()
    if not native_bf16(device):
        raise ValueError(f"precision='bf16' needs native bfloat16 on {device} (a CPU with "
                         "avx512_bf16 or amx_bf16, or a CUDA GPU of compute capability >= "
                         "8.0); use precision='float32'")
    return torch.autocast(device.type, dtype=torch.bfloat16)


def end_of_epoch(state: FitState, val_loss: float, config: TrainConfig) -> bool:
    """Records the validation loss: best-so-far, early-stopping count and plateau drop.
    Returns True when the loss improved."""
    state.epoch += 1
    if val_loss < state.best_val:
        state.best_val, state.best_epoch = val_loss, state.epoch - 1
        state.since_best = state.plateau_wait = 0
        return True
    state.since_best += 1
    state.plateau_wait += 1
    if state.plateau_wait >= config.plateau_patience:
        state.factor *= config.plateau_factor
        state.plateau_wait = 0
    return False


def finished(state: FitState, config: TrainConfig) -> bool:
    """Early stopping: the epoch budget is spent or patience ran out (sets state.done)."""
    if state.epoch >= config.epochs or state.since_best >= config.patience:
        state.done, state.stopped_early = True, state.epoch < config.epochs
    return state.done


def fit(model: nn.Module, train: Any, val: Any, objective: Objective | None = None,
        config: TrainConfig | None = None, *, checkpoint: str | Path | None = None,
        resume: bool = False, device: Any = "auto", log: Callable[[str], None] | None = print,
        name: str = "train", progress: bool = True, stop_after: int | None = None,
        val_objective: Objective | None = None) -> FitResult:
    """Trains ``model`` in place and leaves it holding its best-validation weights.

    Args:
        model: called as ``model(*inputs)`` on each batch.
        train, val: :class:`~hyperkit.training.batches.BatchSource` s (``len`` and
            ``batch(idx)``), or (inputs (N, ...), labels (N,)) pairs of numpy arrays
            (memory-mapped is fine) or tensors; batches move to ``device`` as needed.
        objective: the loss, :class:`~hyperkit.training.objectives.MAE` by default.
        config: hyper-parameters; default :func:`~hyperkit.training.config.stage1_config`.
        checkpoint: file rewritten atomically after every epoch (model, optimizer,
            schedule, RNG, best weights); an existing one is continued with ``resume``
            and never overwritten without it.
        resume: continue from ``checkpoint`` if it exists (a finished run is not
            redone).
        device: 'auto', 'cpu', 'cuda' or a torch.device.
        log: called with one line per epoch (None: silent).
        stop_after: stop after this many epochs in this call (to simulate interruptions).
        val_objective: what validation measures for early stopping, the lr drops and the
            kept weights (lower is better); default ``objective``. E.g.
            :class:`~hyperkit.training.objectives.NegSpearman` keeps the best-ranking
            weights while training on MAE.

    Returns:
        :class:`FitResult`. Deterministic on CPU for a fixed seed, including across a
        resume.
    """
    cfg = config or stage1_config()
    objective = objective or MAE()
    val_objective = val_objective or objective
    # the checkpoint records both, so a resume with another criterion is refused
    key = objective.name if val_objective is objective else \
        f"{objective.name}; validation {val_objective.name}"
    train_src, val_src = as_source(train, "train"), as_source(val, "val")
    dev = resolve_device(device)
    world, rank = dist.world(), dist.rank()
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and rank == 0:  # a read-only workdir fails now, not after an epoch
        check_writable_dir(ckpt.parent, "the checkpoint folder")
    _check_start(ckpt, resume, len(train_src), world)
    training_precision(cfg.precision, dev)  # refuses an emulated bf16 before any work
    opt, state, history, best_state = _start_state(model, cfg, key, ckpt, dev)
    net = model if world == 1 else nn.parallel.DistributedDataParallel(
        model, device_ids=[dev.index] if dev.type == "cuda" else None)
    ran = 0
    while not finished(state, cfg) and (stop_after is None or ran < stop_after):
        row, improved, best_state = _run_epoch(
            model, net, train_src, val_src, (objective, val_objective), opt, cfg, state,
            best_state, dev, world, rank, name, progress)
        history.append(row)
        ran += 1
        if log is not None and rank == 0:
            _log_epoch(log, name, cfg, row, improved)
        if ckpt is not None and rank == 0:
            checkpoints.save(ckpt, model, opt, state, history, best_state, cfg, key)
    if ckpt is not None and rank == 0 and state.done:
        checkpoints.save(ckpt, model, opt, state, history, best_state, cfg, key)
    if log is not None and rank == 0 and state.done:
        _log_finish(log, name, cfg, state)
    dist.barrier()
    model.load_state_dict(best_state)
    return FitResult(state.best_val, state.best_epoch + 1, state.epoch, history,
                     state.stopped_early)


def _check_start(ckpt: Path | None, resume: bool, n_train: int, world: int) -> None:
    """Refuses to overwrite a checkpoint without ``resume`` and a train set smaller than
    the number of ranks."""
    if ckpt is not None and ckpt.exists() and not resume:
        raise FileExistsError(f"checkpoint {ckpt} exists; pass resume=True to continue it or "
                              "choose another path (it is never overwritten by a new run)")
    if n_train // world == 0:
        raise ValueError(f"train has {n_train} samples, fewer than the {world} ranks")


def _start_state(model: nn.Module, cfg: TrainConfig, key: str, ckpt: Path | None,
                 dev: torch.device) -> tuple[torch.optim.Optimizer, FitState, list[dict], dict]:
    """Seeds torch, moves the model to dev and makes its optimizer; (optimizer, state,
    history, best weights), fresh or read back from an existing checkpoint."""
    torch.manual_seed(cfg.seed)
    model.to(dev)
    opt = make_optimizer(model, cfg)
    state, history = FitState(), []
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if ckpt is not None and ckpt.exists():
        c = checkpoints.load(ckpt, cfg, key)
        model.load_state_dict(c["model"])
        opt.load_state_dict(c["optimizer"])
        state, history, best_state = FitState(**c["state"]), c["history"], c["best_model"]
        torch.set_rng_state(c["rng"])
    return opt, state, history, best_state


def _run_epoch(model: nn.Module, net: nn.Module, train_src: BatchSource, val_src: BatchSource,
               objectives: tuple[Objective, Objective], opt: torch.optim.Optimizer,
               cfg: TrainConfig,
               state: FitState, best_state: dict, dev: torch.device, world: int, rank: int,
               name: str, progress: bool) -> tuple[dict, bool, dict]:
    """One epoch of :func:`fit`: train (net, DDP-wrapped under torchrun), validate
    (model), update the schedule; (history row, improved, best weights)."""
    objective, val_objective = objectives
    t0 = time.perf_counter()
    order = epoch_order(len(train_src), cfg.seed, state.epoch, world, rank)
    set_epoch = getattr(train_src, "set_epoch", None)
    if callable(set_epoch):  # sources that draw augmentations per epoch (SiamesePairs)
        set_epoch(state.epoch)
    with tqdm(total=math.ceil(len(order) / cfg.batch_size), leave=False,
              desc=f"{name} epoch {state.epoch + 1}",
              disable=None if progress and rank == 0 else True) as bar:
        train_loss, lr = train_one_epoch(net, train_src, order, objective, opt, cfg,
                                         state, dev, bar, name)
    val_loss = dist.broadcast_from_rank0(validate(model, val_src, val_objective, dev), dev)
    improved = end_of_epoch(state, val_loss, cfg)
    if improved:
        best_state = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}
    row = {"epoch": state.epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": lr,
           "seconds": time.perf_counter() - t0}
    return row, improved, best_state


def _log_epoch(log: Callable[[str], None], name: str, cfg: TrainConfig, row: dict,
               improved: bool) -> None:
    """The one line per epoch."""
    log(f"{name} epoch {row['epoch']}/{cfg.epochs} train {row['train_loss']:.4f} "
        f"val {row['val_loss']:.4f}{' *' if improved else ''} lr {row['lr']:.2e} "
        f"({row['seconds']:.1f} s)")


def _log_finish(log: Callable[[str], None], name: str, cfg: TrainConfig,
                state: FitState) -> None:
    """The closing line: how the run ended and its best validation loss."""
    how = (f"stopped early after epoch {state.epoch} ({cfg.patience} epochs without "
           "improvement)" if state.stopped_early else f"ran all {cfg.epochs} epochs")
    log(f"{name} {how}; best validation loss {state.best_val:.4f} at epoch "
        f"{state.best_epoch + 1}")
