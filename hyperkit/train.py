"""Training with the paper's protocol: SGD + Nesterov, per-update decay, plateau drops,
early stopping on validation loss, best checkpoint kept; resumable and DDP-ready.

Protocol (section "NR-IQA", training paragraph): lr_0 = 0.005, Nesterov momentum 0.9,
lr_t = lr_0 * f / (1 + 1e-5 t) after t updates, where f starts at 1 and is divided by
10 whenever validation loss has not improved for ``plateau_patience`` epochs (the
paper gives no patience for the drop; we use half the early-stopping patience).
Stage 1 runs at most 80 epochs and stops after 20 without improvement, stage 2 200
and 40. Loss: mean absolute error.

Under ``torchrun`` (a process group is initialized, see :func:`init_distributed`)
the model is wrapped in DistributedDataParallel, each rank trains on its share of
every epoch's shuffled samples, rank 0's validation loss drives every decision, and
only rank 0 writes checkpoints.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mae": F.l1_loss, "mse": F.mse_loss, "bce": F.binary_cross_entropy,
}


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
    loss: str = "mae"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "patience", "plateau_patience", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        for name in ("lr", "momentum", "decay", "plateau_factor"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if self.lr == 0 or not 0 < self.plateau_factor <= 1:
            raise ValueError("lr must be > 0 and plateau_factor in (0, 1]")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")


def stage1_config(**overrides: Any) -> TrainConfig:
    """The paper's stage-1 protocol: at most 80 epochs, early stop after 20."""
    return TrainConfig(**{"epochs": 80, "patience": 20, "plateau_patience": 10, **overrides})


def stage2_config(**overrides: Any) -> TrainConfig:
    """The paper's stage-2 protocol: at most 200 epochs, early stop after 40."""
    return TrainConfig(**{"epochs": 200, "patience": 40, "plateau_patience": 20, **overrides})


@dataclass
class FitResult:
    """What :func:`fit` did: best validation loss, its epoch, epochs run, per-epoch log."""

    best_val: float
    best_epoch: int
    epochs_run: int
    history: list[dict] = field(default_factory=list)
    stopped_early: bool = False


def resolve_device(device: Any = "auto") -> torch.device:
    """'auto' (CUDA when usable, else CPU), 'cpu', 'cuda', 'cuda:N' or a torch.device."""
    if device is None or device == "auto":
        if dist_world() > 1 and torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no usable CUDA device")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    return dev


def dist_world() -> int:
    """Number of ranks in the default process group (1 without one)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def dist_rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def init_distributed() -> bool:
    """Joins the process group torchrun describes (WORLD_SIZE > 1); True if it did.

    gloo on CPU, nccl when CUDA is available; each rank uses cuda:LOCAL_RANK.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist_world() > 1:
        return dist_world() > 1
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend)
    return True


def _as_tensor(x: Any, name: str) -> Any:
    if isinstance(x, (np.ndarray, Tensor)):
        return x
    raise TypeError(f"{name} must be a numpy array (memory-mapped is fine) or torch tensor, "
                    f"got {type(x).__name__}")


def _check_data(data: Any, name: str) -> tuple[Any, Tensor]:
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a pair (inputs, labels)")
    x, y = _as_tensor(data[0], f"{name} inputs"), _as_tensor(data[1], f"{name} labels")
    y = torch.as_tensor(np.asarray(y) if isinstance(y, np.ndarray) else y).float().reshape(-1)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"{name}: {len(x)} inputs and {len(y)} labels; need the same "
                         "non-zero count")
    if not torch.isfinite(y).all():
        raise ValueError(f"{name} labels contain NaN or Inf")
    return x, y


def _batch(x: Any, idx: np.ndarray, device: torch.device) -> Tensor:
    if isinstance(x, np.ndarray):  # memory-mapped arrays read only the rows asked for
        b = torch.from_numpy(np.ascontiguousarray(x[idx]))
    else:
        b = x[torch.from_numpy(idx).to(x.device)]
    b = b.to(device, torch.float32, non_blocking=True)
    if not torch.isfinite(b).all():
        raise ValueError("training inputs contain NaN or Inf")
    return b


