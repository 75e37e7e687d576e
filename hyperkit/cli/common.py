"""What several commands share: the run options of the training commands, the version,
and image inputs (paths, folders, glob patterns)."""

from __future__ import annotations

import argparse
from pathlib import Path


def run_options(parser: argparse.ArgumentParser, resume_help: str) -> None:
    """--device, --resume, --overwrite and --no-progress, shared by the training commands."""
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--resume", action="store_true", help=resume_help)
    parser.add_argument("--overwrite", action="store_true",
                        help="--out holds an earlier run: move it aside to "
                             "OUT.replaced-TIME (nothing is deleted) and start afresh")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def as_flags(message: str, parser: argparse.ArgumentParser) -> str:
    """An error from the library, reworded for the command line: the Python names of the
    parser's options (``image_col``, ``csv=``) become their flags (``--image-col``).
    Only bare names are replaced: not inside paths or words, and ``name=value`` keeps
    its value (``image_col='x'`` reads ``--image-col 'x'``)."""
    import re

    for action in parser._actions:  # noqa: SLF001  (argparse has no public list)
        flags = [o for o in action.option_strings if o.startswith("--")]
        if not flags:
            continue
        name, flag = flags[0][2:].replace("-", "_"), flags[0]
        edge = r"(?<![\w/.-])"  # not inside a word, a path or a flag
        if "_" in name:  # snake_case is never prose
            message = re.sub(rf"{edge}{name}=True\b", flag, message)  # a switch
            message = re.sub(rf"{edge}{name}=(?=\S)", f"{flag} ", message)
            message = re.sub(rf"{edge}{name}(?![\w/=.-])", flag, message)
        message = re.sub(rf"{edge}{re.escape(name)}=(?![\w'\"])", flag, message)
    return message


def check_csv_target(command: str, csv_path: str | None) -> None:
    """Refuses a ``--csv`` target before any scoring (exists, missing or read-only
    folder), as a one-line error of ``hyperkit COMMAND``."""
    if csv_path:
        from hyperkit.files import check_new_file

        try:
            check_new_file(csv_path, "--csv")
        except OSError as e:
            raise SystemExit(f"hyperkit {command}: error: {e}") from None


def finish_scoring(command: str, csv_path: str | None, header: list[str], rows: list,
                   problems: list[tuple[str, str]]) -> None:
    """The end of a scoring command: the skipped inputs on stderr, the ``--csv`` file
    (written exclusively), and exit status 1 when any input failed."""
    import csv
    import io
    import sys

    from hyperkit.files import write_new

    for arg, why in problems:
        print(f"hyperkit {command}: skipped {arg}: {why}", file=sys.stderr)
    if csv_path:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        try:
            write_new(csv_path, buf.getvalue())
        except OSError as e:
            raise SystemExit(f"hyperkit {command}: error: {e}") from None
        print(f"wrote {len(rows)} row(s) to {csv_path}", file=sys.stderr)
    if problems:
        raise SystemExit(f"hyperkit {command}: {len(problems)} input(s) failed, "
                         f"{len(rows)} scored")


def version() -> str:
    """The installed distribution's version (the source tree's when not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("hyperkit")
    except PackageNotFoundError:  # run from a source tree
        from hyperkit import __version__

        return __version__


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """:func:`hyperkit.images.expand_image_paths` (paths, folders, glob patterns)."""
    from hyperkit.images import expand_image_paths

    return expand_image_paths(inputs)
