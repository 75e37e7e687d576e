"""Builds the larger offline NR-IQA evaluation set of issue 18 (not committed data).

45 reference photographs: the 18 of scikit-image that the demo uses, plus 27 photographs
from three Debian packages (plasma-workspace-wallpapers, lomiri-wallpapers-16.04,
lomiri-wallpapers-20.04; renders and illustrations left out by name). The Debian
packages are fetched with ``apt-get download`` and unpacked with ``dpkg -x`` into
--debs (nothing is installed). mate-backgrounds and opencv-doc are never used: they are
kept for independent evaluation.

Each photo gets the demo's distortions (4 kinds x 3 levels x uniform/local with masks)
and its full-reference label (hyperkit's demo score); the set is written in the demo's
layout (meta.csv in the pyiqa convention), so
``hyperkit.data.iqa.csv.load_csv(OUT, type_col="dist_type", best_score=100)`` reads it.
The photographs are made at the demo's 192 x 256, so a run trains them on the demo's
11 x 15 grid and networks (``run_iqa(table, "demo", ...)``; bench/RESULTS.md
"iqa-heads-photoset" has the command).

    python bench/make_photo_set.py --out ~/data/hyperkit-photoset
    python bench/make_photo_set.py --out ~/data/hyperkit-photoset-384 --size 384,512
"""

from __future__ import annotations

import argparse
import glob
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from hyperkit.data.iqa.demo import make_iqa_demo
from hyperkit.data.iqa.demo_distortions import DEFAULT_SIZE, crop_resize, load_photos

PACKAGES = {
    # package -> (glob under the unpacked tree, photographs kept by folder or file stem)
    "plasma-workspace-wallpapers": (
        "usr/share/wallpapers/*/contents/images/*.jpg",
        ("BytheWater", "ColdRipple", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite",
         "OneStandsOut", "Path", "Volna", "summer_1am")),
    "lomiri-wallpapers-16.04": (
        "usr/share/backgrounds/*.jpg",
        ("Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace",
         "Picture_1A_by_freespace", "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi",
         "analogpattern_by_Peter_Nerlich", "free_by_Peter_Nerlich",
         "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich",
         "life_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi",
         "seeding_by_Clements_Engelhardt", "sunset_by_Aitzol_Berasategi")),
    "lomiri-wallpapers-20.04": (
        "usr/share/backgrounds/*.jpg",
        ("Infinite-Sea_by_Aury88", "Kleiber_by_Lukas_Baubkus")),
}
FORBIDDEN = ("mate-backgrounds", "opencv-doc")  # kept for independent evaluation


def unpack(debs: Path) -> dict[str, Path]:
    """Downloads (if absent) and unpacks each package of PACKAGES under ``debs``."""
    debs.mkdir(parents=True, exist_ok=True)
    out = {}
    for pkg in PACKAGES:
        assert pkg not in FORBIDDEN
        tree = debs / pkg
        if not tree.is_dir():
            found = glob.glob(str(debs / f"{pkg}_*.deb"))
            if not found:
                subprocess.run(["apt-get", "download", pkg], cwd=debs, check=True)
                found = glob.glob(str(debs / f"{pkg}_*.deb"))
            subprocess.run(["dpkg", "-x", found[0], str(tree)], check=True)
        out[pkg] = tree
    return out


def debian_photos(debs: Path) -> dict[str, Path]:
    """name -> file of every kept Debian photograph (the largest file of a wallpaper)."""
    photos: dict[str, Path] = {}
    for pkg, tree in unpack(debs).items():
        pattern, keep = PACKAGES[pkg]
        for name in keep:
            cands = [Path(p) for p in glob.glob(str(tree / pattern))
                     if name in Path(p).parts or Path(p).stem == name]
            if not cands:
                raise FileNotFoundError(f"{name} not found in {pkg}")
            photos[f"{pkg.split('-')[0]}_{name}"] = max(cands, key=lambda p: p.stat().st_size)
    return photos


def load(paths: dict[str, Path], size: tuple[int, int]) -> dict[str, np.ndarray]:
    """name -> uint8 (H, W, 3) photograph of ``size`` (the demo's centred crop + resize)."""

    out = {}
    for name, p in sorted(paths.items()):
        with Image.open(p) as im:
            im.draft("RGB", (size[1] * 2, size[0] * 2))  # JPEG: decode at a reduced scale
            out[name] = crop_resize(np.asarray(im.convert("RGB")), *size)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="an absent or empty folder")
    ap.add_argument("--debs", default=str(Path.home() / ".cache/hyperkit/debs"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size", default=f"{DEFAULT_SIZE[0]},{DEFAULT_SIZE[1]}",
                    help="ROWS,COLS of every photograph (default: the demo's; issue 19's "
                         "timing uses 384,512, TID2013's size)")
    a = ap.parse_args()
    size = tuple(int(v) for v in a.size.split(","))
    if len(size) != 2 or min(size) < 32:
        ap.error(f"--size must be ROWS,COLS with both >= 32, got {a.size!r}")
    photos = load_photos(size)
    photos.update(load(debian_photos(Path(a.debs)), size))
    print(f"{len(photos)} photographs")
    make_iqa_demo(a.out, seed=a.seed, size=size, photos=photos)


if __name__ == "__main__":
    main()
