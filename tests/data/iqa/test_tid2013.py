"""TID2013 on fabricated trees in the official layout, with the shipped archive's mix
of I/i and .bmp/.BMP (reference 25 is i25.bmp)."""

import numpy as np
import pytest

from hyperkit.data.iqa.tid2013 import (
    TID2013_REFERENCE_MOS,
    TID2013_TYPES,
    TID_SUBSETS,
    load_tid2013,
)

from .test_live import write_bmp

REF_FILES = {"I01": "I01.BMP", "I02": "I02.BMP", "I25": "i25.bmp"}
TYPES = (1, 14, 24)
LEVELS = (1, 5)


def distorted_file(ref, kind, level):
    """The name on disk, with case mixed as the archive mixes it."""
    name = f"{ref}_{kind:02d}_{level}.bmp"
    if ref == "I25":
        return name.lower()
    return name.upper() if kind == 14 else name


def make_tid(root, refs=REF_FILES, types=TYPES, levels=LEVELS, *, lines=None, skip=()):
    """A TID2013 tree: reference_images/, distorted_images/ and mos_with_names.txt, whose
    names are written as the official list writes them (I25_.. upper case while the file
    is i25_...bmp). Returns the rows [(mos, name)] as listed."""
    (root / "reference_images").mkdir(parents=True)
    (root / "distorted_images").mkdir()
    for r, f in refs.items():
        if f not in skip:
            write_bmp(root / "reference_images" / f, seed=int(r[1:]))
    rows = []
    for r in refs:
        for kind in types:
            for level in levels:
                f = distorted_file(r, kind, level)
                if f not in skip:
                    write_bmp(root / "distorted_images" / f, seed=len(rows))
                rows.append((round(7.21 - 0.1 * len(rows), 5), f"{r}_{kind:02d}_{level}.bmp"))
    if lines is None:
        lines = [f"{m} {n}" for m, n in rows]
    (root / "mos_with_names.txt").write_text("\r\n".join(lines) + "\r\n")
    return rows


def test_mixed_case_tree_resolves_every_row(tmp_path):
    rows = make_tid(tmp_path)
    t = load_tid2013(tmp_path)
    assert len(t) == len(rows) == 18  # 3 references x 3 types x 2 levels, reference 25 too
    np.testing.assert_array_equal(t.scores, [m for m, _ in rows])
    assert t.reference_ids() == ["I01", "I02", "I25"]
    assert t.summary()["references"] == 3 and t.refs.count("I25") == 6
    assert t.ref_images == {r: (tmp_path / "reference_images" / f).resolve()
                            for r, f in REF_FILES.items()}
    assert all(p.is_file() and p.is_absolute() for p in t.images)
    assert t.images[-1].name == "i25_24_5.bmp" and t.images[6].name == "I02_01_1.bmp"
    assert t.type_names() == [TID2013_TYPES[k - 1] for k in TYPES]
    assert t.dist_types[2] == "Non eccentricity pattern noise" and t.levels[:4] == (1, 5, 1, 5)
    assert (t.name, t.higher_better, t.score_name, t.label_source, t.gray) == (
        "tid2013", True, "MOS", "mos_with_names.txt", False)
    assert t.best_score == TID2013_REFERENCE_MOS == 7.25 > t.scores.max()


def test_official_types_and_subsets():
    assert len(TID2013_TYPES) == 24 and len(set(TID2013_TYPES)) == 24
    assert TID2013_TYPES[0] == "Additive Gaussian noise"
    assert TID2013_TYPES[23] == "Sparse sampling and reconstruction"
    assert TID_SUBSETS["live4"] == ("Additive Gaussian noise", "Gaussian blur",
                                    "JPEG compression", "JPEG2000 compression")
    assert TID_SUBSETS["live4+local"][4:] == (
        "Non eccentricity pattern noise", "Local block-wise distortions of different intensity")
    assert TID_SUBSETS["all"] == TID2013_TYPES


