"""Data: the data sets of the three tasks, seeded splits, and the patch streams every
task trains and predicts from.

NR-IQA: :func:`load_dataset` ('live', 'tid2013', 'csv') returns an
:class:`~hyperkit.data.iqa.IQATable`; :mod:`~hyperkit.data.iqa_demo` generates the demo
set. Forgery: :mod:`~hyperkit.data.casia2`, :mod:`~hyperkit.data.contours`,
:mod:`~hyperkit.data.forgery_pairs`, :mod:`~hyperkit.data.forgery_demo`. Synthetic:
:mod:`~hyperkit.data.synthetic`. Patches: :mod:`~hyperkit.data.patches`,
:mod:`~hyperkit.data.prepared`, :mod:`~hyperkit.data.selection`.
"""

from .iqa import DATASETS, IQATable, load_dataset

__all__ = ["DATASETS", "IQATable", "load_dataset"]
