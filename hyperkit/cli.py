"""Command line: ``hyperkit info | demo | synthetic | predict``."""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from hyperkit.model import METHODS


def _info(_: argparse.Namespace) -> None:
    import hyperkit
    from hyperkit import _C

    print(f"hyperkit {hyperkit.__version__}, torch {torch.__version__}")
    print(f"CPU kernels: OpenMP threads {_C.get_num_threads()}")
    print(f"CUDA kernels usable: {hyperkit.cuda_available()}")


def _demo(args: argparse.Namespace) -> None:
    """Hyper-images of built-in TID2013-sized images with Kang's stage 1 (Table 5)."""
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


def _synthetic(args: argparse.Namespace) -> None:
    """Table 1: trains both methods and writes results.json, results.md and plots."""
    from dataclasses import replace

    from hyperkit.tasks.synthetic import SETTINGS, run_synthetic
    from hyperkit.training.dist import init_distributed

    if (args.seeds is not None and args.seeds < 1) or (args.images is not None
                                                       and args.images < 10):
        raise SystemExit("hyperkit synthetic: error: --seeds must be >= 1 and --images >= 10")
    name = "quick" if args.quick else "full"
    setting = SETTINGS[name]
    if args.seeds is not None:
        setting = replace(setting, seeds=args.seeds)
    if args.images is not None:
        setting = replace(setting, images=args.images, images_per_count=args.images)
    init_distributed()  # under torchrun: DDP across the ranks
    out = args.out or f"runs/synthetic-exp{args.experiment}-{name}"
    try:
        run_synthetic(args.experiment, setting, out, device=args.device, resume=args.resume,
                      progress=not args.no_progress)
    except (FileExistsError, FileNotFoundError, ValueError) as e:
        raise SystemExit(f"hyperkit synthetic: error: {e}") from None


def _read_image(path: str, gray: bool) -> np.ndarray:
    """An image file as a numpy array: .npy, or anything Pillow reads (PNG, JPEG, BMP...),
    converted to one channel (ITU-R 601 luma) when ``gray`` and to RGB otherwise."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image file {path} does not exist")
    if p.suffix.lower() == ".npy":
        try:
            return np.load(p, allow_pickle=False)
        except ValueError as e:
            raise ValueError(f"{path} is not a readable .npy array: {e}") from e
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            im.load()
            return np.asarray(im.convert("L" if gray else "RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{path} is not a readable image: {e}") from e


def _predict(args: argparse.Namespace) -> None:
    """Prints one score per image file with a model from ``hyperkit synthetic --out``."""
    import hyperkit

    try:
        model = hyperkit.load_model(args.model)
        for path in args.images:
            img = _read_image(path, gray=model.channels == 1)
            score = model.predict([img], method=args.method)[0]
            print(f"{path}\t{score:.4f}")
    except (FileNotFoundError, ValueError, TypeError) as e:
        raise SystemExit(f"hyperkit predict: error: {e}") from None


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``hyperkit`` command (``argv`` defaults to sys.argv[1:])."""
    parser = argparse.ArgumentParser(prog="hyperkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="build and device information").set_defaults(fn=_info)
    demo = sub.add_parser("demo", help="build hyper-images of built-in images")
    demo.add_argument("--images", type=int, default=8, help="number of images (default 8)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", help="save the hyper-images to this .npy file")
    demo.set_defaults(fn=_demo)
    syn = sub.add_parser("synthetic", help="train and evaluate the synthetic task (Table 1)")
    syn.add_argument("--experiment", type=int, choices=(1, 2), default=1,
                     help="1: random data set; 2: only patch positions vary (default 1)")
    syn.add_argument("--quick", action="store_true",
                     help="small setting, minutes on 2 CPU cores (default: full setting)")
    syn.add_argument("--out", help="output folder (default runs/synthetic-exp<E>-<setting>)")
    syn.add_argument("--seeds", type=int, help="number of seeds (default: the setting's)")
    syn.add_argument("--images", type=int,
                     help="images per data set (default: the setting's, see the README)")
    syn.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    syn.add_argument("--resume", action="store_true",
                     help="continue an interrupted run in --out from its checkpoints")
    syn.add_argument("--no-progress", action="store_true", help="no progress bars")
    syn.set_defaults(fn=_synthetic)
    pred = sub.add_parser("predict", help="score image files with a trained model")
    pred.add_argument("model", help="a run folder from 'hyperkit synthetic --out' or a model folder")
    pred.add_argument("images", nargs="+", help="image files (PNG, JPEG, ... or .npy)")
    pred.add_argument("--method", choices=tuple(METHODS), default="two_stage")
    pred.set_defaults(fn=_predict)
    args = parser.parse_args(argv)
    if args.command == "demo" and args.images < 1:
        parser.error("--images must be >= 1")
    args.fn(args)


if __name__ == "__main__":
    main()
