"""Forgery hyper-image build time against the stage-1 batch size (issue 19).

Builds the hyper-images of every image of a finished ``hyperkit forgery`` run's data set
with the run's seed-0 model, alternating the batch sizes ``--batches`` ``--repeats``
times, and prints the seconds of each build and the largest difference between the
batch sizes' hyper-images.

    python bench/forgery_hyper_batch.py --run RUN --data RUN/data --batches 256,32 --repeats 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from hyperkit.data.forgery import casia2
from hyperkit.data.image_files import ImageFiles
from hyperkit.model import TwoStage
from hyperkit.tasks.forgery.seed import _rgb
from hyperkit.training.recipes import cached_hyperimages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--batches", default="256,32")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    model = TwoStage.load(args.run / "seed0" / "model").eval()
    paths, _, _ = casia2.scan(args.data).classification_set()
    files = ImageFiles(list(paths))
    batches = [int(b) for b in args.batches.split(",")]
    seconds: dict[int, list[float]] = {b: [] for b in batches}
    last: dict[int, np.ndarray] = {}
    for _ in range(args.repeats):
        for b in batches:
            with tempfile.TemporaryDirectory() as d:
                t = time.perf_counter()
                h = cached_hyperimages("h", model, files, Path(d), "mmap", batch_size=b,
                                       group=16, prepare=_rgb)
                seconds[b].append(time.perf_counter() - t)
                last[b] = np.array(h)
    print(f"{len(paths)} images; seconds per build: "
          + ", ".join(f"batch {b}: {[round(s, 1) for s in v]}" for b, v in seconds.items()))
    ref = last[batches[0]]
    for b in batches[1:]:
        print(f"max |batch {b} - batch {batches[0]}|: {float(np.abs(last[b] - ref).max()):.2e}")


if __name__ == "__main__":
    main()
