"""Training batch sources; they live in :mod:`hyperkit.batching` (trained models predict
through them too), re-exported here."""

from ..batching import ArraySource, BatchSource, as_source

__all__ = ["ArraySource", "BatchSource", "as_source"]
