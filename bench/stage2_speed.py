"""Stage-2 head training speed: the standardization folded into the head's first layer
against the explicit standardization it replaced (issue 19).

A :class:`~hyperkit.nets.standardized.Standardized` grid head used to compute
``(x - mean) / std`` over the whole (B, D, U, V) batch and then an einsum for the stage-1
prior, two full passes and two copies of the largest tensor of the step, and the loop
checked every batch with an elementwise ``isfinite``. Now the head folds both into its
1 x 1 reduction (:meth:`hyperkit.nets.heads.GridHead.maps`), the paper's stage 2 into its
padded 3 x 3 first convolution (:meth:`hyperkit.nets.arch.SpecNet.forward_affine`), and the
check is a sum (:func:`hyperkit.batching.all_finite`). This times
:func:`hyperkit.training.recipes.fit_stage2` for the two heads an NR-IQA run trains by
default (``grid_stage2``'s member: ``head(D,U,V,glob=1)``, MAE + PLCC, kept by validation
SROCC, grid flips; ``weighted_pooling``: ``head(D,U,V,ctx=0,coords=0,res=0)``) and, with
``--arms paper_stage2``, the paper's stage 2 (``tid_stage2``, recipe 'adam') on random
ReLU hyper-images of TID2013's size (800 x 23 x 31, 648 training and 216 validation
images, memory-mapped like a run's), each route from the same weights and batches,
alternating the order over repeats. The ``before`` route patches the old
``Standardized.forward``, ``GridHead.maps`` and finite check back in, for the timing only.

    python bench/stage2_speed.py                          # TID size, 3 epochs, 2 repeats
    python bench/stage2_speed.py --train 200 --val 60 --epochs 2 --repeats 1  # a quick look
    python bench/stage2_speed.py --arms paper_stage2      # the paper's stage 2
    python bench/stage2_speed.py --arms paper_stage2 --fold-only   # the fold's share alone

Run it alone: two torch processes on 2 cores slow each other down several-fold.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics as st
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hyperkit import batching
from hyperkit.devices import describe_machine
from hyperkit.nets.heads import GridHead
from hyperkit.nets.standardized import Standardized
from hyperkit.tasks.iqa.settings import DEFAULT_RECIPE
from hyperkit.training.recipes import fit_stage2, head_config, stage2_recipe

ARMS = {  # arm -> (head options, fit_stage2 keywords, head_config overrides)
    "grid_stage2": ("glob=1", {"plcc": 1.0, "select": "srocc", "flips": True}, {}),
    "weighted_pooling": ("ctx=0,coords=0,res=0", {"flips": False}, {"weight_decay": 0.0}),
    # the paper's stage 2 (TID2013's preset; needs --dims 800,23,31) with the NR-IQA
    # default recipe 'adam': its padded 3 x 3 first convolution takes the fold
    # (SpecNet.forward_affine)
    "paper_stage2": (None, {}, {}),
}
PAPER_ARCH = "tid_stage2"


def explicit_forward(self: Standardized, x: torch.Tensor) -> torch.Tensor:
    """Standardized.forward before the fold: standardize the whole batch, then the net."""
    z = (x - self.in_mean[:, None, None]) / self.in_std[:, None, None]
    return self.net(z) * self.out_std + self.out_mean


def maps_before(self: GridHead, x: torch.Tensor, scale: Any = None, shift: Any = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """GridHead.maps before the fold: the reduction, then the prior as an einsum over x."""
    q, w = self.cell_maps(self.reduce(x))
    if self.res:
        q = q + torch.einsum("ndhw,d->nhw", x, self.prior_w) + self.prior_b
    return q, w


def finite_before(x: torch.Tensor) -> bool:
    """The training loop's finite check before: an elementwise test of the whole batch."""
    return bool(torch.isfinite(x).all())


@contextlib.contextmanager
def before_route(finite: bool = True) -> Iterator[None]:
    """The old Standardized.forward and GridHead.maps patched in, and the old finite
    check when ``finite`` (without it the ratio is the fold's alone)."""
    saved = Standardized.forward, GridHead.maps, batching.all_finite
    Standardized.forward, GridHead.maps = explicit_forward, maps_before
    if finite:
        batching.all_finite = finite_before
    try:
        yield
    finally:
        Standardized.forward, GridHead.maps, batching.all_finite = saved


class PriorStage1(nn.Module):
    """A stand-in stage 1 whose output layer gives residual heads their prior."""

    def __init__(self, d: int) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.out = nn.Linear(d, 1)


def make_data(folder: Path, n: int, dims: tuple[int, int, int], seed: int) -> np.ndarray:
    """(n, D, U, V) half-zero ReLU hyper-images in folder, memory-mapped."""
    path = folder / f"hyper_{n}_{seed}.npy"
    rng = np.random.default_rng(seed)
    m = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, *dims))
    for i in range(0, n, 32):
        k = min(32, n - i)
        m[i:i + k] = np.maximum(rng.standard_normal((k, *dims), dtype=np.float32), 0)
    m.flush()
    del m
    return np.load(path, mmap_mode="r")


