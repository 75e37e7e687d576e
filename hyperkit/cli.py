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
    print(f"# {args.method} scores: {meaning}", file=sys.stderr)
    rows = []
    classifier = model.labels([0.5]) is not None  # a forgery run: authentic / tampered
    for path in files:
        try:
            score = float(model.predict([read_image(path)], method=args.method)[0])
        except (FileNotFoundError, ValueError, TypeError) as e:
            problems.append((str(path), str(e)))
            continue
        if classifier:
            label, prob = model.labels([score])[0]
            print(f"{path}\t{label}\t{prob:.4f}", flush=True)
            rows.append((str(path), f"{score:.6f}", args.method, meaning, label, f"{prob:.6f}"))
            continue
        print(f"{path}\t{score:.4f}", flush=True)
        rows.append((str(path), f"{score:.6f}", args.method, meaning))
    for arg, why in problems:
        print(f"hyperkit predict: skipped {arg}: {why}", file=sys.stderr)
    if args.csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["path", "score", "method", "meaning"]
                        + (["label", "probability"] if classifier else []))
        writer.writerows(rows)
        write_text(args.csv, buf.getvalue())
        print(f"wrote {len(rows)} row(s) to {args.csv}", file=sys.stderr)
    if problems:
        raise SystemExit(f"hyperkit predict: {len(problems)} input(s) failed, "
                         f"{len(rows)} scored")


def _explain(args: argparse.Namespace) -> None:
    """Importance maps of image files: a PNG, a .npy map and a scores.csv row per image;
    a bad file is reported and skipped, the exit status is 1 if any input failed."""
    import hyperkit
    from hyperkit.tasks.explain import explain_files

    try:
        model = hyperkit.load_model(args.model)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"hyperkit explain: error: {e}") from None
    if args.method != "patch_average" and model.stage2 is None:
        raise SystemExit("hyperkit explain: error: this model has no stage 2; use "
                         "--method patch_average")
    files, problems = expand_inputs(args.images)
    try:
        rows, failed = explain_files(model, files, args.out, args.method)
    except (FileExistsError, ValueError) as e:
        raise SystemExit(f"hyperkit explain: error: {e}") from None
    problems += failed
    for arg, why in problems:
        print(f"hyperkit explain: skipped {arg}: {why}", file=sys.stderr)
    print(f"wrote {len(rows)} map(s) and scores.csv to {args.out}", file=sys.stderr)
    if problems:
        raise SystemExit(f"hyperkit explain: {len(problems)} input(s) failed, "
                         f"{len(rows)} explained")


def load_iqa_table(args: argparse.Namespace):
    """The IQA table named by the CLI options (the demo is generated on first use)."""
    from hyperkit.data.iqa import load_dataset

    if args.dataset == "demo":
        from hyperkit.data.iqa.demo import load_demo

        return load_demo(args.root, log=print)
    if not args.root:
        raise ValueError(f"--root is required for --dataset {args.dataset}")
    options = {}
    if args.dataset == "csv":
        options = {"csv": args.csv, "image_col": args.image_col, "score_col": args.score_col,
                   "type_col": args.type_col, "higher_better": not args.lower_better,
                   "best_score": args.best_score}
        if args.ref_col is not None:
            options["ref_col"] = None if args.ref_col == "" else args.ref_col
    return load_dataset(args.dataset, args.root, **options)


def _iqa(args: argparse.Namespace) -> None:
    """NR-IQA: inspect a data set, or run a Table 2 experiment on it."""
    from dataclasses import replace

    try:
        from hyperkit.training import dist
        from hyperkit.training.dist import init_distributed

        if not args.inspect:
            init_distributed()
        if dist.rank() == 0:  # under torchrun rank 0 generates the demo, the others read it
            table = load_iqa_table(args)
        dist.barrier()
        if dist.rank() != 0:
            table = load_iqa_table(args)
        if args.inspect:
            print(table.describe())
            if args.check_images:
                from hyperkit.data.iqa import check_readable

                bad = check_readable(table)
                if bad:
                    raise ValueError(f"{len(bad)} unreadable image(s), first: {bad[0][0]}: "
                                     f"{bad[0][1]}")
            if args.to_csv:
                print(f"wrote {table.to_csv(args.to_csv)}")
            return
        from hyperkit.tasks.iqa import SETTINGS, Options, run_iqa

        setting = SETTINGS["quick" if args.quick else "full"]
        for name in ("stage1_epochs", "stage2_epochs"):
            value = getattr(args, name)
            if value is not None:
                if value < 1:
                    raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
                setting = replace(setting, **{name: value})
        from hyperkit.data.iqa.selection import DEFAULT_THRESHOLD

        threshold = DEFAULT_THRESHOLD if args.ssim_threshold is None else args.ssim_threshold
        options = Options(splits=args.splits, seed=args.seed, ssim_threshold=threshold,
                          balance=args.balance, stage2_recipe=args.stage2_recipe,
                          arms=tuple(args.methods.split(",")) if args.methods else None,
                          vgg_weights=args.vgg_weights, splits_file=args.splits_file)
        exp = args.experiment
        out = args.out or f"runs/iqa-{args.dataset}{f'-exp{exp}' if exp else ''}-{setting.name}"
        run_iqa(table, args.dataset, exp, setting, out, options, device=args.device,
                resume=args.resume, progress=not args.no_progress)
    except (FileExistsError, FileNotFoundError, ValueError) as e:
        raise SystemExit(f"hyperkit iqa: error: {e}") from None


