"""The one way tasks get matplotlib: the Agg backend (files only, no display), imported
when a figure is first drawn so that importing a task does not load matplotlib."""

from __future__ import annotations

from typing import Any


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
