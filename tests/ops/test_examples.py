"""The Example sections of the ops' docstrings run as written (doctest)."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize("op", ["lcn", "minmax_pool2d", "gather_patches", "grid_minmax_pool",
                                "conv_minmax"])
def test_docstring_examples(op):
    module = importlib.import_module(f"hyperkit.ops.{op}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 2 and result.failed == 0
