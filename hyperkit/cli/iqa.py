"""``hyperkit iqa``: inspect an NR-IQA data set or run Table 2's experiments."""

from __future__ import annotations

import argparse
from typing import Any

from .common import as_flags, run_options

EXECUTORS = ("sequential", "ray")  # hyperkit.executors.EXECUTORS, without importing it

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
            "  hyperkit iqa --dataset tid2013 --root ~/data/tid2013 --experiment 2 --resume\n\n"
            "Many splits at once (docs/cluster.md): --split-index K runs split K alone into\n"
            "--out beside other processes (a SLURM array: --split-index $SLURM_ARRAY_TASK_ID),\n"
            "then 'hyperkit report OUT' merges; --executor ray runs one Ray task per split.\n"
            "  hyperkit iqa --dataset tid2013 --root ~/data/tid2013 --experiment 2 --splits 100 "
            "--out runs/t2 --split-index 0-9\n"
            "  hyperkit report runs/t2\n"
            "  hyperkit iqa --dataset tid2013 --root ~/data/tid2013 --experiment 2 --splits 100 "
            "--executor ray --ray-address auto --cpus-per-split 4")


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
    parser.add_argument("--cache-dtype", choices=("float32", "float16"), default="float32",
                        help="the prepared-image cache under OUT/cache: float32 (default, "
                             "exact) or float16 (half the disk and page cache, for large sets "
                             "such as KonIQ; patches are widened to float32 per batch; "
                             "bench/RESULTS.md prepared-cache)")
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
    parser.add_argument("--split-index", metavar="SPEC",
                        help="run only these splits of the --splits planned (3, 0,2-4) into "
                             "--out, beside other processes running other splits there; joins "
                             "an existing --out of the same settings (no --resume needed), "
                             "writes no results: 'hyperkit report OUT' merges")
    parser.add_argument("--executor", choices=EXECUTORS, default="sequential",
                        help="sequential (default: the splits one after another here) or ray "
                             "(one Ray task per split; needs pip install \"hyperkit[cluster]\")")
    parser.add_argument("--ray-address", help="--executor ray: the cluster to join (e.g. auto, "
                                              "ray://head:10001; default: a local Ray)")
    parser.add_argument("--cpus-per-split", type=int, default=1,
                        help="--executor ray: CPUs each split's task reserves, and its torch "
                             "threads (default 1)")
    parser.add_argument("--gpus-per-split", type=float, default=0,
                        help="--executor ray: GPUs each split's task reserves (default 0)")

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
    """NR-IQA: inspect a data set, or run a Table 2 experiment on it (all its splits, some
    of them, or one Ray task per split)."""
    from hyperkit.executors import ExecutorError

    try:
        from hyperkit.runs import rank0_first
        from hyperkit.training.dist import init_distributed

        _check_cluster_args(args)  # before any data is read
        if not args.inspect:
            init_distributed()
        # under torchrun rank 0 generates the demo, the others read it
        table = rank0_first(lambda: load_iqa_table(args))
        if args.inspect:
            _inspect(table, args)
            return
        from hyperkit.tasks.iqa import run_iqa

        setting, options = _setting_and_options(args)
        exp = args.experiment
        out = args.out or f"runs/iqa-{args.dataset}{f'-exp{exp}' if exp else ''}-{setting.name}"
        if args.executor == "ray":
            _run_ray(args, table, setting, options, out)
            return
        run_iqa(table, args.dataset, exp, setting, out, options, device=args.device,
                resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress,
                split_index=args.split_index)
    except (FileExistsError, FileNotFoundError, PermissionError, ValueError,
            ExecutorError) as e:
        raise SystemExit(f"hyperkit iqa: error: "
                         f"{as_flags(str(e), args.parser_of_command)}") from None


def _inspect(table: Any, args: argparse.Namespace) -> None:
    """--inspect: what was found, --check-images, --to-csv."""
    print(table.describe())
    if args.check_images:
        from hyperkit.data.iqa import check_readable

        bad = check_readable(table)
        if bad:
            raise ValueError(f"{len(bad)} unreadable image(s), first: {bad[0][0]}: "
                             f"{bad[0][1]}")
    if args.to_csv:
        print(f"wrote {table.to_csv(args.to_csv)}")


