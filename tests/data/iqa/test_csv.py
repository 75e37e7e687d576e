"""Any folder plus a CSV (the pyiqa dist_name,ref_name,mos convention)."""

import os

import numpy as np
import pytest

from hyperkit.data.iqa.csv import load_csv

from .test_live import write_bmp


def make_folder(root, n=4, refs=("r0.png", "r1.png")):
    """n images root/dist/d{i}.png and reference images root/ref/r*.png."""
    (root / "dist").mkdir(parents=True)
    (root / "ref").mkdir()
    for i in range(n):
        write_bmp(root / "dist" / f"d{i}.png", seed=i)
    for r in refs:
        write_bmp(root / "ref" / r, seed=50)
    return [f"dist/d{i}.png" for i in range(n)]


def write_csv(path, lines, newline="\n", bom=False):
    path.write_text(("\ufeff" if bom else "") + newline.join(lines) + newline, encoding="utf-8")
    return path


def test_pyiqa_convention_with_reference_files(tmp_path):
    names = make_folder(tmp_path)
    write_csv(tmp_path / "meta.csv", ["dist_name,ref_name,mos"] + [
        f"{n},ref/r{i % 2}.png,{i + 0.5}" for i, n in enumerate(names)])
    t = load_csv(tmp_path)
    assert t.images == tuple((tmp_path / n).resolve() for n in names)
    np.testing.assert_array_equal(t.scores, [0.5, 1.5, 2.5, 3.5])
    assert t.refs == ("ref/r0.png", "ref/r1.png") * 2
    assert t.ref_images == {f"ref/r{k}.png": (tmp_path / f"ref/r{k}.png").resolve()
                            for k in (0, 1)}
    assert (t.name, t.score_name, t.higher_better, t.best_score, t.label_source) == (
        "csv", "mos", True, None, "meta.csv (mos)")
    assert t.dist_types is None and t.levels is None


def test_no_reference_column_means_no_references(tmp_path):
    names = make_folder(tmp_path)
    write_csv(tmp_path / "koniq.csv", ["image_name;MOS"] + [f"{n};{i}" for i, n in
                                                            enumerate(names)])
    t = load_csv(tmp_path, image_col="image_name", score_col="MOS")
    assert t.refs is None and t.ref_images is None and t.score_name == "MOS"
    with pytest.raises(ValueError, match=r"no column 'ref_name' \(ref_col\); its columns are "
                                         r"\['image_name', 'MOS'\]"):
        load_csv(tmp_path, image_col="image_name", score_col="MOS", ref_col="ref_name")


def test_reference_ids_that_are_not_files_and_auto_type_level_columns(tmp_path):
    names = make_folder(tmp_path)
    write_csv(tmp_path / "m.csv", ["dist_name\tref_name\tmos\tdist_type\tlevel"] + [
        f"{n}\tscene{i // 2}\t{i}\tblur\t{i + 1}" for i, n in enumerate(names)], bom=True)
    t = load_csv(tmp_path, higher_better=False, best_score=0)
    assert t.refs == ("scene0", "scene0", "scene1", "scene1") and t.ref_images is None
    assert t.dist_types == ("blur",) * 4 and t.levels == (1, 2, 3, 4)
    assert t.higher_better is False and t.best_score == 0.0
    t = load_csv(tmp_path, ref_col=None)  # references ignored on request
    assert t.refs is None


def test_named_type_and_level_columns_are_required(tmp_path):
    names = make_folder(tmp_path)
    write_csv(tmp_path / "m.csv", ["dist_name,mos,kind"] + [f"{n},{i},noise" for i, n in
                                                          enumerate(names)])
    assert load_csv(tmp_path, type_col="kind").dist_types == ("noise",) * 4
    with pytest.raises(ValueError, match=r"no column 'lvl' \(level_col\)"):
        load_csv(tmp_path, level_col="lvl")


def test_whitespace_quotes_and_crlf(tmp_path):
    names = make_folder(tmp_path, n=3)
    write_csv(tmp_path / "m.csv", [" dist_name , mos , dist_type "] + [
        f' {n} , {i} , "Mean shift (intensity shift), strong"' for i, n in enumerate(names)],
        newline="\r\n")
    t = load_csv(tmp_path)
    assert t.images[0].name == "d0.png" and t.dist_types[0] == (
        "Mean shift (intensity shift), strong")


def test_csv_location(tmp_path, monkeypatch):
    data = tmp_path / "data"
    names = make_folder(data, n=3)
    lines = ["dist_name,mos"] + [f"{n},{i}" for i, n in enumerate(names)]
    write_csv(data / "a.csv", lines)
    write_csv(data / "b.csv", lines)
    with pytest.raises(FileNotFoundError, match=r"2 CSV files \(\['a.csv', 'b.csv'\]\)"):
        load_csv(data)
    assert len(load_csv(data, "b.csv")) == 3  # relative: not in the cwd, found in root
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    write_csv(elsewhere / "b.csv", lines[:2])
    monkeypatch.chdir(elsewhere)
    assert len(load_csv(data, "b.csv")) == 1  # the current directory comes first
    with pytest.raises(FileNotFoundError, match="not found"):
        load_csv(data, "c.csv")
    (data / "a.csv").unlink()
    (data / "b.csv").unlink()
    with pytest.raises(FileNotFoundError, match="holds no \\*.csv"):
        load_csv(data)


