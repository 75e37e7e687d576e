"""``hyperkit iqa``: inspect an NR-IQA data set or run Table 2's experiments."""

from __future__ import annotations

import argparse
from typing import Any

from .common import as_flags, run_options

HELP = "inspect an NR-IQA data set or run Table 2's experiments"
DESCRIPTION = ("No-reference image quality: read LIVE, TID2013 or a folder with a CSV, train stage"
               " 1 (selective patch training), patch averaging and stage 2 over reference-disjoint"
               " splits, and write results.json, results.md, plots and the trained models to "
               "--out.")
EXAMPLES = ("Data sets are read as their authors ship them: LIVE Release 2 (--root\n"
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
            "  hyperkit iqa --dataset tid2013 --root ~/data/tid2013 --experiment 2 --resume")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=("live", "tid2013", "csv", "demo"))
    parser.add_argument("--root", help="the data set folder (demo: where to generate it)")
    parser.add_argument("--inspect", action="store_true",
                        help="print what was found (images, references, types, scores) and stop")
    parser.add_argument("--check-images", action="store_true",
                        help="with --inspect: also open every image")
    parser.add_argument("--to-csv", metavar="FILE",
                        help="with --inspect: write the parsed table as a CSV (never inside "
                             "--root)")
    parser.add_argument("--csv", help="csv data sets: the CSV file (default: the one in --root)")
    parser.add_argument("--image-col", default="dist_name", help="csv: image column (dist_name)")
    parser.add_argument("--score-col", default="mos", help="csv: score column (mos)")
    parser.add_argument("--ref-col", help="csv: reference column (default ref_name when present; "
                                           "'' for none)")
    parser.add_argument("--type-col", help="csv: distortion type column (default dist_type "
                                            "when present)")
    parser.add_argument("--lower-better", action="store_true",
                        help="csv: lower scores are better (DMOS)")
    parser.add_argument("--allow-outside-root", action="store_true",
                        help="--dataset csv: read image/reference paths that lead outside "
                             "--root ('..', absolute paths, symbolic links); refused by "
                             "default")
    parser.add_argument("--best-score", type=float,
                        help="csv: the score of an undistorted image (reference patches' label)")
    parser.add_argument("--experiment", type=int, choices=(1, 2, 3, 4, 5),
                        help="Table 2 experiment (default: the selective CNN with every pooling "
                             "baseline, learned weighted pooling, the paper's stage 2 and the "
                             "grid stage 2)")
    parser.add_argument("--methods", help="comma-separated methods instead of the experiment's: "
                                           "cnn, cnn_selective, patch_min, patch_p10, "
                                           "patch_softmin, weighted_pooling, two_stage, "
                                           "grid_stage2, shallow_e2e, deep_e2e, "
                                           "vgg_patch_average, vgg_two_stage")
    parser.add_argument("--splits", type=int, default=1, help="number of splits (default 1; "
                                                                "the paper: 100)")
    parser.add_argument("--splits-file", help="read the splits from this JSON file")
    parser.add_argument("--seed", type=int, default=0, help="seed of splits and weights (0)")
    parser.add_argument("--quick", action="store_true", help="small setting (default: the "
                                                              "paper's epochs)")
    parser.add_argument("--stage1-epochs", type=int, help="override the setting's stage-1 epochs")
    parser.add_argument("--stage2-epochs", type=int, help="override the setting's stage-2 epochs")
    parser.add_argument("--precision", choices=("float32", "bf16"), default="float32",
                        help="stage-1 training arithmetic: float32 (default; the same "
                             "results on every CPU) or bf16 (autocast; about 1.1-1.2x faster "
                             "on CPUs with native bf16, refused elsewhere; bench/RESULTS.md "
                             "train-speed)")
    parser.add_argument("--stage2-recipe", choices=("adam", "paper"), default="adam",
                        help="adam (default: standardized inputs and labels, Adam 1e-4) or "
                             "paper (SGD 0.005, Nesterov; dies on real photographs, see README)")
    parser.add_argument("--ssim-threshold", type=float, default=None,
                        help="selective patch training: keep distorted patches below this SSIM")
    parser.add_argument("--balance", choices=("oversample", "undersample", "none"),
                        default="oversample", help="equalize reference and distorted patches")
    parser.add_argument("--vgg-weights", help="experiment 5: local VGG-16 weights file")
    parser.add_argument("--out",
                        help="output folder (default runs/iqa-<dataset>[-exp<E>]-<setting>)")
    run_options(parser, "continue an interrupted run in --out (finished splits are kept)")

def load_iqa_table(args: argparse.Namespace) -> Any:
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
                   "best_score": args.best_score,
                   "allow_outside_root": args.allow_outside_root}
        if args.ref_col is not None:
            options["ref_col"] = None if args.ref_col == "" else args.ref_col
    return load_dataset(args.dataset, args.root, **options)


def run_from_args(args: argparse.Namespace) -> None:
    """NR-IQA: inspect a data set, or run a Table 2 experiment on it."""
    from dataclasses import replace

    try:
        from hyperkit.runs import rank0_first
        from hyperkit.training.dist import init_distributed

        if not args.inspect:
            init_distributed()
        # under torchrun rank 0 generates the demo, the others read it
        table = rank0_first(lambda: load_iqa_table(args))
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
        setting = replace(setting, stage1_precision=args.precision)
        from hyperkit.data.iqa.selection import DEFAULT_THRESHOLD

        threshold = DEFAULT_THRESHOLD if args.ssim_threshold is None else args.ssim_threshold
        options = Options(splits=args.splits, seed=args.seed, ssim_threshold=threshold,
                          balance=args.balance, stage2_recipe=args.stage2_recipe,
                          arms=tuple(args.methods.split(",")) if args.methods else None,
                          vgg_weights=args.vgg_weights, splits_file=args.splits_file)
        exp = args.experiment
        out = args.out or f"runs/iqa-{args.dataset}{f'-exp{exp}' if exp else ''}-{setting.name}"
        run_iqa(table, args.dataset, exp, setting, out, options, device=args.device,
                resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    except (FileExistsError, FileNotFoundError, PermissionError, ValueError) as e:
        raise SystemExit(f"hyperkit iqa: error: "
                         f"{as_flags(str(e), args.parser_of_command)}") from None
