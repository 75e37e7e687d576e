"""The built-in spliced set: written in the CASIA v2 layout, read back by the same
loader, masks where the images differ, JPEG files, seeded, never over existing files."""

import json

import numpy as np
import pytest

from hyperkit.data.forgery import casia2, contours
from hyperkit.data.forgery import demo as forgery_demo
from hyperkit.images import read_image


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return forgery_demo.generate(tmp_path_factory.mktemp("demo") / "set", 5, 3, seed=1,
                                 size=(96, 128))


def test_the_demo_reads_as_casia2_with_masks(demo):
    d = casia2.scan(demo, demo / "masks")
    assert len(d.authentic) == 5 and len(d.pairs) == 3 and not d.skipped
    for p in d.pairs:
        assert p.tampered.suffix == ".jpg" and p.mask is not None and p.kind == "D"
        a, t, m = read_image(p.authentic), read_image(p.tampered), read_image(p.mask) > 0
        assert a.shape == t.shape == (96, 128, 3) and m.shape == (96, 128)
        assert 0.005 < m.mean() < 0.5
        region = contours.tampered_region(a, t)  # subtraction finds the pasted region
        assert (region & m).sum() / (region | m).sum() > 0.5
        diff = np.abs(a.astype(int) - t.astype(int)).max(axis=2)
        assert diff[~m].mean() < diff[m].mean() / 4  # outside: only re-saving noise
    info = json.loads((demo / forgery_demo.MANIFEST).read_text())
    assert (info["n_authentic"], info["n_tampered"], info["seed"]) == (5, 3, 1)
    assert forgery_demo.matches(demo, 5, 3, 1, (96, 128))
    assert not forgery_demo.matches(demo, 5, 3, 2, (96, 128))


def test_the_demo_is_seeded(demo, tmp_path):
    again = forgery_demo.generate(tmp_path / "again", 5, 3, seed=1, size=(96, 128))
    for sub in ("Au", "Tp", "masks"):
        names = sorted(p.name for p in (demo / sub).iterdir())
        assert names == sorted(p.name for p in (again / sub).iterdir())
        for n in names:
            assert (demo / sub / n).read_bytes() == (again / sub / n).read_bytes()


def test_bad_arguments_and_existing_folders(demo, tmp_path):
    with pytest.raises(FileExistsError, match="already holds files"):
        forgery_demo.generate(demo, 5, 3)
    with pytest.raises(ValueError, match="n_tampered"):
        forgery_demo.generate(tmp_path / "a", 4, 5)
    with pytest.raises(ValueError, match="n_authentic"):
        forgery_demo.generate(tmp_path / "b", 2, 1)
    with pytest.raises(ValueError, match="at least 64"):
        forgery_demo.generate(tmp_path / "c", 4, 2, size=(32, 128))
