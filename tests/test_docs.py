"""The docs site builds with warnings as errors, and the README stays a short overview that
keeps the Quickstart commands CI runs."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The README's Quickstart, word for word; .ci/run runs the second one.
QUICKSTART = (
    "pip install torch==2.13.0 && pip install . && hyperkit synthetic --quick",
    'pip install torch==2.13.0 && pip install -e ".[test]" && pytest -q tests',
)


def test_docs_build_strict(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr}\n{proc.stdout}"
    assert (tmp_path / "site" / "index.html").is_file()


def test_readme_short_with_quickstart():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = readme.splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move detail into docs/"
    for command in QUICKSTART:
        assert command in lines, f"README.md lost the Quickstart command: {command}"
    # .ci/run runs command 2, spelled `python3 -m pip install -q ...`: the same steps
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert _steps(QUICKSTART[1]) in _steps(ci), "README's Quickstart command 2 and .ci/run differ"


def _steps(command):
    """A command without `python3 -m` prefixes and `-q` flags."""
    return re.sub(r" -q\b", "", re.sub(r"\bpython3? -m ", "", command))
