"""``hyperkit predict RUN IMAGE... --map DIR`` (issue 20): one tamper-map PNG per image
for a forgery run, with explain's unique names, never over an existing file, and refused
for a model that is no forgery run. A tiny forgery run is trained once for the module."""

import csv
import shutil

import numpy as np
import pytest
from PIL import Image

import hyperkit
from hyperkit.cli import main
from hyperkit.images import read_image
from hyperkit.tasks.forgery.tamper_maps import image_tamper_map, map_files
from tests.data.forgery.test_casia2 import make_tree
from tests.tasks.test_forgery import TINY


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(run folder, tampered image files) of a tiny forgery run on a miniature tree."""
    base = tmp_path_factory.mktemp("predict_map")
    root, _ = make_tree(base / "CASIA2", n_pairs=7, n_authentic=8, extras=False)
    out = base / "run"
    main(["forgery", "--dataset", "casia2", "--root", str(root), "--out", str(out), *TINY])
    return out, sorted((root / "Tp").glob("Tp_*"))


def _png(path):
    with Image.open(path) as im:
        return im.mode, np.asarray(im)


def test_map_writes_the_tamper_map_of_each_image_with_unique_names(run, tmp_path, capsys):
    out, tampered = run
    a, b = tmp_path / "a" / "x.tif", tmp_path / "b" / "x.tif"  # stems repeat
    for src, dst in ((tampered[0], a), (tampered[1], b)):
        dst.parent.mkdir()
        shutil.copy(src, dst)
    maps = tmp_path / "maps"
    capsys.readouterr()
    main(["predict", str(out), str(a), str(b), str(tampered[2]), "--map", str(maps),
          "--csv", str(tmp_path / "s.csv")])
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == [str(a), str(b), str(tampered[2])]
    names = ["x-0.png", "x-1.png", f"{tampered[2].stem}.png"]
    assert sorted(p.name for p in maps.iterdir()) == sorted(names)
    model = hyperkit.load_model(out)
    for name, src in zip(names, (a, b, tampered[2])):
        image = read_image(src)
        mode, got = _png(maps / name)
        assert mode == "L" and got.shape == image.shape[:2]
        want, _ = image_tamper_map(model, image)  # the map itself, 0-255
        np.testing.assert_allclose(got, np.rint(want * 255), atol=1)
        assert got.max() == 255 and got.min() == 0  # scaled per image
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert [r["map"] for r in rows] == names and rows[0]["label"] in ("authentic", "tampered")


def test_map_never_overwrites_and_stops_before_scoring(run, tmp_path, capsys):
    out, tampered = run
    maps = tmp_path / "maps"
    maps.mkdir()
    taken = maps / f"{tampered[1].stem}.png"
    taken.write_bytes(b"mine")
    capsys.readouterr()
    with pytest.raises(SystemExit, match=r"--map.*nothing is overwritten|exists.*--map"):
        main(["predict", str(out), str(tampered[0]), str(tampered[1]), "--map", str(maps)])
    assert capsys.readouterr().out == ""  # nothing scored
    assert taken.read_bytes() == b"mine" and sorted(maps.iterdir()) == [taken]
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="--map .* is a file"):
        map_files([tampered[0]], tmp_path / "file")


def test_map_is_refused_for_a_model_that_is_no_forgery_run(run, tmp_path):
    _, tampered = run
    maps = tmp_path / "maps"
    with pytest.raises(SystemExit, match="--map writes tamper maps.*forgery run"):
        main(["predict", "photo-iqa", str(tampered[0]), "--map", str(maps)])
    assert not maps.exists()


def test_a_shrunk_image_gets_its_map_at_the_file_size(run, tmp_path, capsys):
    """With --resize an image larger than the training sizes is scored shrunk; its map is
    resized back, so it lies over the file's pixels."""
    out, tampered = run
    big = tmp_path / "big.png"
    with Image.open(tampered[0]) as im:
        im.resize((im.width * 3, im.height * 3)).save(big)
    main(["predict", str(out), str(big), "--resize", "--map", str(tmp_path / "maps")])
    assert "shrunk" in capsys.readouterr().err
    _, got = _png(tmp_path / "maps" / "big.png")
    assert got.shape == read_image(big).shape[:2]