@pytest.mark.parametrize("row, match", [
    ("dist/d1.png,", r"row 3: mos '' is empty"),
    ("dist/d1.png,good", r"row 3: mos 'good' is not a number"),
    ("dist/d1.png,nan", r"row 3: mos 'nan' is not finite"),
    ("dist/d1.png,inf", r"row 3: mos 'inf' is not finite"),
    ("dist/d1.png", r"row 3 has 1 fields, the header 2"),
    (",3", r"row 3: dist_name is empty"),
    ("./dist/d0.png,3", r"row 3 repeats row 2 \(dist/d0.png\)"),
])
def test_bad_rows_are_refused_with_row_numbers(tmp_path, row, match):
    make_folder(tmp_path)
    write_csv(tmp_path / "m.csv", ["dist_name,mos", "dist/d0.png,1", row, "dist/d2.png,2"])
    with pytest.raises(ValueError, match=match):
        load_csv(tmp_path)


def test_missing_images_are_listed_with_rows(tmp_path):
    make_folder(tmp_path)
    lines = ["dist_name,mos"] + [f"dist/x{i}.png,{i}" for i in range(7)] + ["dist/d0.png,1"]
    write_csv(tmp_path / "m.csv", lines)
    with pytest.raises(FileNotFoundError, match=r"7 images do not exist.*row 2: dist/x0.png; "
                                                r"row 3: dist/x1.png.*\(and 2 more\)"):
        load_csv(tmp_path)


def test_reference_files_partly_missing_are_refused(tmp_path):
    names = make_folder(tmp_path)
    write_csv(tmp_path / "m.csv", ["dist_name,ref_name,mos"] + [
        f"{n},ref/r{i}.png,{i}" for i, n in enumerate(names)])  # r2, r3 do not exist
    with pytest.raises(FileNotFoundError, match=r"row 4: ref/r2.png; row 5: ref/r3.png"):
        load_csv(tmp_path)


def test_partly_empty_reference_column_is_refused(tmp_path):
    names = make_folder(tmp_path)
    write_csv(tmp_path / "m.csv", ["dist_name,ref_name,mos"] + [
        f"{n},{'a' if i else ''},{i}" for i, n in enumerate(names)])
    with pytest.raises(ValueError, match=r"'ref_name' is empty in 1 rows \(rows \[2\]\)"):
        load_csv(tmp_path)


def test_missing_required_columns_and_bad_arguments(tmp_path):
    make_folder(tmp_path)
    write_csv(tmp_path / "m.csv", ["name,score", "dist/d0.png,1"])
    with pytest.raises(ValueError, match=r"no column 'dist_name' \(image_col\); its columns "
                                         r"are \['name', 'score'\]"):
        load_csv(tmp_path)
    with pytest.raises(ValueError, match=r"no column 'mos'"):
        load_csv(tmp_path, image_col="name")
    with pytest.raises(ValueError, match="delimiter must be one of"):
        load_csv(tmp_path, delimiter="|")
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_csv(tmp_path / "nowhere")
    write_csv(tmp_path / "m.csv", [""])
    with pytest.raises(ValueError, match="empty or has no header"):
        load_csv(tmp_path)


def test_images_outside_root_and_absolute_paths(tmp_path):
    data = tmp_path / "data"
    make_folder(data, n=2)
    other = tmp_path / "other.png"
    write_bmp(other)
    write_csv(tmp_path / "m.csv", ["dist_name,mos", "dist/d0.png,1", f"{other},2",
                                   "../other.png,3"])
    with pytest.raises(ValueError, match=r"row 4 repeats row 3"):
        load_csv(data, tmp_path / "m.csv", allow_outside_root=True)
    with pytest.raises(ValueError, match=r"2 path\(s\) in column 'dist_name' lead outside"):
        load_csv(data, tmp_path / "m.csv")
    write_csv(tmp_path / "m.csv", ["dist_name,mos", "dist/d0.png,1", f"{other},2"])
    with pytest.raises(ValueError, match="lead outside the data set folder"):
        load_csv(data, os.path.relpath(tmp_path / "m.csv"))
    t = load_csv(data, os.path.relpath(tmp_path / "m.csv"), allow_outside_root=True)
    assert t.images[1] == other.resolve()


def test_paths_outside_the_root_are_refused_unless_allowed(tmp_path):
    """Issue 22, item 3: '../../outside/x.png', absolute paths and symbolic links out of
    the root were read without a word."""
    import os

    from PIL import Image

    root, outside = tmp_path / "set", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    for d, n in ((root, "a.png"), (root, "b.png"), (outside, "x.png")):
        Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(d / n)
    os.symlink(outside / "x.png", root / "link.png")
    for bad in ("../outside/x.png", str(outside / "x.png"), "link.png"):
        (root / "s.csv").write_text(f"dist_name,mos\na.png,1\nb.png,2\n{bad},3\n")
        with pytest.raises(ValueError, match=r"1 path\(s\) in column 'dist_name' lead outside"):
            load_csv(root)
        assert len(load_csv(root, allow_outside_root=True)) == 3
    (root / "s.csv").write_text("dist_name,mos,ref_name\na.png,1,../outside/x.png\n")
    with pytest.raises(ValueError, match="column 'ref_name' lead outside"):
        load_csv(root)


def test_a_csv_that_is_not_utf8_names_its_file_and_row(tmp_path):
    """Issue 22, item 3: a non-UTF-8 CSV's error named neither file nor row."""
    make_folder(tmp_path, n=2)
    (tmp_path / "m.csv").write_bytes("dist_name,mos\ndist/d0.png,1\ndist/d1.png,2 \xe9t\xe9\n"
                                     .encode("latin-1"))
    with pytest.raises(ValueError, match=r"m\.csv: row 3 is not UTF-8 text"):
        load_csv(tmp_path, "m.csv")
