"""What a forgery run reports: the summary over seeds, results.md laid out like Table 3,
and the merge of a run folder's finished seeds into results (:func:`merge_results`, the
end of a run and ``hyperkit report``)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from ...runs import CONFIG, METRICS, RunFolder
from ...units import mark_partial, read_json, run_config
from ..report import md_row, md_table, pm
from .plots import plot_contour_examples, plot_roc
from .settings import APPROACHES, FLAT, PAPER, Setting

ROC_AUC_METHOD = "Mann-Whitney U / (n_authentic n_tampered), scipy.stats"


def summarize(runs: list[dict]) -> dict:
    """Mean, standard deviation and the worst value (lowest, with its seed) over seeds of
    each metric, per approach, and the confusion matrices summed over seeds."""
    s: dict = {}
    for k in APPROACHES:
        if not all(k in r["metrics"] for r in runs):  # seeds run before k existed
            continue
        s[k] = {}
        for metric in ("accuracy", "balanced_accuracy", "roc_auc"):
            v = np.array([r["metrics"][k][metric] for r in runs], dtype=np.float64)
            worst = int(np.argmin(v))
            s[k][metric] = {"mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v),
                            "worst": float(v[worst]), "worst_seed": runs[worst].get("seed")}
        s[k]["confusion_matrix"] = np.sum([r["metrics"][k]["confusion_matrix"] for r in runs],
                                          axis=0).tolist()
    return s


def _pm(s: dict, pct: bool = True) -> str:
    if pct:
        return pm(s, digits=2, scale=100, unit="%")
    return pm(s, digits=2 if s["n"] > 1 else 4)


def _worst(s: dict) -> str:
    """' (worst w, seed k)' of a summary over more than one seed ('' otherwise)."""
    if s["n"] < 2 or "worst" not in s:  # one seed, or a summary from before
        return ""
    return f" (worst {s['worst']:.2f}, seed {s['worst_seed']})"


def approach_labels(setting: dict) -> dict[str, str]:
    """:data:`APPROACHES` as they apply to a recorded setting: the two-stage label says
    when the grid head, not the paper's deep stage 2, ran, and which options beyond the
    paper trained it (SRM residual input, synthetic splices, a patch score, a second view)."""
    arch = "".join(setting.get("channel_arch", "").split())
    srm = ("SRM residuals" if "SRM()" in arch else
           "pixels and SRM residuals" if "SRM(" in arch else "")
    head = setting.get("stage2_recipe") == "head"
    extra = [f"{srm} as stage 1's input"] if srm and not head else []
    if setting.get("splices"):
        where = {"stage1": "stage 1", "stage2": "stage 2"}.get(
            setting.get("splices_in", "both"), "both stages")
        share = setting.get("splice_jpeg", Setting.splice_jpeg)
        again = "" if share == Setting.splice_jpeg else f", {share:.0%} of them recompressed"
        extra.append(f"{setting['splices']} synthetic splice(s) per training authentic "
                     f"image in {where}{again}")
    if setting.get("edge_negatives"):
        extra.append(f"{setting['edge_negatives']} natural-edge negative(s) per stage-1 pair")
    if setting.get("patch_score"):
        extra.append(f"patch score weight {setting['patch_score']:g}")
    # record() leaves both out at the paper's defaults
    paper_optimizer = not {"stage1_optimizer", "stage1_lr"} & set(setting)
    if not paper_optimizer:
        extra.append(f"stage 1 {setting.get('stage1_optimizer', Setting.stage1_optimizer)} "
                     f"at learning rate {setting.get('stage1_lr', Setting.stage1_lr):g}")
    if len(setting.get("views", ())) > 1:  # record() leaves the one view out
        extra.append("stage 2 on each image and its mirror (mean logit)")
    note = f"; {', '.join(extra)}" if extra else ""
    if not head:
        return {**APPROACHES, "two_stage": APPROACHES["two_stage"] + note}
    first = (f"stage 1 on {srm}" if srm else
             "the paper's stage 1" if paper_optimizer else "stage 1")
    return {**APPROACHES, "two_stage": f"Two-stage: {first}, grid-head stage 2 "
                                       f"(`{setting['stage2_arch']}`){note}"}


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
    for k in ("e2e", "dct_markov", "two_stage", "fused", "fused_weighted", "format_only"):
        if k not in s:  # a run from before the baseline, or without scikit-learn
            if k == "dct_markov":
                rows.append("| Current state of the art (Sutthiwan et al. 2011) | not run "
                            "(needs scikit-learn: pip install 'hyperkit[forgery]') | | | | "
                            f"{100 * PAPER['sutthiwan']:.2f}% |")
            elif k.startswith("fused") and (have := sum(k in r["metrics"]
                                                         for r in results["runs"])):
                # seeds finished before the fusion existed
                rows.append(f"| {labels[k]} | in {have} of {n} seeds only (the others "
                            "finished before it existed): not summarized | | | | |")
            continue
        r = s[k]
        rows.append(md_row([labels[k], _pm(r["accuracy"]), _pm(r["balanced_accuracy"]),
                            _pm(r["roc_auc"], False) + _worst(r["roc_auc"]),
                            r["confusion_matrix"],
                            f"{100 * paper[k]:.2f}%" if k in paper else ""]))
    note = ("\nROC AUC: Mann-Whitney U / (n_authentic x n_tampered) (scipy.stats; "
            "scikit-learn is not used). Accuracy and the confusion matrices at each approach's "
            "threshold, picked on the validation images for balanced accuracy (per seed in "
            "results.json; the same metrics at 0.5 under 'metrics_at_0.5').\n")
    return (head + "\n".join(rows) + "\n" + note + flat_note(results) + where(results)
            + data_checks(results))


def flat_note(results: dict) -> str:
    """A warning naming the seeds whose stage 2 kept near-initial weights (test
    probabilities spanning less than :data:`~.settings.FLAT`): their two-stage ROC AUC
    rests on differences that small and is unreliable. '' when none (or for runs from
    before the check)."""
    flat = [(r["seed"], r["stage2"]["test_probability_range"]) for r in results["runs"]
            if r.get("stage2", {}).get("test_probability_range", FLAT) < FLAT]
    if not flat:
        return ""
    seeds = ", ".join(f"seed {s} ({v:.1e})" for s, v in flat)
    return (f"\n**Stage 2 stayed near-constant in {len(flat)} of {len(results['runs'])} "
            f"seed(s)**: {seeds}: its test probabilities span less than {FLAT:g} (it kept "
            "about its initial weights, every image near 0.5), so the two-stage ROC AUC of "
            "those seeds rests on differences that small and is unreliable.\n")


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


def merge_results(run_dir: str | Path | RunFolder, *, seconds: float | None = None,
                  data: Any = None, log: Callable[[str], None] = print) -> dict:
    """Merges the finished seeds of a forgery run folder into results.json, results.md,
    run.json, roc.png and contours/ (the end of :func:`~.runner.run_forgery`, and
    ``hyperkit report``).

    Reads only the folder: config.json (the planned seeds, the data set's summary and
    split groups), each ``seed<s>/metrics.json`` and, for the contour pictures,
    contours.json and pairs.csv. A run with fewer finished seeds than planned is merged
    too; results.json then holds ``seeds_finished`` and results.md says so.

    Args:
        run_dir: the run folder (or its :class:`~hyperkit.runs.RunFolder`).
        seconds: the run's wall time for results.json; None: the sum of the merged
            seeds' seconds (their compute time, as ``hyperkit report`` knows no more).
        data: the scanned data set, when the caller has it (its masks for the contour
            pictures); None: read from pairs.csv.

    Returns:
        the results dictionary written to results.json. FileNotFoundError without
        config.json, ValueError when no seed has finished or the folder is no forgery run.
    """
    folder = run_dir if isinstance(run_dir, RunFolder) else RunFolder(Path(run_dir), log)
    out = folder.path
    config = run_config(out, "forgery", is_forgery_config,
                        f"a forgery run (its {CONFIG} lacks the setting's seeds or the data "
                        "summary); only hyperkit forgery runs are merged")
    planned = int(config["setting"]["seeds"])
    runs = [read_json(out / f"seed{s}" / METRICS) for s in range(planned)
            if (out / f"seed{s}" / METRICS).is_file()]
    folder.log(f"{out}: {len(runs)} of {planned} planned seed(s) finished")
    if not runs:
        raise ValueError(f"{out} has 0 of {planned} planned seed(s) finished; nothing to "
                         "merge yet (each seed writes its metrics.json when it finishes)")
    results = {"task": "forgery", "dataset": config["dataset"], "setting": config["setting"],
               "device": config["device"], "data": config["data"],
               "grouping": config.get("grouping"), "runs": runs, "summary": summarize(runs),
               "paper": PAPER, "models": [f"seed{r['seed']}/model" for r in runs],
               "roc_auc_method": ROC_AUC_METHOD,
               "seconds": sum(r["seconds"] for r in runs) if seconds is None else seconds}
    markdown = table(results)
    if len(runs) < planned:
        results["seeds_finished"] = {"finished": len(runs), "planned": planned}
    markdown = mark_partial(markdown, len(runs), planned, "seed", out)

    def plots() -> None:
        plot_roc(out, runs, out / "roc.png")
        pairs = data if data is not None else pairs_of(out / "pairs.csv")
        plot_contour_examples(pairs, out / "contours.json", out / "contours", count=3)

    folder.write_results("forgery", results, markdown, results["models"], plots,
                         "roc.png, contours/")
    return results


def is_forgery_config(config: dict) -> bool:
    """Whether a run's config.json is a forgery run's (``task`` since issue 23; the
    patch margin and setting before)."""
    return (config.get("task") == "forgery" or "margin" in config) \
        and isinstance(config.get("setting"), dict) and "seeds" in config["setting"] \
        and "data" in config


def pairs_of(path: Path) -> SimpleNamespace:
    """The pairs of a run's pairs.csv as the contour pictures read them (``.pairs``, each
    with ``tampered`` and ``mask``), without scanning the data set again."""
    pairs = []
    if path.is_file():
        with open(path, newline="") as f:
            pairs = [SimpleNamespace(tampered=Path(row["tampered"]),
                                     mask=Path(row["mask"]) if row["mask"] else None)
                     for row in csv.DictReader(f)]
    return SimpleNamespace(pairs=pairs)
