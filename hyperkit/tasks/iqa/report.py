"""What an NR-IQA run reports: per-split log lines, the summary over splits, and
results.md laid out like Table 2."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ...evaluation.metrics import summarize
from ...evaluation.paired import paired_difference
from ..report import md_row, md_table, pm

KEYS = ("srocc", "plcc", "plcc_logistic", "krocc")


def log_split(r: dict, log: Callable[[str], None], rel: str) -> None:
    """One line per finished split: each arm's SROCC (per extent) and PLCC."""
    parts = []
    for a, m in r["metrics"].items():
        tag = " COLLAPSED" if m["collapsed"] else ""
        ext = "".join(f", {k} {v:.4f}" for k, v in (m.get("per_extent") or {}).items()
                      if v is not None)
        parts.append(f"{a} SROCC {m['srocc']:.4f}{ext} PLCC {m['plcc']:.4f}{tag}")
    log(f"[{rel}] " + " | ".join(parts) + f" ({r['seconds']:.0f} s)")


def summarize_runs(runs: list[dict], arms: Sequence[str], groups: Sequence[str]) -> dict:
    """Per group and arm: mean, std and median over splits of each metric (collapsed
    splits excluded and counted), and of the per-type SROCC."""
    out: dict = {}
    for g in groups:
        out[g] = {}
        for a in arms:
            ms = [r["metrics"][a] for r in runs if r["group"] == g and a in r["metrics"]]
            ok = [m for m in ms if not m["collapsed"]]
            s = {k: summarize([m[k] for m in ok]) for k in KEYS}
            s["collapsed"] = len(ms) - len(ok)
            s["per_type"] = _per(ok, "per_type")
            extents = _per(ok, "per_extent")
            if extents:
                s["per_extent"] = extents
            out[g][a] = s
    return out


def _per(ok: list[dict], key: str) -> dict:
    names = sorted({t for m in ok for t in (m.get(key) or {})})
    return {t: summarize([(m.get(key) or {}).get(t) for m in ok]) for t in names}


def _pm(s: dict) -> str:
    return pm(s, median=True)


def _paper(v: Any) -> str:
    return "–" if v is None else f"{v}"


SMALL_TEST = 30  # fewer test images than this get a warning in results.md


def table_md(results: dict, labels: dict[str, str]) -> str:
    """A Markdown table laid out like Table 2, with the paper's figures beside ours
    (``labels``: arm -> its name in the table)."""
    e, s = results["experiment"], results["summary"]
    n = max((v["srocc"]["n"] + v["collapsed"] for g in s.values() for v in g.values()),
            default=0)
    head = (f"# NR-IQA on {results['table'].get('name', results['dataset'])}"
            f"{f', experiment {e}' if e else ''} ({results['setting']['name']} setting, "
            f"{n} split(s); mean ± std (median) over splits)\n\n")
    rows = []
    tests = [r["test"] for r in results["runs"] if isinstance(r.get("test"), int)]
    if tests and min(tests) < SMALL_TEST:
        rows.append(f"> **Small test sets**: {min(tests)} test image(s) in the smallest split "
                    f"(fewer than {SMALL_TEST}); a correlation over so few images is noisy "
                    "(an SROCC of 1.000 over 4 images happens by chance 1 time in 24).\n")
    paper = results.get("paper") or {}
    for g, arms in s.items():
        if len(s) > 1:
            rows += [f"\n## Distortions: {g}\n"]
        pg = paper.get(g, {}) if e == 3 else paper
        rows += md_table(["Approach", "SROCC", "PLCC", "PLCC (logistic)", "KROCC",
                          "paper SROCC", "paper PLCC"])
        for a, v in arms.items():
            p = pg.get(a, (None, None))
            note = f" ({v['collapsed']} split(s) collapsed, excluded)" if v["collapsed"] else ""
            rows.append(md_row([f"{labels[a]}{note}", _pm(v["srocc"]), _pm(v["plcc"]),
                                _pm(v["plcc_logistic"]), _pm(v["krocc"]), _paper(p[0]),
                                _paper(p[1])]))
        rows += _per_table(arms, "per_extent", "SROCC per distortion extent (mean ± "
                           "std (median) over splits):", "Extent", _pm)
        rows += _per_table(arms, "per_type", "SROCC per distortion type (mean over "
                           "splits):", "Type", _mean)
        rows += paired_md([r for r in results["runs"] if r.get("group", g) == g], list(arms),
                          labels)
    return head + "\n".join(rows) + "\n"


