"""``hyperkit info``: the build and the devices."""

from __future__ import annotations

import argparse

HELP = "show the build and the devices"
DESCRIPTION = ("Show the hyperkit and torch versions, CPU threads and whether the CUDA "
               "kernels can run here.")
EXAMPLES = "example:\n  hyperkit info"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run_from_args(args: argparse.Namespace) -> None:
    import torch

    import hyperkit
    from hyperkit import _C

    print(f"hyperkit {hyperkit.__version__}, torch {torch.__version__}")
    print(f"CPU kernels: OpenMP threads {_C.get_num_threads()}")
    print(f"CUDA kernels usable: {hyperkit.cuda_available()}")
