"""The ``hyperkit`` command: a table of commands, one module each under hyperkit.cli
(``HELP``, ``DESCRIPTION``, ``EXAMPLES``, ``add_arguments(parser)``, ``run_from_args(args)``).

Nothing heavy is imported here or by the command modules at import time, so
``hyperkit --help`` and ``hyperkit COMMAND --help`` answer without loading torch; a
command imports its task when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
from typing import Any

from .common import version

COMMANDS = ("info", "demo", "score", "models", "synthetic", "iqa", "forgery", "predict",
            "explain", "report")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``hyperkit`` command (``argv`` defaults to sys.argv[1:])."""
    # Idle OpenMP threads sleep instead of spinning (read when torch loads, later): alone
    # it costs nothing, and a second job on the same cores no longer makes both ~3.4x
    # slower instead of ~1.8x (bench/RESULTS.md "stage1-profile"). A user's value wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="hyperkit", formatter_class=raw,
        description="CNN hyper-images (Chandakkar & Li): train and evaluate the two-stage "
                    "method, and score images with a trained model.",
        epilog="run 'hyperkit COMMAND --help' for a command's options and examples")
    parser.add_argument("--version", action="version", version=f"hyperkit {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"hyperkit.cli.{name}")
        command = sub.add_parser(name, help=module.HELP, description=module.DESCRIPTION,
                                 epilog=module.EXAMPLES, formatter_class=raw)
        module.add_arguments(command)
        command.set_defaults(run=module.run_from_args, parser=parser, parser_of_command=command)
    args = parser.parse_args(argv)
    args.run(args)


def __getattr__(name: str) -> Any:
    if name == "expand_inputs":  # kept at hyperkit.cli.expand_inputs
        from .common import expand_inputs

        return expand_inputs
    raise AttributeError(f"module 'hyperkit.cli' has no attribute {name!r}")


if __name__ == "__main__":
    main()