def test_subset_by_types(tmp_path):
    make_tid(tmp_path, types=(1, 2, 8, 14, 15))
    t = load_tid2013(tmp_path)
    live4 = [TID2013_TYPES[k - 1] for k in (1, 8)]  # those of 'live4' this tree has
    idx = t.indices_of_types(live4)
    assert len(idx) == 3 * 2 * 2 and all(t.dist_types[i] in live4 for i in idx)
    with pytest.raises(ValueError, match="unknown distortion types.*JPEG compression"):
        t.indices_of_types(TID_SUBSETS["live4"])  # this tree has no JPEG


@pytest.mark.parametrize("line, match", [
    ("5.1 I01_01_1.bmp extra", "line 3 is '5.1 I01_01_1.bmp extra'; expected 'MOS file_name'"),
    ("I01_01_1.bmp", "line 3 is"),
    ("five I01_01_1.bmp", "line 3: MOS 'five' is not a number"),
    ("nan I01_01_1.bmp", "line 3: MOS 'nan' is not finite"),
    ("5.1 I01_01.bmp", "line 3: file name 'I01_01.bmp' is not of the form"),
    ("5.1 I01_25_1.bmp", "line 3: 'I01_25_1.bmp' has reference 1, type 25"),
    ("5.1 i01_01_1.BMP", r"line 3: 'i01_01_1.BMP' is listed twice \(first on line 1\)"),
])
def test_bad_lines_are_refused_with_line_numbers(tmp_path, line, match):
    rows = make_tid(tmp_path)
    lines = [f"{m} {n}" for m, n in rows]
    lines.insert(2, line)
    (tmp_path / "mos_with_names.txt").write_text("\n".join(lines))
    with pytest.raises(ValueError, match=match):
        load_tid2013(tmp_path)


def test_blank_lines_and_bom_are_tolerated(tmp_path):
    rows = make_tid(tmp_path)
    text = "\ufeff" + "\n\n".join(f"{m} {n}" for m, n in rows) + "\n\n"
    (tmp_path / "mos_with_names.txt").write_text(text, encoding="utf-8")
    assert len(load_tid2013(tmp_path)) == len(rows)


def test_unresolved_rows_are_listed_with_line_numbers(tmp_path):
    make_tid(tmp_path, skip={"I01_24_5.bmp", "i25.bmp"})
    with pytest.raises(FileNotFoundError, match=r"7 rows of mos_with_names.txt") as e:
        load_tid2013(tmp_path)
    msg = str(e.value)
    assert "line 6: distorted_images/I01_24_5.bmp; line 13: reference_images/I25.BMP" in msg
    assert "line 16: reference_images/I25.BMP (and 2 more)" in msg


@pytest.mark.parametrize("remove", ["mos_with_names.txt", "distorted_images",
                                    "reference_images"])
def test_missing_layout_is_named(tmp_path, remove):
    make_tid(tmp_path)
    target = tmp_path / remove
    if target.is_dir():
        for p in target.iterdir():
            p.unlink()
        target.rmdir()
    else:
        target.unlink()
    with pytest.raises(FileNotFoundError, match=f"lacks {remove}") as e:
        load_tid2013(tmp_path)
    assert "I{ref:02d}_{type:02d}_{level}.bmp" in str(e.value)


def test_files_differing_only_in_case_are_ambiguous(tmp_path):
    make_tid(tmp_path)
    write_bmp(tmp_path / "distorted_images" / "i01_01_1.BMP")  # beside I01_01_1.bmp
    t = load_tid2013(tmp_path)  # the listed name itself matches one exactly
    assert t.images[0].name == "I01_01_1.bmp"
    (tmp_path / "distorted_images" / "I01_01_1.bmp").rename(
        tmp_path / "distorted_images" / "i01_01_1.bmp")
    with pytest.raises(ValueError, match="differ only in case"):
        load_tid2013(tmp_path)


def test_empty_list_is_refused(tmp_path):
    make_tid(tmp_path, lines=[""])
    with pytest.raises(ValueError, match="lists no images"):
        load_tid2013(tmp_path)