@torch.no_grad()
def predict(model: Callable[[Tensor], Tensor], x: Any, batch_size: int = 512,
            device: Any = None) -> np.ndarray:
    """Model outputs for inputs (N, ...) in batches, in eval mode, as float64 numpy."""
    x = _as_tensor(x, "inputs")
    if device is not None:
        dev = resolve_device(device)
    else:  # where the model's weights are (CPU for a callable without parameters)
        params = model.parameters() if isinstance(model, nn.Module) else iter(())
        dev = next((p.device for p in params), torch.device("cpu"))
    was = getattr(model, "training", False)
    if isinstance(model, nn.Module):
        model.eval()
    try:
        outs = [model(_batch(x, np.arange(i, min(len(x), i + batch_size)), dev)).double().cpu()
                for i in range(0, len(x), batch_size)]
    finally:
        if isinstance(model, nn.Module):
            model.train(was)
    return torch.cat(outs).numpy()


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over path,
    so a crash leaves either the old file or the new one, never a torn one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict:
    """Loads a checkpoint written by :func:`save_atomic`, with a clear error if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (torch raises many types for bad files)
        raise ValueError(f"checkpoint {path} is corrupt or not a hyperkit checkpoint: {e}") from e


class _Progress:
    """A one-line progress bar on an interactive stderr; silent otherwise."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self.total, self.label = total, label
        self.enabled = enabled and sys.stderr.isatty()

    def update(self, done: int, loss: float) -> None:
        if self.enabled and (done == self.total or done % 20 == 0):
            bar = "#" * (24 * done // self.total)
            sys.stderr.write(f"\r{self.label} [{bar:<24}] {done}/{self.total} loss {loss:.4f}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 79 + "\r")


def fit(model: nn.Module, train: tuple[Any, Any], val: tuple[Any, Any],
        config: TrainConfig | None = None, *, checkpoint: str | Path | None = None,
        resume: bool = False, device: Any = "auto", log: Callable[[str], None] | None = print,
        name: str = "train", progress: bool = True,
        stop_after: int | None = None) -> FitResult:
    """Trains ``model`` in place and leaves it holding its best-validation weights.

    Args:
        model: maps a batch of inputs (B, ...) to predictions (B,).
        train, val: (inputs (N, ...), labels (N,)); inputs may be numpy arrays,
            memory-mapped arrays or tensors; they are moved to ``device`` per batch.
        config: hyper-parameters; default :func:`stage1_config`.
        checkpoint: file rewritten atomically after every epoch (model, optimizer,
            schedule, RNG, best weights); with ``resume`` an existing one is continued.
        resume: continue from ``checkpoint`` if it exists (a finished run is not redone).
        device: 'auto', 'cpu', 'cuda' or a torch.device.
        log: called with one line per epoch (None: silent).
        stop_after: stop after this many epochs in this call (to simulate interruptions).

    Returns:
        :class:`FitResult`. Deterministic on CPU for a fixed seed, including across a
        resume.
    """
    cfg = config or stage1_config()
    xtr, ytr = _check_data(train, "train")
    xva, yva = _check_data(val, "val")
    dev = resolve_device(device)
    world, rank = dist_world(), dist_rank()
    loss_fn = LOSSES[cfg.loss]
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists() and not resume:
        raise FileExistsError(f"checkpoint {ckpt} exists; pass resume=True to continue it or "
                              "choose another path (it is never overwritten by a new run)")
    torch.manual_seed(cfg.seed)
    model.to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          nesterov=cfg.nesterov)
    st = {"epoch": 0, "updates": 0, "factor": 1.0, "best_val": math.inf, "best_epoch": -1,
          "since_best": 0, "plateau_wait": 0, "done": False, "stopped_early": False}
    history: list[dict] = []
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if ckpt is not None and ckpt.exists():
        c = load_checkpoint(ckpt)
        if c.get("config") != dataclasses.asdict(cfg):
            raise ValueError(f"checkpoint {ckpt} was written with a different configuration "
                             f"{c.get('config')}; resume needs the same one")
        model.load_state_dict(c["model"])
        opt.load_state_dict(c["optimizer"])
        st, history, best_state = c["state"], c["history"], c["best_model"]
        torch.set_rng_state(c["rng"])
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[dev.index] if dev.type == "cuda" else None)
    n_per_rank = len(xtr) // world
    if n_per_rank == 0:
        raise ValueError(f"train has {len(xtr)} samples, fewer than the {world} ranks")
    ran = 0
    while not st["done"]:
        epoch = st["epoch"]
        if epoch >= cfg.epochs or st["since_best"] >= cfg.patience:
            st["done"] = True
            st["stopped_early"] = epoch < cfg.epochs
            break
        if stop_after is not None and ran >= stop_after:
            break
        t0 = time.perf_counter()
        # The permutation depends only on (seed, epoch): identical on every rank and
        # across a resume, with no generator state to save.
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        perm = torch.randperm(len(xtr), generator=g).numpy()
        mine = perm[: n_per_rank * world].reshape(n_per_rank, world)[:, rank]
        net.train()
        total, seen = 0.0, 0
        bar = _Progress(math.ceil(n_per_rank / cfg.batch_size), f"{name} epoch {epoch + 1}",
                        progress and rank == 0)
        for b, i in enumerate(range(0, n_per_rank, cfg.batch_size)):
            idx = mine[i:i + cfg.batch_size]
            xb, yb = _batch(xtr, idx, dev), ytr[torch.from_numpy(idx)].to(dev)
            lr = cfg.lr * st["factor"] / (1.0 + cfg.decay * st["updates"])
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xb).reshape(-1), yb)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{name}: loss became {loss.item()} at epoch "
                                         f"{epoch + 1}; lower the learning rate")
            loss.backward()
            opt.step()
            st["updates"] += 1
            total += loss.item() * len(idx)
            seen += len(idx)
            bar.update(b + 1, total / seen)
        bar.close()
        val_loss = float(loss_fn(torch.from_numpy(predict(model, xva, device=dev)).float(),
                                 yva).item())
        if world > 1:  # rank 0's number decides, so every rank takes the same branch
            v = torch.tensor([val_loss], dtype=torch.float64, device=dev)
            dist.broadcast(v, 0)
            val_loss = float(v.item())
        improved = val_loss < st["best_val"]
        if improved:
            st.update(best_val=val_loss, best_epoch=epoch, since_best=0, plateau_wait=0)
            best_state = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}
        else:
            st["since_best"] += 1
            st["plateau_wait"] += 1
            if st["plateau_wait"] >= cfg.plateau_patience:
                st["factor"] *= cfg.plateau_factor
                st["plateau_wait"] = 0
        row = {"epoch": epoch + 1, "train_loss": total / seen, "val_loss": val_loss, "lr": lr,
               "seconds": time.perf_counter() - t0}
        history.append(row)
        st["epoch"] = epoch + 1
        ran += 1
        if log is not None and rank == 0:
            log(f"{name} epoch {epoch + 1}/{cfg.epochs} train {row['train_loss']:.4f} "
                f"val {val_loss:.4f}{' *' if improved else ''} lr {lr:.2e} "
                f"({row['seconds']:.1f} s)")
        if ckpt is not None and rank == 0:
            _save(ckpt, model, opt, st, history, best_state, cfg)
    if ckpt is not None and rank == 0 and st["done"]:
        _save(ckpt, model, opt, st, history, best_state, cfg)
    if world > 1:
        dist.barrier()
    model.load_state_dict(best_state)
    return FitResult(st["best_val"], st["best_epoch"] + 1, st["epoch"], history,
                     st["stopped_early"])


def _save(path: Path, model: nn.Module, opt: torch.optim.Optimizer, st: dict,
          history: list, best_state: dict, cfg: TrainConfig) -> None:
    save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "state": st,
                 "history": history, "best_model": best_state, "rng": torch.get_rng_state(),
                 "config": dataclasses.asdict(cfg)}, path)
