"""Some of a forgery run's seeds in one process (``hyperkit forgery --seed-index``), so that
many processes (SLURM array tasks, shells on several machines) run one run's seeds into
one run folder at the same time; ``hyperkit report`` then merges whatever finished
(:func:`.report.merge_results`). The contract is :mod:`hyperkit.units`'s:

* a unit writes its own seed folders ``seed<s>/`` (checkpoints and caches in
  ``seed<s>/work``, the model, predictions, metrics.json last), its contour positions
  included (``seed<s>/work/contours.json``, started from the shared file when there is
  one): the shared ``contours.json`` that a plain run rewrites is never written in place.
* the shared files only when absent, and only whole, from the unit's own folder
  ``seed<s>/unit/``: config.json, pairs.csv and contours.json by hard link, the generated
  demo set ``data/`` by renaming the folder (units starting together may each generate
  it; the losers drop their copy and read the published one, which is the same: it is
  drawn from seed 0).
* never results.json, results.md, run.json, roc.png or contours/: ``hyperkit report``.

A seed's numbers depend only on its number, the settings and the torch thread count, so
units and a sequential run agree exactly at the same thread count.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ... import units as shared_units
from ...data.forgery import casia2
from ...data.forgery import demo as forgery_demo
from ...files import write_text
from ...runs import CONFIG, RunFolder
from ...units import publish, publish_dir, read_json
from .seed import seed_once
from .settings import Setting

UNIT = "unit"  # seed<s>/unit/: a unit run's own scratch folder, removed when it ends
GROW = ("setting.seeds",)  # the config key that may differ between a run and its units


def seed_indices(value: str | int | Sequence[int], seeds: int) -> tuple[int, ...]:
    """The seed numbers of ``seed_index``: '3', '0,2-4' (ranges inclusive), an int or a
    sequence of ints; sorted, each once, each in 0..seeds-1. ValueError naming seed_index
    and what was expected otherwise (:func:`hyperkit.units.parse_indices`)."""
    return shared_units.parse_indices(value, seeds, name="seed_index", unit="seed",
                                      plan="seeds")


def _ours(name: str) -> bool:
    """Whether a name in a run folder is one a forgery unit writes before config.json
    exists (another unit may have begun writing these)."""
    return (name in {"data", "pairs.csv", "contours.json", "logs", UNIT}
            or re.fullmatch(r"seed\d+", name) is not None)


def own_folder(out: Path, units: Sequence[int]) -> Path:
    """A unit run's own scratch folder: ``seed<first>/unit`` (``unit`` when it runs no
    seed and only publishes the shared files)."""
    return out / f"seed{units[0]}" / UNIT if units else out / UNIT


def join_folder(out: Path, log: Callable[[str], None]) -> RunFolder:
    """The run folder ``out`` that forgery unit runs share
    (:func:`hyperkit.units.join_folder`)."""
    return shared_units.join_folder(out, log, _ours, "seed_index")


def check_plan(folder: RunFolder, settings: dict, seeds: int) -> None:
    """Before any work: a unit's settings must be the folder's run's (ValueError naming
    the keys that differ), and it may not ask for more seeds than the run plans (the plan
    is config.json's; only a plain --resume run extends it)."""
    folder.check_config(settings, GROW)
    if (folder.path / CONFIG).is_file():
        planned = int(read_json(folder.path / CONFIG)["setting"]["seeds"])
        if seeds > planned:
            raise ValueError(f"{folder.path} plans {planned} seed(s), fewer than the {seeds} "
                             "asked for; unit runs (seed_index) never change the plan: ask "
                             f"for at most {planned} seeds, or extend the run with a plain "
                             "run (resume) while no unit runs")


def publish_demo(out: Path, st: Setting, own: Path, log: Callable[[str], None]) -> None:
    """The demo set in out/data as :func:`.runner.load_dataset` makes it, generated in the
    unit's folder ``own`` and published whole (:func:`hyperkit.units.publish_dir`) unless
    a unit published it first. ValueError when out/data holds another demo set."""
    shared = out / "data"
    args = (st.demo_authentic, st.demo_tampered, 0)
    if forgery_demo.matches(shared, *args):
        return
    if shared.exists():
        raise ValueError(f"{shared} holds another data set than the demo set of these "
                         "settings; pass the settings of the run in --out, or another --out")
    mine = own / "data"
    shutil.rmtree(mine, ignore_errors=True)  # a killed attempt's partial copy
    log(f"generating the demo spliced set ({st.demo_authentic} authentic, "
        f"{st.demo_tampered} tampered) in {mine}, published as {shared}")
    try:
        forgery_demo.generate(mine, *args[:2], seed=0)
        published = publish_dir(mine, shared)
    finally:
        shutil.rmtree(mine, ignore_errors=True)  # unless published: moved away by then
    if not published and not forgery_demo.matches(shared, *args):
        raise ValueError(f"another unit published {shared} with other settings; pass the "
                         "settings of the run in --out, or another --out")


def run_units(data: casia2.Casia2, st: Setting, folder: RunFolder, dev: Any, settings: dict,
              extra: dict, units: tuple[int, ...], progress: bool) -> dict:
    """:func:`.runner.run_forgery`'s ``seed_index`` part: config.json and pairs.csv
    published when absent, then seeds ``units`` (finished ones reused, unfinished ones
    continued from their checkpoints), writing only their folders.

    Args:
        settings: the run's settings as config.json records them (checked, with the data
            set's root and summary from ``extra``, against the folder's).
        extra: what config.json records beside them (root, data summary, split groups).

    Returns:
        the out folder, the seed numbers and their metrics (``runs``).
    """
    out, log = folder.path, folder.log
    own = own_folder(out, units)
    checked = {**settings, "root": extra["root"], "data": extra["data"]}
    folder.check_config(checked, GROW)  # the same data set, not just the same options
    shared_units.join_config(folder, settings, dev, own, grow=GROW, **extra)
    folder.check_config(checked, GROW)  # another unit published first: its data set too?
    if folder.rank0 and not (out / "pairs.csv").exists():
        own.mkdir(parents=True, exist_ok=True)
        (own / "pairs.csv").unlink(missing_ok=True)  # a killed attempt's copy
        publish(data.to_csv(own / "pairs.csv"), out / "pairs.csv")
    runs = []
    try:
        for s in units:
            shared_units.sweep(folder, [out / f"seed{s}"])
            mine = _positions_file(folder, s)
            # always resume=True: a retried unit continues its seed from the checkpoints
            runs.append(seed_once(data, st, s, folder, dev, resume=True, progress=progress,
                                  positions_file=mine))
            if folder.rank0:
                publish(mine, out / "contours.json")
    finally:
        shared_units.drop(folder, own)
    if units:
        log(f"seed(s) {', '.join(map(str, units))} of {st.seeds} done in {out}; "
            f"'hyperkit report {out}' merges the finished seeds")
    return {"out": str(out), "seed_index": list(units), "runs": runs}


def _positions_file(folder: RunFolder, seed: int) -> Path:
    """Seed ``seed``'s own contour positions cache, started from the shared contours.json
    (written whole: a killed copy must not leave half a file)."""
    mine = folder.path / f"seed{seed}" / "work" / "contours.json"
    shared = folder.path / "contours.json"
    if folder.rank0 and not mine.is_file() and shared.is_file():
        mine.parent.mkdir(parents=True, exist_ok=True)
        write_text(mine, shared.read_text())
    return mine
