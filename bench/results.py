"""bench/RESULTS.md holds one section per benchmark; each script rewrites only its own."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).parent / "RESULTS.md"
HEADER = ("# Benchmark results\n\nEach section is written by the script it names, on the machine "
          "it names; ratios within a section come from one run.\n")


def write_section(name: str, text: str) -> None:
    """Replaces (or appends) the section ``name`` of bench/RESULTS.md with ``text``."""
    old = RESULTS.read_text() if RESULTS.exists() else HEADER
    if "<!-- section:" not in old:  # a file from before sections: keep it as it was
        old = HEADER + "\n<!-- section: kernels -->\n" + old + "\n<!-- end: kernels -->\n"
    block = f"<!-- section: {name} -->\n{text.rstrip()}\n<!-- end: {name} -->"
    pattern = re.compile(rf"<!-- section: {re.escape(name)} -->.*?<!-- end: {re.escape(name)} -->",
                         re.S)
    new = pattern.sub(lambda _: block, old) if pattern.search(old) else (
        old.rstrip() + "\n\n" + block + "\n")
    RESULTS.write_text(new)