def run_arm(arm: str, route: str, data: tuple, dims: tuple[int, int, int], epochs: int,
            finite: bool = True) -> dict:
    """Fits one head for ``epochs`` epochs; its seconds per epoch and losses."""
    htr, ytr, hva, yva = data
    opts, kw, over = ARMS[arm]
    d, u, v = dims
    if opts is None:  # the paper's stage 2 on the NR-IQA default recipe
        cfg, _ = stage2_recipe(DEFAULT_RECIPE, epochs=40, patience=10_000,
                               plateau_patience=10_000, batch_size=16, seed=0)
        arch = PAPER_ARCH
    else:
        cfg = head_config(40, 0, patience=10_000, plateau_patience=10_000, **over)
        arch = f"head({d},{u},{v},{opts})"
    cfg = replace(cfg, epochs=epochs)
    with before_route(finite) if route == "before" else contextlib.nullcontext():
        t = time.perf_counter()
        net, r = fit_stage2(PriorStage1(d), htr, ytr, hva, yva, stage2_arch=arch, config=cfg,
                            standardize=True, progress=False, log=None, **kw)
        total = time.perf_counter() - t
    with torch.no_grad():  # the fold's own error: one net, both forwards
        x = torch.from_numpy(np.array(hva[:32]))
        after = net(x).double()
        with before_route():
            before = net(x).double()
        fold_error = float((after - before).abs().max())
    return {"seconds": total, "epoch_seconds": [h["seconds"] for h in r.history],
            "train_loss": [h["train_loss"] for h in r.history],
            "val_loss": [h["val_loss"] for h in r.history], "fold_error": fold_error}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=int, default=648)
    ap.add_argument("--val", type=int, default=216)
    ap.add_argument("--dims", default="800,23,31", help="D,U,V of the hyper-images")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--arms", default="grid_stage2,weighted_pooling")
    ap.add_argument("--fold-only", action="store_true",
                    help="the before route keeps the new finite check: the fold's own ratio")
    ap.add_argument("--out", default=None, help="JSON file for every figure")
    ap.add_argument("--section", default=None, help="write this bench/RESULTS.md section")
    a = ap.parse_args()
    dims = tuple(int(s) for s in a.dims.split(","))
    if len(dims) != 3 or min(dims) < 1:
        raise SystemExit(f"--dims must be three positive integers D,U,V, got {a.dims!r}")
    arms = [s for s in a.arms.split(",") if s]
    if not arms or any(s not in ARMS for s in arms):
        raise SystemExit(f"--arms must name some of {', '.join(ARMS)}, got {a.arms!r}")
    if "paper_stage2" in arms and dims != (800, 23, 31):
        raise SystemExit(f"--arms paper_stage2 trains {PAPER_ARCH}, which takes --dims "
                         f"800,23,31, got {a.dims!r}")
    rng = np.random.default_rng(0)
    rows: dict = {}
    with tempfile.TemporaryDirectory(prefix="hk-stage2-speed-") as tmp:
        data = (make_data(Path(tmp), a.train, dims, 0),
                rng.uniform(0, 100, a.train).astype(np.float32),
                make_data(Path(tmp), a.val, dims, 1),
                rng.uniform(0, 100, a.val).astype(np.float32))
        for arm in arms:
            for rep in range(a.repeats):
                routes = ("before", "after") if rep % 2 == 0 else ("after", "before")
                for route in routes:
                    r = run_arm(arm, route, data, dims, a.epochs, not a.fold_only)
                    rows.setdefault(arm, {}).setdefault(route, []).append(r)
                    print(f"{arm} {route} repeat {rep}: {r['seconds']:.1f} s "
                          f"(epochs {', '.join(f'{s:.1f}' for s in r['epoch_seconds'])})",
                          flush=True)
    machine = describe_machine()
    about = ", ".join(f"{k} {v}" for k, v in machine.items())
    lines = [f"Machine: {about}. {a.train} training and {a.val} validation hyper-images of "
             f"{' x '.join(map(str, dims))}, {a.epochs} epochs a fit, {a.repeats} repeat(s), "
             "routes alternating" + ("; the before route keeps the new finite check"
                                     if a.fold_only else "") + ".", "",
             "| arm | before: s an epoch (median) | after | speed-up | largest |after - "
             "before| score of one trained net (label units 0-100) | train loss after the "
             "last epoch, before / after (first repeat) |", "|---|---|---|---|---|---|"]
    for arm, by in rows.items():
        med = {k: st.median(s for r in v for s in r["epoch_seconds"]) for k, v in by.items()}
        diff = max(r["fold_error"] for v in by.values() for r in v)
        lines.append(f"| {arm} | {med['before']:.2f} | {med['after']:.2f} | "
                     f"{med['before'] / med['after']:.2f}x | {diff:.2e} | "
                     f"{by['before'][0]['train_loss'][-1]:.4f} / "
                     f"{by['after'][0]['train_loss'][-1]:.4f} |")
    text = "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).write_text(json.dumps({"machine": machine, "args": vars(a), "rows": rows},
                                          indent=1))
    if a.section:
        from results import write_section  # bench/results.py, beside this script
        write_section(a.section, text)


if __name__ == "__main__":
    main()