# Arms that pool one stage 1's patch scores or features without a CNN over the grid: what
# a stage 2 must beat (issue 18)
BASELINES = ("cnn", "cnn_selective", "patch_min", "patch_p10", "patch_softmin",
             "weighted_pooling", "vgg_patch_average")


def _split_values(runs: list[dict], arm: str, key: str, name: str | None) -> dict[int, float]:
    """split -> SROCC of ``arm`` (overall, or of extent/type ``name`` under ``key``),
    leaving out collapsed splits and missing values."""
    out = {}
    for r in runs:
        m = r["metrics"].get(arm)
        if m is None or m.get("collapsed"):
            continue
        v = m["srocc"] if name is None else (m.get(key) or {}).get(name)
        if v is not None:
            out[r["split"]] = float(v)
    return out


def paired_md(runs: list[dict], arms: list[str], labels: dict[str, str]) -> list[str]:
    """Each stage-2 arm against the best baseline arm (by mean SROCC, per column), paired
    on the splits both finished: the mean difference, its bootstrap 95 % interval over
    splits, and the splits won. No lines for fewer than 2 splits or no pair of arms."""
    base = [a for a in arms if a in BASELINES]
    others = [a for a in arms if a not in BASELINES]
    if not base or not others or len({r["split"] for r in runs}) < 2:
        return []
    cols = [("srocc", None, "all")]
    for key in ("per_extent", "per_type"):
        names = sorted({t for r in runs for a in arms
                        for t in (r["metrics"].get(a, {}).get(key) or {})})
        cols += [(key, t, t) for t in names]
    rows = ["", "Paired against the best baseline of each column (SROCC difference, mean "
            "[bootstrap 95 % interval] over the splits both finished without collapsing, "
            "splits won/compared):", "",
            *md_table(["Approach", *(c[2] for c in cols)])]
    for a in others:
        cells = []
        for key, name, _ in cols:
            mine = _split_values(runs, a, key, name)
            # each baseline judged on the splits it shares with this arm (>= 2)
            shared = {b: {k: v for k, v in _split_values(runs, b, key, name).items()
                          if k in mine} for b in base}
            shared = {b: v for b, v in shared.items() if len(v) >= 2}
            if not shared:
                cells.append("n/a")
                continue
            best = max(shared, key=lambda b: _mean_of(shared[b]))
            common = sorted(shared[best])
            d = paired_difference([mine[k] for k in common], [shared[best][k] for k in common])
            cells.append(f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] vs "
                         f"{best}, {d['wins']}/{d['splits']}")
        rows.append(md_row([labels[a], *cells]))
    return rows


def _mean_of(values: dict[int, float]) -> float:
    return sum(values.values()) / len(values) if values else float("-inf")


def _mean(s: dict) -> str:
    return f"{s['mean']:.4f}" if s and s["n"] else "n/a"


def _per_table(arms: dict, key: str, title: str, first: str,
               cell: Callable[[dict], str]) -> list[str]:
    """The per-extent or per-type SROCC table of one group (no lines when none)."""
    names = sorted({t for v in arms.values() for t in (v.get(key) or {})})
    if not names:
        return []
    # columns by arm name: several labels share their first words
    rows = ["", title, "", *md_table([first, *arms])]
    for ty in names:
        rows.append(md_row([ty, *(cell((v.get(key) or {}).get(ty, {})) for v in arms.values())]))
    return rows
