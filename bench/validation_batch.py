"""validate() of Kang's stage 1 at several evaluation batch sizes (issue 19).

20,000 random 32 x 32 patches cut from a finished NR-IQA run's prepared-image cache (its
out/cache/prepared-*.f32 or .f16 file, memory-mapped read-only; images of at least
32 x 32), an untrained Kang stage 1, MAE against random labels; the median of 3 passes per
batch size, sizes alternating. The validation value must be the same at every size (one
value over all outputs); the script prints it beside each time.

    python bench/validation_batch.py RUN/cache
"""

from __future__ import annotations

import argparse
import glob
import time
from pathlib import Path

import numpy as np
import torch

from hyperkit.data.prepared import PreparedImages
from hyperkit.nets.kang import KangStage1
from hyperkit.patches import PositionedPatches
from hyperkit.training.loop import validate
from hyperkit.training.objectives import MAE

SIZES = (512, 256, 128, 64)


def cached_images(folder: Path) -> PreparedImages:
    """The prepared images of a run's cache folder, mapped as the run maps them."""
    files = sorted(p for p in glob.glob(f"{folder}/prepared-*") if not p.endswith(".json"))
    if not files:
        raise SystemExit(f"{folder} holds no prepared-image cache (prepared-*)")
    return PreparedImages.open(files[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cache", type=Path, help="a run's out/cache folder")
    ap.add_argument("--patches", type=int, default=20000)
    args = ap.parse_args()
    images = cached_images(args.cache)
    rng, n = np.random.default_rng(0), args.patches
    idx = rng.integers(0, len(images), n)
    ys = np.array([rng.integers(0, images[i].shape[1] - 31) for i in idx])
    xs = np.array([rng.integers(0, images[i].shape[2] - 31) for i in idx])
    src = PositionedPatches(images, (32, 32), idx, ys, xs, rng.uniform(0, 100, n))
    torch.manual_seed(0)
    net, cpu = KangStage1(), torch.device("cpu")
    validate(net, src, MAE(), cpu, 128)  # warm-up
    times: dict[int, list[float]] = {b: [] for b in SIZES}
    values: dict[int, float] = {}
    for _ in range(3):
        for b in SIZES:
            t = time.perf_counter()
            values[b] = validate(net, src, MAE(), cpu, b)
            times[b].append(time.perf_counter() - t)
    for b in SIZES:
        med = float(np.median(times[b]))
        print(f"batch {b}: {med:.2f} s for {n} patches ({n / med:.0f} patches/s; "
              f"{np.round(times[b], 2).tolist()}), validation MAE {values[b]:.6f}")


if __name__ == "__main__":
    main()
