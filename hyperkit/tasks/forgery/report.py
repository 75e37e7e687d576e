"""What a forgery run reports: the summary over seeds and results.md laid out like
Table 3."""

from __future__ import annotations

import numpy as np

from ..report import md_row, md_table, pm
from .settings import APPROACHES, PAPER


def summarize(runs: list[dict]) -> dict:
    """Mean and standard deviation over seeds of each metric, per approach, and the
    confusion matrices summed over seeds."""
    s: dict = {}
    for k in APPROACHES:
        if not all(k in r["metrics"] for r in runs):  # seeds run before k existed
            continue
        s[k] = {}
        for metric in ("accuracy", "balanced_accuracy", "roc_auc"):
            v = np.array([r["metrics"][k][metric] for r in runs], dtype=np.float64)
            s[k][metric] = {"mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v)}
        s[k]["confusion_matrix"] = np.sum([r["metrics"][k]["confusion_matrix"] for r in runs],
                                          axis=0).tolist()
    return s


def _pm(s: dict, pct: bool = True) -> str:
    if pct:
        return pm(s, digits=2, scale=100, unit="%")
    return pm(s, digits=2 if s["n"] > 1 else 4)


def approach_labels(setting: dict) -> dict[str, str]:
    """:data:`APPROACHES` as they apply to a recorded setting: the two-stage label says
    when the grid head, not the paper's deep stage 2, ran."""
    if setting.get("stage2_recipe") != "head":
        return dict(APPROACHES)
    return {**APPROACHES, "two_stage": "Two-stage: the paper's stage 1, grid-head stage 2 "
                                       f"(`{setting['stage2_arch']}`)"}


def table(results: dict) -> str:
    """A Markdown table laid out like Table 3, with the paper's accuracy beside ours."""
    s, n = results["summary"], len(results["runs"])
    test = results["runs"][0]
    head = (f"# Image forgery classification ({results['dataset']}, "
            f"{results['setting']['name']} setting, {n} seed(s); test set of {test['test']} "
            f"images: {test['test_authentic']} authentic, {test['test_tampered']} tampered)\n\n")
    rows = md_table(["Approach", "Classification accuracy", "Balanced accuracy", "ROC AUC",
                     "Confusion matrix [[TN, FP], [FN, TP]] (1 = authentic)", "paper accuracy"])
    labels = approach_labels(results["setting"])
    paper = {**PAPER, "dct_markov": PAPER["sutthiwan"]}
    for k in ("e2e", "dct_markov", "two_stage", "format_only"):
        if k not in s:  # a run from before the baseline, or without scikit-learn
            if k == "dct_markov":
                rows.append("| Current state of the art (Sutthiwan et al. 2011) | not run "
                            "(needs scikit-learn: pip install 'hyperkit[forgery]') | | | | "
                            f"{100 * PAPER['sutthiwan']:.2f}% |")
            continue
        r = s[k]
        rows.append(md_row([labels[k], _pm(r["accuracy"]), _pm(r["balanced_accuracy"]),
                            _pm(r["roc_auc"], False), r["confusion_matrix"],
                            f"{100 * paper[k]:.2f}%" if k in paper else ""]))
    note = ("\nROC AUC: Mann-Whitney U / (n_authentic x n_tampered) (scipy.stats; "
            "scikit-learn is not used). Accuracy and the confusion matrices at each approach's "
            "threshold, picked on the validation images for balanced accuracy (per seed in "
            "results.json; the same metrics at 0.5 under 'metrics_at_0.5').\n")
    return head + "\n".join(rows) + "\n" + note + where(results) + data_checks(results)


def where(results: dict) -> str:
    """The tamper maps' pixel-level scores, mean ± std over seeds, with the blank-map
    and random-map baselines ('' for runs without masks or from before the maps)."""
    locs = [r["localization"] for r in results["runs"] if r.get("localization", {}).get("n")]
    if not locs:
        return ""
    rows = md_table(["map", "pixel ROC AUC", "F1 at 0.5", "best F1 (upper bound)"])
    names = {"two_stage": f"two-stage ({locs[0]['method']} importance, minus)",
             "blank": "blank (every pixel tampered)", "random": "uniform random"}
    for arm, label in names.items():
        cells = []
        for metric in ("pixel_auc", "f1_at_0.5", "f1_best"):
            v = np.array([loc[arm][metric] for loc in locs])
            cells.append(f"{v.mean():.3f} ± {v.std():.3f}" if len(v) > 1 else f"{v[0]:.3f}")
        rows.append(md_row([label] + cells))
    n = ", ".join(str(loc["n"]) for loc in locs)
    return (f"\n## Where it was tampered\n\nPer-pixel tamper maps of the tampered test "
            f"images with a mask ({n} per seed), each metric averaged over images, then "
            f"mean ± std over {len(locs)} seed(s); PNGs of a few in seed<s>/maps/.\n\n"
            + "\n".join(rows) + "\n")


def data_checks(results: dict) -> str:
    """CASIA's traps as measured on this run's data: files skipped, masks set aside,
    near-duplicates grouped (runs from before these checks report what they have)."""
    d, g = results.get("data", {}), results.get("grouping")
    lines = [f"\n## Data checks\n\n* files skipped: {d.get('skipped', 0)} "
             f"{d.get('skipped_by_reason') or ''}".rstrip()]
    if "masks_set_aside" in d:
        lines.append(f"* --masks files: {d.get('pairs_with_mask', 0)} used for contours, "
                     f"{d['masks_set_aside']} set aside {d['masks_set_aside_by_reason'] or ''}"
                     .rstrip())
    if g:
        lines.append(f"* split groups: {g['groups']}; near-duplicate authentic images "
                     f"(dHash within {g['max_bits']} bits): {g['near_duplicate_pairs']} "
                     f"pair(s), {g['authentic_in_near_duplicate_groups']} image(s) kept on "
                     "one side of every split")
    return "\n".join(lines) + "\n"
