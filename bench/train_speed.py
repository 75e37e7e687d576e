"""Stage-1 training speed, old route against new, with validation loss after a fixed number
of steps (issue 19).

Kang et al.'s stage 1 (RGB, 32 x 32 patches, the paper's SGD, batch 128) trained on every
grid patch (stride 16) of the NR-IQA demo's LCN images, each labelled with its image's MOS,
at the demo's size (192 x 256) and at TID2013's (384 x 512, the same photographs
resized). Routes, each from the same initial weights and batch order per seed:

* ``dense``: conv1 -> min+max pooling with autograd's full backward convolution (the
  route before issue 19);
* ``winners``: :func:`hyperkit.ops.conv_minmax`, whose backward gathers only the winning
  windows (the default now; identical forward values);
* ``winners+bf16``: the same under bfloat16 autocast (``TrainConfig(precision='bf16')``;
  only where the CPU has native bf16);
* ``winners+f16cache``: ``winners`` on images rounded to float16 and widened back, the
  values stage 1 trains on from the half-size prepared-image cache
  (:class:`hyperkit.data.prepared.PreparedImages`, the default since issue 19);
* ``winners+micro16``, ``winners+micro32``: ``winners`` with each step's forward and
  backward in parts of 16 (32) patches whose gradients add up to the step's
  (``TrainConfig.cpu_micro_batch``);
* ``shared`` (and ``shared+bf16``): conv1 once per whole image, every grid patch pooled
  from that map (:func:`hyperkit.ops.conv_grid_minmax`, the same winner-window backward):
  a step takes ``--shared-images`` whole images with all their grid patches (165 each at
  the demo's size, 713 at TID's), the learning rate optionally scaled linearly by patches
  per step over 128 (``--shared-lr-scale``), for the same number of patch visits as the
  other routes. Measured, not adopted (bench/RESULTS.md "train-speed"): one image a step
  is fast but every patch of a step has the same label; several images a step are slower
  and train worse per patch visit.

Patches/s is over the timed steps (after 5 warm-up steps); the validation loss is the MAE
over the patches of held-out references, in float32, after ``--steps`` steps. Seeds give
the noise that a route's validation loss must stay within.

    python bench/train_speed.py                       # demo and TID sizes, 3 seeds
    python bench/train_speed.py --sizes demo --seeds 0 --steps 60   # a quick look

Run it alone: two torch processes on 2 cores slow each other down several-fold.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import statistics as st
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hyperkit.data.iqa.demo import load_demo
from hyperkit.data.iqa.demo_distortions import crop_resize
from hyperkit.devices import describe_machine, native_bf16
from hyperkit.grid import grid_positions
from hyperkit.images import read_image
from hyperkit.nets.kang import KangStage1
from hyperkit.ops import conv_grid_minmax
from hyperkit.ops.gather_patches import ImageTable
from hyperkit.patches import GridPatches
from hyperkit.training.config import stage1_config
from hyperkit.training.loop import make_optimizer, training_precision

SIZES = {"demo": ((192, 256), (11, 15)), "tid": ((384, 512), (23, 31))}
GRID_OF = dict(SIZES.values())
OUT = Path(__file__).resolve().parent.parent / "results" / "train_speed.json"


class DenseKang(KangStage1):
    """The route before issue 19: the conv map, then min+max pooling, differentiated
    by autograd (a full backward convolution)."""

    def features(self, patches: torch.Tensor) -> torch.Tensor:
        h = self.pool(self.conv1(patches)).flatten(1)
        return self.relu(self.fc2(self.relu(self.fc1(h))))


ROUTES = {"dense": (DenseKang, "float32"), "winners": (KangStage1, "float32"),
          "winners+bf16": (KangStage1, "bf16"), "winners+f16cache": (KangStage1, "float32"),
          "shared": (KangStage1, "float32"),
          "shared+bf16": (KangStage1, "bf16"),
          "winners+micro16": (KangStage1, "float32"), "winners+micro32": (KangStage1, "float32")}
# routes whose steps go forward and backward in parts of this many patches, gradients
# summed (TrainConfig.cpu_micro_batch, as the forgery quick setting's stage 1 trains)
MICRO = {"winners+micro16": 16, "winners+micro32": 32}


def data(size: str, val_refs: int) -> tuple[GridPatches, GridPatches]:
    """(train, val) patch sources: every grid patch, references held out for val."""
    table = load_demo(log=None)
    (h, w), grid = SIZES[size]
    refs = sorted(set(table.refs))
    held = set(refs[:val_refs])
    parts: dict[bool, tuple[list, list]] = {True: ([], []), False: ([], [])}
    for path, ref, score in zip(table.images, table.refs, table.scores):
        im = read_image(path)
        if im.shape[:2] != (h, w):
            im = crop_resize(im, h, w)
        parts[ref in held][0].append(im)
        parts[ref in held][1].append(float(score))
    make = lambda ims, ys, name: GridPatches(ims, ys, (32, 32), grid, lcn=True, name=name)  # noqa: E731
    return make(*parts[False], "train images"), make(*parts[True], "val images")


def val_mae(net: KangStage1, val: GridPatches, limit: int = 20_000) -> float:
    """Mean absolute error over (up to ``limit``, evenly spaced) validation patches."""
    net.eval()
    idx = np.linspace(0, len(val) - 1, min(limit, len(val))).astype(np.int64)
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(idx), 512):
            (x,), y = val.batch(idx[i:i + 512])
            total += float((net(x) - y).abs().sum())
    return total / len(idx)


def rounded(src: GridPatches) -> GridPatches:
    """The same patches with the images rounded to float16 and widened back: what stage 1
    trains and validates on from the half-size prepared-image cache."""
    out = copy.copy(src)
    out.images = [t.half().float() for t in src.images]
    out._table = ImageTable(out.images, out.patch)
    return out


def shared_scores(net: KangStage1, images: torch.Tensor) -> torch.Tensor:
    """Scores (N U V,) of every grid patch of same-size images (N, C, H, W), conv1 run
    once per image: the shared route."""
    h, w = images.shape[2:]
    rows, cols = grid_positions(h, net.patch, GRID_OF[(h, w)][0]), \
        grid_positions(w, net.patch, GRID_OF[(h, w)][1])
    mx, mn = conv_grid_minmax(images, net.conv1.weight, net.conv1.bias, net.patch, rows, cols)
    f = torch.cat([mn, mx], 1).permute(0, 2, 3, 1).reshape(-1, 2 * mx.shape[1])
    return net.out(net.relu(net.fc2(net.relu(net.fc1(f))))).squeeze(1)


def run_shared(route: str, seed: int, train: GridPatches, val: GridPatches, patches: int,
               images: int, lr_scale: str) -> dict:
    """Trains the shared route for as many patch visits as ``patches``, ``images`` whole
    images a step; its patches/s and validation MAE."""
    _, precision = ROUTES[route]
    torch.manual_seed(seed)
    net = KangStage1(3)
    cells = train.grid[0] * train.grid[1]
    per_step = images * cells
    base = stage1_config(seed=seed).lr
    lr = base * per_step / 128 if lr_scale == "linear" else base
    cfg = stage1_config(seed=seed, batch_size=images, precision=precision, lr=lr)
    opt = make_optimizer(net, cfg)
    n = len(train.images)
    order = np.random.default_rng(seed).permutation(n)
    steps = max(1, round(patches / per_step))
    dev = torch.device("cpu")
    net.train()
    warm, t0 = 2, 0.0
    for s in range(steps + warm):
        if s == warm:
            t0 = time.perf_counter()
        pick = order[(s * images) % (n - images):][:images]
        x = torch.stack([train.images[i] for i in pick])
        y = train.labels[torch.from_numpy(pick)].repeat_interleave(cells)
        opt.zero_grad(set_to_none=True)
        with training_precision(precision, dev):
            loss = (shared_scores(net, x).float() - y).abs().mean()
        loss.backward()
        opt.step()
        loss.item()
    rate = steps * per_step / (time.perf_counter() - t0)
    return {"route": route, "seed": seed, "patches_per_s": rate, "val_mae": val_mae(net, val),
            "steps": steps, "patches_per_step": per_step, "lr": lr}


def run(route: str, seed: int, train: GridPatches, val: GridPatches, steps: int,
        batch: int, tail: int = 0) -> dict:
    """Trains one route for ``steps`` steps; its patches/s (training steps only) and
    validation MAE after the last step and, with ``tail`` > 0, the mean validation MAE
    over the last ``tail`` of 5 evaluations spaced steps / 5 apart (one step's MAE jumps
    with the output bias; the tail mean is steadier)."""
    cls, precision = ROUTES[route]
    torch.manual_seed(seed)
    net = cls(3)
    cfg = stage1_config(seed=seed, batch_size=batch, precision=precision)
    opt = make_optimizer(net, cfg)
    order = np.random.default_rng(seed).permutation(len(train))
    dev = torch.device("cpu")
    warm, spent, evals = 5, 0.0, []
    every = max(1, steps // 5)
    for s in range(steps + warm):
        net.train()
        t = time.perf_counter()
        (x,), y = train.batch(order[(s * batch) % (len(order) - batch):][:batch])
        opt.zero_grad(set_to_none=True)
        part = MICRO.get(route, batch)
        for i in range(0, batch, part):
            with training_precision(precision, dev):
                loss = (net(x[i:i + part]).float() - y[i:i + part]).abs().mean()
            (loss * (len(y[i:i + part]) / batch)).backward()
        opt.step()
        loss.item()
        if s >= warm:
            spent += time.perf_counter() - t
        done = s - warm + 1
        if tail and done > 0 and done % every == 0 and done != steps:
            evals.append(val_mae(net, val))
    final = val_mae(net, val)
    row = {"route": route, "seed": seed, "patches_per_s": steps * batch / spent,
           "val_mae": final}
    if tail:
        row["val_mae_tail"] = float(np.mean((evals + [final])[-tail:]))
    return row


def table(rows: list[dict]) -> list[str]:
    """Markdown: per route, median patches/s, speed-up over dense, val MAE mean ± std."""
    tail = any("val_mae_tail" in r for r in rows)
    out = ["| route | patches/s (median; per seed) | speed-up | val MAE mean ± std "
           "(per seed) |" + (" val MAE, mean of the last evaluations |" if tail else ""),
           "|---|---|---|---|" + ("---|" if tail else "")]
    ran = [r["route"] for r in rows]
    base_route = "dense" if "dense" in ran else ran[0]  # the speed-up's base
    base = st.median(r["patches_per_s"] for r in rows if r["route"] == base_route)
    for route in ROUTES:
        rs = [r for r in rows if r["route"] == route]
        if not rs:
            continue
        rates, maes = [r["patches_per_s"] for r in rs], [r["val_mae"] for r in rs]
        ok = [m for m in maes if math.isfinite(m)]  # a diverged run's MAE is inf or NaN
        mean = f"{st.mean(ok):.3f}" if ok else "–"
        sd = f"{st.stdev(ok):.3f}" if len(ok) > 1 else "–"
        diverged = f"; {len(maes) - len(ok)} diverged" if len(ok) < len(maes) else ""
        line = (f"| {route} | {st.median(rates):,.0f} ({', '.join(f'{v:,.0f}' for v in rates)})"
                f" | {st.median(rates) / base:.2f}x | {mean} ± {sd} "
                f"({', '.join(f'{v:.3f}' for v in maes)}{diverged}) |")
        tails = [r["val_mae_tail"] for r in rs if "val_mae_tail" in r]
        if tails:
            line += (f" {st.mean(tails):.3f} ± {st.stdev(tails) if len(tails) > 1 else 0:.3f} "
                     f"({', '.join(f'{v:.3f}' for v in tails)}) |")
        out.append(line)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="demo,tid", help="comma-separated: demo, tid")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=250)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--val-refs", type=int, default=3)
    ap.add_argument("--routes", default=",".join(ROUTES), help="comma-separated routes")
    ap.add_argument("--tail", type=int, default=0,
                    help="also the mean validation MAE over the last TAIL of 5 evaluations")
    ap.add_argument("--shared-images", type=int, default=1,
                    help="whole images per step of the shared routes")
    ap.add_argument("--shared-lr-scale", choices=("linear", "none"), default="linear")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    machine = describe_machine()
    unknown = sorted(set(a.routes.split(",")) - set(ROUTES))
    if unknown:
        ap.error(f"--routes: unknown {unknown}; choose from {list(ROUTES)}")
    routes = [r for r in a.routes.split(",")
              if ROUTES[r][1] != "bf16" or native_bf16(torch.device("cpu"))]
    report: dict = {"machine": machine, "command": " ".join(["python", *sys.argv]),
                    "steps": a.steps, "batch": a.batch, "shared_images": a.shared_images,
                    "shared_lr_scale": a.shared_lr_scale, "sizes": {}}
    for size in a.sizes.split(","):
        train, val = data(size, a.val_refs)
        half, half_val = (rounded(src) for src in (train, val))
        rows = []
        for seed in (int(s) for s in a.seeds.split(",")):
            for route in routes:  # interleaved, so drift in the machine hits every route
                rows.append(run_shared(route, seed, train, val, a.steps * a.batch,
                                       a.shared_images, a.shared_lr_scale)
                            if route.startswith("shared") else
                            run(route, seed, *((half, half_val) if route.endswith("f16cache")
                                               else (train, val)), a.steps, a.batch, a.tail))
                print(f"{size} {rows[-1]}", flush=True)
        report["sizes"][size] = {"image": SIZES[size][0], "grid": SIZES[size][1],
                                 "train_patches": len(train), "val_patches": len(val),
                                 "rows": rows, "table": table(rows)}
        print(f"\n{size} ({SIZES[size][0][0]} x {SIZES[size][0][1]}):")
        print("\n".join(report["sizes"][size]["table"]), flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=1))
    print(f"\n{machine}\nwritten to {a.out}")


if __name__ == "__main__":
    main()
