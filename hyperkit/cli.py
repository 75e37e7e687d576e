"""The ``hyperkit`` command: info, demo, synthetic, predict.

Nothing heavy is imported at module level, so ``hyperkit --help`` answers without
loading torch; each subcommand imports what it needs.
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from pathlib import Path

from hyperkit.methods import METHODS


def _info(_: argparse.Namespace) -> None:
    import torch

    import hyperkit
    from hyperkit import _C

    print(f"hyperkit {hyperkit.__version__}, torch {torch.__version__}")
    print(f"CPU kernels: OpenMP threads {_C.get_num_threads()}")
    print(f"CUDA kernels usable: {hyperkit.cuda_available()}")


def _demo(args: argparse.Namespace) -> None:
    """Hyper-images of built-in TID2013-sized images with Kang's stage 1 (Table 5)."""
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


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Image files named by paths, folders (their image files, sorted) and glob patterns.

    Returns (files, problems): problems are (input, reason) for inputs that name nothing.
    """
    from hyperkit.images import IMAGE_SUFFIXES

    files, problems = [], []
    for arg in inputs:
        p = Path(arg)
        if p.is_dir():
            found = sorted(f for f in p.iterdir()
                           if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                problems.append((arg, f"folder holds no image files ({', '.join(IMAGE_SUFFIXES)})"))
            files += found
        elif p.exists():
            files.append(p)
        elif glob.has_magic(arg):
            found = sorted(Path(f) for f in glob.glob(arg) if Path(f).is_file())
            if not found:
                problems.append((arg, "no file matches this pattern"))
            files += found
        else:
            problems.append((arg, "does not exist"))
    return files, problems


def _predict(args: argparse.Namespace) -> None:
    """Scores image files; a bad file is reported and skipped, the exit status is 1 if any
    input failed."""
    import csv
    import io

    import hyperkit
    from hyperkit.files import write_text
    from hyperkit.images import read_image

    if args.csv and Path(args.csv).exists():
        raise SystemExit(f"hyperkit predict: error: --csv {args.csv} exists; choose another "
                         "file (nothing is overwritten)")
    try:
        model = hyperkit.load_model(args.model)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"hyperkit predict: error: {e}") from None
    files, problems = expand_inputs(args.images)
    meaning = model.meta.get("score_meaning", "in the units of the model's training labels")
    rows = []
    for path in files:
        try:
            score = float(model.predict([read_image(path)], method=args.method)[0])
        except (FileNotFoundError, ValueError, TypeError) as e:
            problems.append((str(path), str(e)))
            continue
        print(f"{path}\t{score:.4f}", flush=True)
        rows.append((str(path), f"{score:.6f}", args.method, meaning))
    for arg, why in problems:
        print(f"hyperkit predict: skipped {arg}: {why}", file=sys.stderr)
    if args.csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["path", "score", "method", "meaning"])
        writer.writerows(rows)
        write_text(args.csv, buf.getvalue())
        print(f"wrote {len(rows)} row(s) to {args.csv}", file=sys.stderr)
    if problems:
        raise SystemExit(f"hyperkit predict: {len(problems)} input(s) failed, "
                         f"{len(rows)} scored")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hyperkit")
    except PackageNotFoundError:  # run from a source tree
        from hyperkit import __version__

        return __version__


_EXAMPLES = {
    "info": "example:\n  hyperkit info",
    "demo": "example:\n  hyperkit demo --images 4 --out hyper.npy",
    "synthetic": ("examples:\n"
                  "  hyperkit synthetic --quick                # experiment 1, minutes on 2 cores\n"
                  "  hyperkit synthetic --experiment 2 --seeds 2 --out runs/exp2\n"
                  "  hyperkit synthetic --quick --resume       # continue an interrupted run"),
    "predict": ("A model trained on gray images scores colour files by converting them to\n"
                "gray (BT.709 luma, as skimage.color.rgb2gray); a model trained on colour\n"
                "images needs colour files. 8- and 16-bit files are read at their depth;\n"
                ".npy arrays follow the image rules of the README (floats in [0, 1]).\n\n"
                "examples:\n"
                "  hyperkit predict runs/synthetic-exp1-quick photo.png scans/ 'shots/*.jpg'\n"
                "  hyperkit predict runs/synthetic-exp1-quick scans/ --csv scores.csv"),
}


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``hyperkit`` command (``argv`` defaults to sys.argv[1:])."""
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="hyperkit", formatter_class=raw,
        description="CNN hyper-images (Chandakkar & Li): train and evaluate the two-stage "
                    "method, and score images with a trained model.",
        epilog="run 'hyperkit COMMAND --help' for a command's options and examples")
    parser.add_argument("--version", action="version", version=f"hyperkit {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=description,
                              epilog=_EXAMPLES[name], formatter_class=raw)

    command("info", "show the build and the devices",
            "Show the hyperkit and torch versions, CPU threads and whether the CUDA "
            "kernels can run here.").set_defaults(fn=_info)
    demo = command("demo", "build hyper-images of built-in images",
                   "Build hyper-images of generated TID2013-sized images with an untrained "
                   "Kang stage 1: shapes and speed, no training.")
    demo.add_argument("--images", type=int, default=8, help="number of images (default 8)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--out", help="save the hyper-images to this .npy file")
    demo.set_defaults(fn=_demo)
    syn = command("synthetic", "train and evaluate the synthetic task (Table 1)",
                  "Train both stages on the paper's synthetic images and compare the "
                  "two-stage method with patch averaging. Writes results.json, results.md, "
                  "plots and the trained models to --out.")
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
    pred = command("predict", "score image files with a trained model",
                   "Print one score per image: PNG, JPEG, TIFF, BMP, ... or .npy files, "
                   "folders (their image files, sorted) and glob patterns. A file that "
                   "cannot be scored is reported and skipped; the exit status is then 1.")
    pred.add_argument("model", help="a run folder (hyperkit synthetic --out) or a model folder")
    pred.add_argument("images", nargs="+", metavar="IMAGE",
                      help="image files, folders or glob patterns")
    pred.add_argument("--method", choices=tuple(METHODS), default="two_stage",
                      help="two_stage (default) or patch_average (Kang et al.'s baseline)")
    pred.add_argument("--csv", metavar="OUT",
                      help="also write path, score, method and meaning to this CSV file")
    pred.set_defaults(fn=_predict)
    args = parser.parse_args(argv)
    if args.command == "demo" and args.images < 1:
        parser.error("--images must be >= 1")
    args.fn(args)


if __name__ == "__main__":
    main()
