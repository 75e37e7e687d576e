"""Data: the data sets of the three tasks by family, seeded splits, and the image stores
training reads from.

NR-IQA (:mod:`~hyperkit.data.iqa`): :func:`load_dataset` ('live', 'tid2013', 'csv')
returns an :class:`~hyperkit.data.iqa.table.IQATable`; each dataset's loader sits beside
its networks and grid; :mod:`~hyperkit.data.iqa.demo` generates the demo set and
:mod:`~hyperkit.data.iqa.selection` the selective patch training set.
Forgery (:mod:`~hyperkit.data.forgery`): casia2, contours, pairs, demo.
Synthetic: :mod:`~hyperkit.data.synthetic`. Generic: :mod:`~hyperkit.data.splits`,
:mod:`~hyperkit.data.image_files`, :mod:`~hyperkit.data.prepared` (normalized images,
memory-mapped) and :mod:`~hyperkit.data.resized` (whole images for end-to-end networks).
The patch streams are in the core: :mod:`hyperkit.patches`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DATASETS", "IQATable", "load_dataset"]


def __getattr__(name: str) -> Any:
    # Loaded on first use, so the generic modules (splits, synthetic, ...) do not pull in
    # the IQA loaders and the demo's scikit-image imports.
    if name in __all__:
        from . import iqa

        return getattr(iqa, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
