"""Evaluation: correlation metrics of predicted against true scores."""

from .metrics import correlations, krocc, plcc, srocc

__all__ = ["correlations", "krocc", "plcc", "srocc"]
