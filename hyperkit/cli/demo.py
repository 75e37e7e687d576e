"""``hyperkit demo``: hyper-images of built-in TID2013-sized images with Kang's stage 1
(Table 5), untrained: shapes and speed."""

from __future__ import annotations

import argparse
import time

HELP = "build hyper-images of built-in images"
DESCRIPTION = ("Build hyper-images of generated TID2013-sized images with an untrained "
               "Kang stage 1: shapes and speed, no training.")
EXAMPLES = "example:\n  hyperkit demo --images 4 --out hyper.npy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=int, default=8, help="number of images (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", help="save the hyper-images to this .npy file")


def run_from_args(args: argparse.Namespace) -> None:
    if args.images < 1:
        args.parser.error("--images must be >= 1")
    import numpy as np
    import torch

    import hyperkit
    from hyperkit.nets import KangStage1

    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    # Built-in data: smooth random images (a gradient plus blobs) with one
    # corner patch of strong noise: a localized artifact of the kind the method targets.
    h, w = 384, 512
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    images = []
    for _ in range(args.images):
        img = 0.5 + 0.3 * np.sin(6 * xx * rng.random() + 4 * yy * rng.random())[..., None]
        img = np.repeat(img, 3, axis=2) * rng.uniform(0.6, 1.0, 3)
        y0, x0 = rng.integers(0, h - 64), rng.integers(0, w - 64)
        img[y0:y0 + 64, x0:x0 + 64] += rng.normal(0, 0.2, (64, 64, 3))
        images.append((np.clip(img, 0, 1) * 255).astype(np.uint8))
    net = KangStage1(in_channels=3).eval()
    t0 = time.perf_counter()
    hyper = hyperkit.build_hyperimage(images, net.features, patch=32, stride=16)
    dt = time.perf_counter() - t0
    print(f"{len(images)} images {h}x{w}x3 -> hyper-images {tuple(hyper.shape)} "
          f"(N, D, U, V) in {dt:.2f} s ({len(images) / dt:.1f} images/s)")
    print(f"stage 1: Kang et al. (Table 5) with untrained weights (seed {args.seed}): "
          "this shows shapes and throughput, not quality features")
    if args.out:
        np.save(args.out, hyper.numpy())
        print(f"wrote {args.out}")
