"""Markdown helpers of the tasks' results.md: a summary as mean ± std (median, worst), and
rows of a Markdown table."""

from __future__ import annotations

from collections.abc import Sequence


def pm(s: dict | None, *, digits: int = 4, scale: float = 1.0, unit: str = "",
       median: bool = False, worst: bool = False, missing: str = "n/a") -> str:
    """A summary {'mean', 'std', 'n'[, 'median', 'worst']} as text: 'mean' for one value,
    'mean ± std' for more, with ' (median m)' / ' (worst w)' when asked; ``scale`` and
    ``unit`` print fractions as percentages (100, '%'); ``missing`` when n is 0."""
    if not s or s["n"] == 0:
        return missing
    mean = f"{scale * s['mean']:.{digits}f}{unit}"
    if s["n"] == 1:
        return mean
    extra = []
    if median:
        extra.append(f"median {scale * s['median']:.{digits}f}")
    if worst and "worst" in s:
        extra.append(f"worst {scale * s['worst']:.{digits}f}")
    text = f"{mean} ± {scale * s['std']:.{digits}f}"
    return text + (f" ({', '.join(extra)})" if extra else "")


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]] = ()) -> list[str]:
    """Lines of a Markdown table: the header, the rule, then one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + [md_row(r) for r in rows]


def md_row(cells: Sequence[object]) -> str:
    """One Markdown table line."""
    return "| " + " | ".join(str(c) for c in cells) + " |"