def _forgery(args: argparse.Namespace) -> None:
    """Table 3: --inspect lists the CASIA v2 pairs; otherwise both stages and the
    end-to-end baseline are trained and results.json, results.md and plots written."""
    from dataclasses import replace

    from hyperkit.tasks.forgery import SETTINGS, inspect, run_forgery

    try:
        if args.inspect or args.to_csv:
            if args.dataset != "casia2" or args.root is None:
                raise ValueError("--inspect and --to-csv read a CASIA v2 tree: pass "
                                 "--dataset casia2 --root PATH")
            inspect(args.root, args.masks, args.to_csv)
            return
        name = "quick" if args.quick else "full"
        setting = SETTINGS[name]
        over = {k: getattr(args, k) for k in (
            "seeds", "stage1_epochs", "stage2_epochs", "e2e_epochs", "channel_arch",
            "stage2_arch", "e2e_arch", "demo_authentic", "demo_tampered")
            if getattr(args, k) is not None}
        for k in ("seeds", "stage1_epochs", "stage2_epochs", "e2e_epochs", "demo_authentic",
                  "demo_tampered"):
            if k in over and over[k] < (3 if k.startswith("demo") else 1):
                raise ValueError(f"--{k.replace('_', '-')} must be >= "
                                 f"{3 if k.startswith('demo') else 1}")
        for k in ("stage1", "stage2", "e2e"):  # a shorter budget shortens the patience
            if f"{k}_epochs" in over:
                over[f"{k}_patience"] = min(getattr(setting, f"{k}_patience"),
                                            over[f"{k}_epochs"])
        setting = replace(setting, **over)
        out = args.out or f"runs/forgery-{args.dataset}-{name}"
        run_forgery(args.dataset, setting, out, root=args.root, masks=args.masks,
                    device=args.device, resume=args.resume, progress=not args.no_progress)
    except (FileExistsError, FileNotFoundError, ValueError, TypeError) as e:
        raise SystemExit(f"hyperkit forgery: error: {e}") from None


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
    "explain": ("For each image: NAME.png (the image and its importance map over it, the\n"
                "most important cell boxed; red cells raise the score, blue ones lower it),\n"
                "NAME.npy (the (U, V) map, score units) and a row of scores.csv. Methods:\n"
                "gradient (default; gradient x input on stage 2, about the cost of a\n"
                "prediction), occlusion (exact, stage 2 once per grid cell: slower),\n"
                "patch_average (the baseline's per-patch scores).\n\n"
                "examples:\n"
                "  hyperkit explain runs/synthetic-exp1-quick photo.png --out maps/\n"
                "  hyperkit explain runs/synthetic-exp1-quick scans/ --method occlusion"),
    "iqa": ("Data sets are read as their authors ship them: LIVE Release 2 (--root\n"
            "databaserelease2/), TID2013 (--root holding mos_with_names.txt), or any folder\n"
            "with a CSV (pyiqa convention dist_name,ref_name,mos; --csv, column options).\n"
            "--dataset demo generates a small set from scikit-image's photographs.\n"
            "Experiments (Table 2): 1 LIVE: selective CNN vs two-stage; 2 TID2013: CNN,\n"
            "selective CNN, two-stage; 3 TID2013 subsets; 4 end-to-end CNNs; 5 VGG-16\n"
            "stage 1 (--vgg-weights FILE).\n\n"
            "examples:\n"
            "  hyperkit iqa --dataset demo --quick\n"
            "  hyperkit iqa --dataset tid2013 --root ~/data/tid2013 --inspect --to-csv tid.csv\n"
            "  hyperkit iqa --dataset tid2013 --root ~/data/tid2013 --experiment 2 --splits 100\n"
            "  hyperkit iqa --dataset csv --root ~/data/koniq --csv koniq.csv --score-col mos\n"
            "  hyperkit iqa --dataset tid2013 --root ~/data/tid2013 --experiment 2 --resume"),
    "forgery": ("Data: --dataset casia2 --root PATH reads CASIA v2 as shipped (Au/, Tp/);\n"
                "--masks DIR takes the community ground-truth masks (<tampered>_gt.png)\n"
                "instead of image subtraction. --dataset demo generates a spliced set from\n"
                "scikit-image's photographs into OUT/data. Nothing is written into --root.\n\n"
                "examples:\n"
                "  hyperkit forgery --dataset demo --quick        # ~5 min on 2 CPU cores\n"
                "  hyperkit forgery --dataset casia2 --root ~/data/CASIA2 --inspect "
                "--to-csv pairs.csv\n"
                "  hyperkit forgery --dataset casia2 --root ~/data/CASIA2 --masks ~/data/gt\n"
                "  hyperkit forgery --dataset casia2 --root ~/data/CASIA2 --resume"),
    "predict": ("A model trained on gray images scores colour files by converting them to\n"
                "gray (BT.709 luma, as skimage.color.rgb2gray); a model trained on colour\n"
                "images needs colour files. 8- and 16-bit files are read at their depth;\n"
                ".npy arrays follow the image rules of the README (floats in [0, 1]).\n\n"
                "examples:\n"
                "  hyperkit predict runs/synthetic-exp1-quick photo.png scans/ 'shots/*.jpg'\n"
                "  hyperkit predict runs/synthetic-exp1-quick scans/ --csv scores.csv"),
}


