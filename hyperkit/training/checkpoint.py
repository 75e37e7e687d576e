"""fit's checkpoint: everything a resumed run needs to end bitwise where an
uninterrupted one would. Written atomically after every epoch (hyperkit.files)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..files import load_torch, save_torch
from .config import TrainConfig


def save(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: Any,
         history: list[dict], best_model: dict, config: TrainConfig, objective: str) -> None:
    """Writes the weights, optimizer, loop state, history, best weights, torch's RNG,
    and the configuration and objective the run must be resumed with."""
    save_torch({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "state": dataclasses.asdict(state), "history": history,
                "best_model": best_model, "rng": torch.get_rng_state(),
                "config": dataclasses.asdict(config), "objective": objective}, path)


def load(path: Path, config: TrainConfig, objective: str) -> dict:
    """Reads a checkpoint written by :func:`save`; ValueError unless it was written with
    the same configuration and objective."""
    c = load_torch(path)
    if "objective" not in c and isinstance(c.get("config"), dict):
        # Written before objectives were passed in: the loss was a config field.
        c["objective"] = c["config"].pop("loss", None)
    if isinstance(c.get("config"), dict):
        # Written before the optimizer was a choice: it was always SGD without decay.
        c["config"].setdefault("optimizer", "sgd")
        c["config"].setdefault("weight_decay", 0.0)
        c["config"].setdefault("precision", "float32")
    want, have = dataclasses.asdict(config), c.get("config")
    if not isinstance(have, dict):
        raise ValueError(f"checkpoint {path} records no training configuration; it was not "
                         "written by hyperkit.training.fit")
    # a speed setting (the same gradient; only dropout draws differ): a run resumes under
    # any value, so runs from before it existed resume too
    have = {**have, "cpu_micro_batch": want["cpu_micro_batch"]}
    if have != want:
        diff = "; ".join(f"{k}: {have.get(k)!r} there, {want.get(k)!r} now"
                         for k in sorted(set(want) | set(have)) if have.get(k) != want.get(k))
        raise ValueError(f"checkpoint {path} was written with a different configuration "
                         f"({diff}); resume needs the same one")
    if c.get("objective") != objective:
        raise ValueError(f"checkpoint {path} was written with objective {c.get('objective')!r}, "
                         f"not {objective!r}; resume needs the same one")
    return c


def finished_epochs(path: Path) -> int:
    """Epochs a checkpoint of :func:`hyperkit.training.fit` has finished (0 when there is
    none): what a resumed run's data source replays its random draws for."""
    path = Path(path)
    if not path.exists():
        return 0
    return int(load_torch(path)["state"]["epoch"])
