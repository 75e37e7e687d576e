"""``hyperkit report``: merge the finished splits of an NR-IQA run into its results."""

from __future__ import annotations

import argparse

HELP = "merge the finished splits of an NR-IQA run into results.json, results.md, plots"
DESCRIPTION = ("Reads RUN's config.json and every finished split<k>/metrics.json and writes "
               "results.json, results.md, run.json and the plots, as 'hyperkit iqa' does when "
               "it ends. Runnable at any time: a run with fewer finished splits than planned "
               "is merged too and says how many finished.")
EXAMPLES = ("After split runs (hyperkit iqa ... --split-index K, e.g. a SLURM array;\n"
            "docs/cluster.md):\n\n"
            "examples:\n"
            "  hyperkit report runs/iqa-tid2013-exp2-full")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN", help="the run folder (hyperkit iqa --out)")


def run_from_args(args: argparse.Namespace) -> None:
    """Merges RUN's finished splits (:func:`hyperkit.tasks.iqa.runner.merge_results`)."""
    from pathlib import Path

    from hyperkit.tasks.iqa.runner import merge_results

    try:
        if not Path(args.run_dir).is_dir():
            raise FileNotFoundError(f"RUN {args.run_dir} is not a folder; pass the --out of a "
                                    "hyperkit iqa run")
        merge_results(args.run_dir)
    except (FileNotFoundError, PermissionError, ValueError) as e:
        raise SystemExit(f"hyperkit report: error: {e}") from None