def _run_options(parser: argparse.ArgumentParser, resume_help: str) -> None:
    """--device, --resume and --no-progress, shared by the training commands."""
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--resume", action="store_true", help=resume_help)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


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
    _run_options(syn, "continue an interrupted run in --out from its checkpoints")
    syn.set_defaults(fn=_synthetic)
    iqa = command("iqa", "inspect an NR-IQA data set or run Table 2's experiments",
                  "No-reference image quality: read LIVE, TID2013 or a folder with a CSV, "
                  "train stage 1 (selective patch training), patch averaging and stage 2 "
                  "over reference-disjoint splits, and write results.json, results.md, "
                  "plots and the trained models to --out.")
    iqa.add_argument("--dataset", required=True, choices=("live", "tid2013", "csv", "demo"))
    iqa.add_argument("--root", help="the data set folder (demo: where to generate it)")
    iqa.add_argument("--inspect", action="store_true",
                     help="print what was found (images, references, types, scores) and stop")
    iqa.add_argument("--check-images", action="store_true",
                     help="with --inspect: also open every image")
    iqa.add_argument("--to-csv", metavar="FILE",
                     help="with --inspect: write the parsed table as a CSV (never inside --root)")
    iqa.add_argument("--csv", help="csv data sets: the CSV file (default: the one in --root)")
    iqa.add_argument("--image-col", default="dist_name", help="csv: image column (dist_name)")
    iqa.add_argument("--score-col", default="mos", help="csv: score column (mos)")
    iqa.add_argument("--ref-col", help="csv: reference column (default ref_name when present; "
                                        "'' for none)")
    iqa.add_argument("--type-col", help="csv: distortion type column (default dist_type "
                                         "when present)")
    iqa.add_argument("--lower-better", action="store_true",
                     help="csv: lower scores are better (DMOS)")
    iqa.add_argument("--best-score", type=float,
                     help="csv: the score of an undistorted image (reference patches' label)")
    iqa.add_argument("--experiment", type=int, choices=(1, 2, 3, 4, 5),
                     help="Table 2 experiment (default: selective CNN and two-stage)")
    iqa.add_argument("--methods", help="comma-separated methods instead of the experiment's: "
                                        "cnn, cnn_selective, two_stage, shallow_e2e, deep_e2e, "
                                        "vgg_patch_average, vgg_two_stage")
    iqa.add_argument("--splits", type=int, default=1, help="number of splits (default 1; "
                                                             "the paper: 100)")
    iqa.add_argument("--splits-file", help="read the splits from this JSON file")
    iqa.add_argument("--seed", type=int, default=0, help="seed of splits and weights (0)")
    iqa.add_argument("--quick", action="store_true", help="small setting (default: the "
                                                           "paper's epochs)")
    iqa.add_argument("--stage1-epochs", type=int, help="override the setting's stage-1 epochs")
    iqa.add_argument("--stage2-epochs", type=int, help="override the setting's stage-2 epochs")
    iqa.add_argument("--stage2-recipe", choices=("adam", "paper"), default="adam",
                     help="adam (default: standardized inputs and labels, Adam 1e-4) or "
                          "paper (SGD 0.005, Nesterov; dies on real photographs, see README)")
    iqa.add_argument("--ssim-threshold", type=float, default=None,
                     help="selective patch training: keep distorted patches below this SSIM")
    iqa.add_argument("--balance", choices=("oversample", "undersample", "none"),
                     default="oversample", help="equalize reference and distorted patches")
    iqa.add_argument("--vgg-weights", help="experiment 5: local VGG-16 weights file")
    iqa.add_argument("--out", help="output folder (default runs/iqa-<dataset>[-exp<E>]-<setting>)")
    _run_options(iqa, "continue an interrupted run in --out (finished splits are kept)")
    iqa.set_defaults(fn=_iqa)
    forg = command("forgery", "train and evaluate image forgery classification (Table 3)",
                   "Stage 1 (siamese ranking of contour patches), stage 2 (hyper-images, "
                   "weighted BCE) and the end-to-end CNN baseline on CASIA v2 or the "
                   "built-in spliced set. Writes results.json, results.md (Table 3), "
                   "roc.png, contour pictures and the trained models to --out.")
    forg.add_argument("--dataset", choices=("demo", "casia2"), default="casia2",
                      help="casia2 (default; needs --root) or demo (generated offline)")
    forg.add_argument("--root", help="CASIA v2 folder holding Au/ and Tp/")
    forg.add_argument("--masks", help="folder of ground-truth masks, one per tampered image")
    forg.add_argument("--inspect", action="store_true",
                      help="list the pairs found and the files skipped, then stop")
    forg.add_argument("--to-csv", metavar="FILE",
                      help="with --inspect: write tampered, source, mask to this CSV")
    forg.add_argument("--quick", action="store_true",
                      help="small setting, minutes on 2 CPU cores (default: full setting)")
    forg.add_argument("--out", help="output folder (default runs/forgery-<dataset>-<setting>)")
    forg.add_argument("--seeds", type=int, help="number of seeds (default: the setting's)")
    forg.add_argument("--stage1-epochs", type=int, help="stage-1 epoch budget")
    forg.add_argument("--stage2-epochs", type=int, help="stage-2 epoch budget")
    forg.add_argument("--e2e-epochs", type=int, help="end-to-end epoch budget")
    forg.add_argument("--channel-arch", help="stage-1 channel (preset or architecture string)")
    forg.add_argument("--stage2-arch", help="stage 2 (its Input(U, V, D) sets the grid)")
    forg.add_argument("--e2e-arch", help="end-to-end network (its Input sets the size)")
    forg.add_argument("--demo-authentic", type=int, help="demo set: authentic images")
    forg.add_argument("--demo-tampered", type=int, help="demo set: tampered images")
    _run_options(forg, "continue an interrupted run in --out from its checkpoints")
    forg.set_defaults(fn=_forgery)
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
    expl = command("explain", "show where in an image a score comes from",
                   "Importance maps: how much each grid patch of an image changes the "
                   "model's score, as a heat map PNG over the image, the (U, V) map as .npy "
                   "and the score (scores.csv). Works with any run's model.")
    expl.add_argument("model", help="a run folder or a model folder")
    expl.add_argument("images", nargs="+", metavar="IMAGE",
                      help="image files, folders or glob patterns")
    expl.add_argument("--out", default="explain",
                      help="output folder (default ./explain; existing files are never "
                           "overwritten)")
    expl.add_argument("--method", choices=("gradient", "occlusion", "patch_average"),
                      default="gradient", help="gradient (default), occlusion or patch_average")
    expl.set_defaults(fn=_explain)
    args = parser.parse_args(argv)
    if args.command == "demo" and args.images < 1:
        parser.error("--images must be >= 1")
    args.fn(args)


if __name__ == "__main__":
    main()
