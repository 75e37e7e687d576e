"""A source checkout without its compiled kernels, imported from its own folder (the
current directory shadows the installed package): the error says what to do."""

import shutil
import subprocess
import sys
from pathlib import Path

import hyperkit


def test_missing_kernels_error_says_what_to_do(tmp_path):
    src = Path(hyperkit.__file__).parent
    shutil.copytree(src, tmp_path / "hyperkit",
                    ignore=shutil.ignore_patterns("_C*.so", "_C*.pyd", "__pycache__", "*.pt"))
    # an editable install's finder would supply the real _C: drop it, as after `pip install .`
    code = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in "
            "repr(f)]; import hyperkit; hyperkit.lcn")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "compiled kernels (hyperkit._C) are not in" in r.stderr
    assert "pip install --no-build-isolation -e ." in r.stderr