def _setting_and_options(args: argparse.Namespace) -> tuple[Any, Any]:
    """The run's Setting and Options from the command line."""
    from dataclasses import replace

    from hyperkit.data.iqa.selection import DEFAULT_THRESHOLD
    from hyperkit.tasks.iqa import SETTINGS, Options

    setting = SETTINGS["quick" if args.quick else "full"]
    for name in ("stage1_epochs", "stage2_epochs"):
        value = getattr(args, name)
        if value is not None:
            if value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
            setting = replace(setting, **{name: value})
    setting = replace(setting, stage1_precision=args.precision)
    threshold = DEFAULT_THRESHOLD if args.ssim_threshold is None else args.ssim_threshold
    options = Options(splits=args.splits, seed=args.seed, ssim_threshold=threshold,
                      balance=args.balance, stage2_recipe=args.stage2_recipe,
                      arms=tuple(args.methods.split(",")) if args.methods else None,
                      vgg_weights=args.vgg_weights, splits_file=args.splits_file,
                      cache_dtype=args.cache_dtype)
    return setting, options


def _check_cluster_args(args: argparse.Namespace) -> None:
    """Refuses, before any data is read, --split-index / --executor combinations that
    cannot work, a malformed or out-of-range --split-index, and Ray missing."""
    if args.split_index is not None or args.executor != "sequential":
        if args.inspect:
            raise ValueError("--inspect only reads the data set; it takes no --split-index "
                             "or --executor")
        if args.splits < 1:
            raise ValueError(f"--splits must be >= 1, got {args.splits}")
    if args.split_index is not None:
        from hyperkit.tasks.iqa.units import split_indices

        split_indices(args.split_index, args.splits)
        if args.overwrite:
            raise ValueError("--split-index joins the run in --out that other processes may "
                             "be writing; it never moves it aside: drop --overwrite (or move "
                             "the run aside with a plain --overwrite run first)")
    if args.executor != "ray":
        for flag, value, default in (("--ray-address", args.ray_address, None),
                                     ("--cpus-per-split", args.cpus_per_split, 1),
                                     ("--gpus-per-split", args.gpus_per_split, 0)):
            if value != default:
                raise ValueError(f"{flag} is an option of --executor ray; add --executor ray")
        return
    if args.cpus_per_split < 1:
        raise ValueError(f"--cpus-per-split must be >= 1, got {args.cpus_per_split}")
    if args.gpus_per_split < 0:
        raise ValueError(f"--gpus-per-split must be >= 0, got {args.gpus_per_split}")
    from hyperkit.executors import require_ray

    require_ray()


# what a Ray task's command line leaves out of the driver's (it sets --out, --split-index)
DRIVER_ONLY = {"executor", "ray_address", "cpus_per_split", "gpus_per_split", "split_index",
               "resume", "overwrite", "out", "no_progress", "help"}


def _unit_argv(args: argparse.Namespace, out: str) -> list[str]:
    """The ``hyperkit iqa`` arguments of one split's process: the driver's options that
    differ from their defaults, with --out OUT and --no-progress."""
    argv = ["iqa"]
    for action in args.parser_of_command._actions:  # noqa: SLF001  (no public list)
        flags = [o for o in action.option_strings if o.startswith("--")]
        if not flags or action.dest in DRIVER_ONLY or not hasattr(args, action.dest):
            continue
        value = getattr(args, action.dest)
        if value == action.default:
            continue
        switch = isinstance(action, argparse._StoreTrueAction)  # noqa: SLF001
        argv += [flags[0]] if switch else [flags[0], str(value)]
    return [*argv, "--out", out, "--no-progress"]


def _run_ray(args: argparse.Namespace, table: Any, setting: Any, options: Any,
             out: str) -> None:
    """--executor ray: config.json and splits.json written here once, one Ray task per
    split (``hyperkit iqa ... --split-index K``), then the finished splits merged."""
    from pathlib import Path

    from hyperkit.executors import ExecutorError, run_on_ray
    from hyperkit.runs import RunFolder
    from hyperkit.tasks.iqa import run_iqa
    from hyperkit.tasks.iqa.runner import merge_results
    from hyperkit.tasks.iqa.units import split_indices

    if args.split_index is None:  # the whole run: an existing --out as a plain run treats it
        RunFolder.open(out, resume=args.resume, overwrite=args.overwrite)
    ks = split_indices(args.split_index or f"0-{options.splits - 1}", options.splits)
    run_iqa(table, args.dataset, args.experiment, setting, out, options, device=args.device,
            progress=False, split_index=())
    base = _unit_argv(args, out)
    logs = Path(out) / "logs"
    failed = run_on_ray({f"split{k}": [*base, "--split-index", str(k)] for k in ks},
                        {f"split{k}": str(logs / f"split{k}.log") for k in ks},
                        cpus=args.cpus_per_split, gpus=args.gpus_per_split,
                        address=args.ray_address)
    if len(failed) < len(ks):
        merge_results(out)
    if failed:
        raise ExecutorError(f"{len(failed)} of {len(ks)} split(s) failed (the others are "
                            "merged; the same command with --resume runs only the splits "
                            "that did not finish):\n" +
                            "\n".join(f"{name}: {why}" for name, why in failed.items()))
