"""What several commands share: the run options of the training commands, the version,
image inputs (paths, folders, glob patterns) and reading files ahead in threads."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
MAX_WORKERS = 32  # each worker holds up to 2 decoded images: keeps memory bounded


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


def worker_count(text: str) -> int:
    """The ``--workers`` value: threads reading files ahead, 0 to ``MAX_WORKERS``
    (argparse names the option in the error)."""
    try:
        n = int(text)
    except ValueError:
        n = -1
    if not 0 <= n <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 0 (read each file in turn) to {MAX_WORKERS}, "
            f"got {text!r}")
    return n


def default_workers() -> int:
    """``--workers`` by default: min(4, CPUs). Decoding a photograph costs a fraction of
    scoring it, so a few threads keep the model fed; more would only take cores from
    torch's own threads."""
    import os

    return min(4, os.cpu_count() or 1)


class _Deferred:
    """A read not started yet: :meth:`result` runs it now, in the calling thread (what
    ``--workers 0`` does: each file is read when its turn comes)."""

    def __init__(self, read: Callable[[Any], Any], item: Any) -> None:
        self.read, self.item = read, item

    def result(self) -> Any:
        """The read's value; its exception is raised here."""
        return self.read(self.item)


def read_ahead(items: Iterable[T], read: Callable[[T], Any], workers: int
               ) -> Iterator[tuple[T, Any]]:
    """Pairs (item, job) in the order of ``items``; ``job.result()`` gives ``read(item)``
    or raises its exception, so the caller handles a bad file at its turn, as when
    reading in turn.

    Args:
        items: what to read, e.g. file paths.
        read: reads one item; called in ``workers`` threads (Pillow and numpy decode
            without the GIL, so reads overlap scoring).
        workers: threads; 0 reads nothing ahead: ``job.result()`` reads the item then,
            in the calling thread.

    At most ``2 * workers`` items are read ahead of the one handed out, whatever the
    number of items: memory stays bounded. Reads not started when the caller stops
    are cancelled.
    """
    if workers == 0:
        for item in items:
            yield item, _Deferred(read, item)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor
    from itertools import islice

    todo = iter(items)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="hyperkit-read")
    try:
        window = deque((x, pool.submit(read, x)) for x in islice(todo, 2 * workers))
        while window:
            item, job = window.popleft()
            for nxt in islice(todo, 1):  # refill first: the pool works while we score
                window.append((nxt, pool.submit(read, nxt)))
            yield item, job
    finally:  # also when the caller stops early (an error, Ctrl-C)
        pool.shutdown(wait=True, cancel_futures=True)
