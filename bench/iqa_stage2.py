"""Stage 2 on real photographs: the paper's recipe against hyperkit's, over seeds.

Takes a finished NR-IQA run (``hyperkit iqa --dataset demo --quick --out RUN``) and
retrains only its split-0 stage 2 from the cached hyper-images (the stage 1 is the
run's selective one), once per (recipe, seed), then scores the test images: SROCC
overall and on the uniform and the local distortions, next to patch averaging, and
whether the stage 2 collapsed to one constant. Writes the 'iqa-stage2' section of
bench/RESULTS.md and bench/iqa_stage2.json.

    python bench/iqa_stage2.py --run runs/iqa-demo-quick --seeds 3
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from hyperkit import nets
from hyperkit.data.image_files import ImageFiles
from hyperkit.devices import describe_machine
from hyperkit.evaluation.metrics import collapsed, srocc
from hyperkit.model import TwoStage
from hyperkit.nets.standardized import Standardized
from hyperkit.tasks.iqa import SETTINGS
from hyperkit.training.loop import fit, predict
from hyperkit.training.objectives import MAE
from results import write_section


def dead_units(net: torch.nn.Module, x: np.ndarray) -> float:
    """Fraction of ReLU units (channels of conv layers, units of dense ones) that are 0
    for every input in ``x``: dead units pass no gradient and never recover."""
    outs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: outs.append(o.detach()))
             for m in net.modules() if isinstance(m, torch.nn.ReLU)]
    net.eval()
    alive: list[torch.Tensor] = []
    with torch.no_grad():
        for i in range(0, len(x), 32):
            outs.clear()
            net(torch.from_numpy(np.ascontiguousarray(x[i:i + 32])))
            cur = [(o > 0).flatten(2).any(2).any(0) if o.ndim == 4 else (o > 0).any(0)
                   for o in outs]
            alive = cur if not alive else [a | c for a, c in zip(alive, cur)]
    for h in hooks:
        h.remove()
    total = sum(a.numel() for a in alive)
    return 1.0 - sum(int(a.sum()) for a in alive) / total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a finished 'hyperkit iqa' run folder")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--recipes", default="paper,adam",
                    help="named recipes (hyperkit.training.recipes.STAGE2_RECIPES) or "
                         "variants optimizer:lr:standardize, e.g. sgd:0.005:1")
    ap.add_argument("--section", default="iqa-stage2", help="bench/RESULTS.md section name")
    ap.add_argument("--epochs", type=int, help="stage-2 epochs (default: the run's setting)")
    args = ap.parse_args()
    run = Path(args.run)
    cfg = json.loads((run / "config.json").read_text())
    setting = SETTINGS[cfg["setting"]["name"]]
    if args.epochs:
        setting = replace(setting, stage2_epochs=args.epochs)
    split = json.loads((run / "splits.json").read_text())["splits"][0]
    from hyperkit.data.iqa.demo import read_demo

    table = read_demo(cfg["table"]["root"])
    s1 = TwoStage.load(run / "split0" / "models" / "cnn_selective")
    work = run / "split0" / "hyper-cnn_selective"  # shared by the arms since issue 19
    if not work.is_dir():
        work = run / "split0" / "two_stage"  # a run made before
    htr = np.load(work / "hyper_train.npy", mmap_mode="r")
    hva = np.load(work / "hyper_val.npy", mmap_mode="r")
    te = np.asarray(split["test"])
    hte_path = run / "split0" / "bench_hyper_test.npy"
    if not hte_path.is_file():
        files = ImageFiles([table.images[i] for i in te])
        np.save(hte_path, np.concatenate([s1.hyperimages(list(files[i:i + 32])).numpy()
                                          for i in range(0, len(files), 32)]))
    hte = np.load(hte_path)
    ytr, yva, yte = (table.scores[np.asarray(split[p])].astype(np.float32)
                     for p in ("train", "val", "test"))
    types = np.asarray(table.dist_types)[te]
    local = np.array([t.endswith("/local") for t in types])
    pa = np.load(run / "split0" / "predictions.npz")["cnn_selective"]
    rows = []
    spec = cfg["spec"]["stage2_arch"]
    for recipe in args.recipes.split(","):
        for seed in range(args.seeds):
            if ":" in recipe:  # a variant between the two named recipes
                opt, lr, std = recipe.split(":")
                c2, _ = setting.stage2(seed, "paper")
                c2 = replace(c2, optimizer=opt, lr=float(lr))
                standardize = bool(int(std))
            else:
                c2, standardize = setting.stage2(seed, recipe)
            torch.manual_seed(seed)
            s2 = nets.build(spec)
            if standardize:
                s2 = Standardized(s2, htr.shape[1]).fit_statistics(htr, ytr)
            t0 = time.perf_counter()
            r = fit(s2, (htr, ytr), (hva, yva), MAE(), c2, log=None, progress=False)
            p = predict(s2, hte)
            dead = collapsed(p, yte)
            dead_frac = dead_units(s2, hva)
            rows.append({"recipe": recipe, "seed": seed, "collapsed": dead,
                         "srocc_all": None if dead else srocc(p, yte),
                         "srocc_uniform": None if dead else srocc(p[~local], yte[~local]),
                         "srocc_local": None if dead else srocc(p[local], yte[local]),
                         "best_val_mae": r.best_val, "best_epoch": r.best_epoch,
                         "epochs": r.epochs_run, "seconds": time.perf_counter() - t0,
                         "pred_std": float(np.std(p)), "dead_relu": dead_frac})
            print(rows[-1], flush=True)
    base = {"srocc_all": srocc(pa, yte), "srocc_uniform": srocc(pa[~local], yte[~local]),
            "srocc_local": srocc(pa[local], yte[local])}
    machine = describe_machine()
    out = {"run": str(run), "setting": setting.name, "stage2_epochs": setting.stage2_epochs,
           "rows": rows, "patch_average": base, "machine": machine}
    name = "iqa_stage2" if args.section == "iqa-stage2" else args.section.replace("-", "_")
    Path(__file__).with_name(f"{name}.json").write_text(json.dumps(out, indent=2))

    def f(v):
        return "collapsed" if v is None else f"{v:.3f}"

    lines = [f"## Stage 2 on real photographs: recipe ablation (`python bench/iqa_stage2.py "
             f"--run {run.name} --seeds {args.seeds} --recipes {args.recipes}`)", "",
             f"Machine: {machine.get('cpu', '?')}, torch {torch.__version__}. Demo data "
             f"(`hyperkit iqa --dataset demo --quick`), split 0: {len(ytr)} train / "
             f"{len(yva)} val / {len(yte)} test images; the run's selective stage 1, stage 2 "
             f"retrained per (recipe, seed), at most {setting.stage2_epochs} epochs.", "",
             "| recipe | seed | test SROCC all | uniform | local | epochs (best) | "
             "prediction std | dead ReLU units |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['recipe']} | {r['seed']} | {f(r['srocc_all'])} | "
                     f"{f(r['srocc_uniform'])} | {f(r['srocc_local'])} | {r['epochs']} "
                     f"({r['best_epoch']}) | {r['pred_std']:.3g} | {r['dead_relu']:.0%} |")
    lines.append(f"| patch averaging (same stage 1) | – | {base['srocc_all']:.3f} | "
                 f"{base['srocc_uniform']:.3f} | {base['srocc_local']:.3f} | – | – | – |")
    write_section(args.section, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
