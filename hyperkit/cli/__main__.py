"""``python -m hyperkit.cli`` (as under ``torchrun -m hyperkit.cli``)."""

from . import main

main()
