"""NR-IQA data: one module per dataset, each holding its loader and its settings
(``SPEC``: stage-1 and stage-2 networks and the grid), and the table of them.

:func:`load_dataset` ('live', 'tid2013', 'csv') returns an :class:`IQATable`
(:mod:`.table`); :mod:`.demo` generates and reads the built-in demo set;
:mod:`.selection` picks the selective patch training set.

Adding a dataset: a module here with ``load_<name>(root, **options) -> IQATable`` and
``SPEC = DatasetSpec(...)``, and one entry in :data:`TABLE`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from . import csv, demo, live, tid2013
from .table import DatasetSpec, FolderIndex, IQATable, check_readable, require_layout


class Dataset(NamedTuple):
    """A dataset's loader (root, **options) -> IQATable and its networks and grid."""

    load: Callable[..., IQATable]
    spec: DatasetSpec


TABLE: dict[str, Dataset] = {
    "live": Dataset(live.load_live, live.SPEC),
    "tid2013": Dataset(tid2013.load_tid2013, tid2013.SPEC),
    "csv": Dataset(csv.load_csv, csv.SPEC),
    "demo": Dataset(demo.load_demo, demo.SPEC),  # generated on first use, root optional
}

#: The datasets :func:`load_dataset` reads from a folder the user gives: every entry of
#: :data:`TABLE` but the demo, which is generated (:func:`hyperkit.data.iqa.demo.load_demo`).
DATASETS = tuple(name for name in TABLE if name != "demo")

#: name -> :class:`DatasetSpec`, for every entry of :data:`TABLE`.
SPECS: dict[str, DatasetSpec] = {name: d.spec for name, d in TABLE.items()}


def load_dataset(name: str, root: str | Path, **options: Any) -> IQATable:
    """The table of dataset ``name`` (one of :data:`DATASETS`) at ``root``; ``options``
    go to its loader (``load_live``, ``load_tid2013``, ``load_csv``)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return TABLE[name].load(root, **options)


__all__ = ["DATASETS", "SPECS", "TABLE", "Dataset", "DatasetSpec", "FolderIndex", "IQATable",
           "check_readable", "load_dataset", "require_layout"]
