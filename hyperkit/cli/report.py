"""``hyperkit report``: merge the finished units of a run (an NR-IQA run's splits, a
forgery run's seeds) into its results."""

from __future__ import annotations

import argparse

HELP = "merge the finished splits or seeds of a run into results.json, results.md, plots"
DESCRIPTION = ("Reads RUN's config.json and every finished unit's metrics.json (an NR-IQA "
               "run's split<k>/, a forgery run's seed<s>/) and writes results.json, "
               "results.md, run.json and the plots, as 'hyperkit iqa' or 'hyperkit forgery' "
               "does when it ends. Runnable at any time: a run with fewer finished units "
               "than planned is merged too and says how many finished.")
EXAMPLES = ("After unit runs (hyperkit iqa ... --split-index K, hyperkit forgery ...\n"
            "--seed-index S, e.g. a SLURM array; docs/cluster.md):\n\n"
            "examples:\n"
            "  hyperkit report runs/iqa-tid2013-exp2-full\n"
            "  hyperkit report runs/forgery-casia2-full")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN",
                        help="the run folder (the --out of hyperkit iqa or hyperkit forgery)")


def run_from_args(args: argparse.Namespace) -> None:
    """Merges RUN's finished units: :func:`hyperkit.tasks.iqa.runner.merge_results` for an
    NR-IQA run, :func:`hyperkit.tasks.forgery.report.merge_results` for a forgery run."""
    from pathlib import Path

    from hyperkit.runs import CONFIG
    from hyperkit.tasks.forgery.report import is_forgery_config
    from hyperkit.tasks.forgery.report import merge_results as merge_forgery
    from hyperkit.tasks.iqa.runner import merge_results as merge_iqa
    from hyperkit.units import read_json

    try:
        run = Path(args.run_dir)
        if not run.is_dir():
            raise FileNotFoundError(f"RUN {run} is not a folder; pass the --out of a "
                                    "hyperkit iqa or hyperkit forgery run")
        config = read_json(run / CONFIG) if (run / CONFIG).is_file() else None
        if config is not None and is_forgery_config(config):
            merge_forgery(run)
        elif config is not None and "arms" not in config:
            raise ValueError(f"{run} is neither an NR-IQA run nor a forgery run (its "
                             f"{CONFIG} has no arms nor seeds); pass the --out of a hyperkit "
                             "iqa or hyperkit forgery run")
        else:  # an NR-IQA run, or the error saying RUN holds no config.json
            merge_iqa(run)
    except (FileNotFoundError, PermissionError, ValueError) as e:
        raise SystemExit(f"hyperkit report: error: {e}") from None
