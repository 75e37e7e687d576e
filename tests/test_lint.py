"""The tree passes ruff (config in pyproject.toml): CI fails on a lint finding."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    paths = ["hyperkit", "tests", "bench", "tools", "setup.py"]
    r = subprocess.run([sys.executable, "-m", "ruff", "check", *paths], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
