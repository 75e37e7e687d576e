"""Finished forgery runs side by side, paired by seed (issue 20): per seed the two-stage
test ROC AUC, stage 1's validation ranking accuracy, the tamper maps' pixel AUC and the
seconds; per run mean ± std, the worst seed, and the paired difference from the first
run (the baseline) with its std. Seeds are paired only where both runs have them.
``--approach`` compares another approach of a run (one per run), e.g. the late fusion
against the two-stage CNN of the same run.

    python bench/forgery_compare.py results/forgery/demo-quick-5seeds /tmp/run-a /tmp/run-b \\
        --names baseline,a,b --out results/forgery/levers.json
    python bench/forgery_compare.py RUN RUN --names two_stage,fused --approach two_stage,fused

Reads each RUN/results.json (or, for a run still going, RUN/seed*/metrics.json); writes
nothing but --out.
"""

from __future__ import annotations

import argparse
import json
import statistics as st
import sys
from pathlib import Path

from hyperkit.devices import describe_machine
from hyperkit.runs import library_versions


def seeds_of(run: Path) -> dict[int, dict]:
    """seed -> its metrics record (from results.json, else the finished seed folders)."""
    f = run / "results.json"
    rows = json.loads(f.read_text())["runs"] if f.is_file() else [
        json.loads(p.read_text()) for p in sorted(run.glob("seed*/metrics.json"))]
    if not rows:
        raise SystemExit(f"{run}: no results.json and no finished seed")
    return {int(r["seed"]): r for r in rows}


def row(r: dict, approach: str = "two_stage") -> dict:
    """The figures compared per seed (``approach``'s ROC AUC and balanced accuracy)."""
    loc = r.get("localization", {}).get("two_stage", {})
    return {"seed": int(r["seed"]), f"{approach}_auc": r["metrics"][approach]["roc_auc"],
            "balanced_accuracy": r["metrics"][approach].get("balanced_accuracy"),
            "stage1_val_ranking_accuracy": r["stage1"].get("val_ranking_accuracy"),
            "pixel_auc": loc.get("pixel_auc"), "seconds": r.get("seconds")}


def summary(values: list[float]) -> dict:
    """Mean, std (n - 1), worst (lowest) and count of ``values``."""
    return {"mean": st.mean(values), "std": st.stdev(values) if len(values) > 1 else 0.0,
            "worst": min(values), "n": len(values)}


def main(argv: list[str] | None = None) -> None:
    """Prints one line per run and writes --out."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run folders; the first is the base")
    ap.add_argument("--names", help="comma-separated names (default: the folder names)")
    ap.add_argument("--approach", help="comma-separated approach per run (default: "
                    "two_stage for each; e.g. fused, dct_markov)")
    ap.add_argument("--out", type=Path, help="JSON file to write")
    a = ap.parse_args(argv)
    names = [s.strip() for s in a.names.split(",")] if a.names else [p.name for p in a.runs]
    if len(names) != len(a.runs):
        ap.error(f"--names gives {len(names)} names for {len(a.runs)} runs")
    if len(set(names)) != len(names):
        ap.error("--names must be different from each other")
    approach = ([s.strip() for s in a.approach.split(",")] if a.approach
                else ["two_stage"] * len(a.runs))
    if len(approach) != len(a.runs):
        ap.error(f"--approach gives {len(approach)} approaches for {len(a.runs)} runs")
    kind = dict(zip(names, approach))
    runs = {}
    for n, p in zip(names, a.runs):
        seeds = seeds_of(p)
        # seeds finished before an approach existed lack it: left out, as unpaired seeds are
        runs[n] = {s: r for s, r in seeds.items() if kind[n] in r["metrics"]}
        if len(runs[n]) < len(seeds):
            print(f"{n}: {len(seeds) - len(runs[n])} seed(s) of {p} have no "
                  f"{kind[n]!r} metrics; left out", file=sys.stderr)
        if not runs[n]:
            have = sorted({k for r in seeds.values() for k in r["metrics"]})
            ap.error(f"--approach {kind[n]!r}: no seed of {p} has it (has: {', '.join(have)})")
    base = runs[names[0]]
    report = {"command": " ".join(["python", *sys.argv]), "machine": describe_machine(),
              "versions": library_versions(), "runs": {}}
    b = kind[names[0]]
    for n, p in zip(names, a.runs):
        k = kind[n]
        rows = [row(r, k) for _, r in sorted(runs[n].items())]
        aucs = [r[f"{k}_auc"] for r in rows]
        entry = {"folder": str(p), "approach": k, "seeds": rows, f"{k}_auc": summary(aucs)}
        paired = [runs[n][s]["metrics"][k]["roc_auc"] - base[s]["metrics"][b]["roc_auc"]
                  for s in sorted(runs[n]) if s in base]
        if n != names[0] and paired:
            entry["paired_difference_from_" + names[0]] = summary(paired)
        report["runs"][n] = entry
        diff = entry.get("paired_difference_from_" + names[0])
        print(f"{n}: ROC AUC {entry[f'{k}_auc']['mean']:.3f} ± "
              f"{entry[f'{k}_auc']['std']:.3f} (worst {min(aucs):.3f}; "
              f"{', '.join(f'{v:.3f}' for v in aucs)})"
              + (f"; paired difference {diff['mean']:+.3f} ± {diff['std']:.3f}" if diff else ""))
    if a.out:
        a.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
