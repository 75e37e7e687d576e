"""``hyperkit predict --workers N`` (issue 19): files read ahead in threads, a bounded
window of decoded images, lines in input order, bad files reported at their turn as when
reading in turn, the option checked, and the closing images/s line."""

import io
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

import hyperkit.images
from hyperkit.cli import main
from hyperkit.cli.common import read_ahead


def lines(out):
    """[(path, score)] from predict's standard output, in printed order."""
    return [(p, float(s)) for p, s in (ln.split("\t") for ln in out.strip().splitlines())]


def tiny_pngs(folder, n, broken=()):
    """``n`` small gray PNGs of a few sizes (f00.png, ...); the indices in ``broken``
    are files that are no image. Returns their paths in order."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    paths = []
    for i in range(n):
        p = folder / f"f{i:02d}.png"
        if i in broken:
            p.write_bytes(b"not an image")
        else:
            size = (32 + 4 * (i % 3), 40 + 4 * (i % 2))
            Image.fromarray((rng.random(size) * 255).astype(np.uint8)).save(p)
        paths.append(p)
    return paths


@pytest.fixture
def slow_first_reads(monkeypatch):
    """read_image where earlier files take longer: threaded reads finish out of order."""
    real = hyperkit.images.read_image

    def read(path):
        time.sleep(0.02 * max(0, 6 - int(path.stem[1:])) / 6)
        return real(path)

    monkeypatch.setattr(hyperkit.images, "read_image", read)


def test_workers_keep_the_input_order_and_the_scores(trained_model_dir, tmp_path, capsys,
                                                     slow_first_reads):
    paths = tiny_pngs(tmp_path / "imgs", 9)
    main(["predict", str(trained_model_dir), str(tmp_path / "imgs"), "--workers", "0"])
    in_turn = lines(capsys.readouterr().out)
    main(["predict", str(trained_model_dir), str(tmp_path / "imgs"), "--workers", "3"])
    out, err = capsys.readouterr()
    ahead = lines(out)
    assert [p for p, _ in ahead] == [str(p) for p in paths] == [p for p, _ in in_turn]
    assert ahead == in_turn  # the same images scored one at a time: the same 4 decimals
    assert "scored 9 image(s) in " in err and " images/s)" in err


def test_a_bad_file_in_the_middle_is_skipped_and_reported_with_workers(trained_model_dir, tmp_path,
                                                                      capsys):
    paths = tiny_pngs(tmp_path / "imgs", 7, broken=(3,))
    bad = paths[3]
    results = {}
    for workers in ("0", "2"):
        with pytest.raises(SystemExit) as e:
            main(["predict", str(trained_model_dir), str(tmp_path / "imgs"), "--workers", workers,
                  "--no-progress"])
        out, err = capsys.readouterr()
        assert e.value.code == "hyperkit predict: 1 input(s) failed, 6 scored"
        assert f"hyperkit predict: skipped {bad}: {bad} is not a readable image" in err
        assert "scored 6 image(s) in " in err
        results[workers] = (lines(out), [ln for ln in err.splitlines() if "skipped" in ln])
    assert [p for p, _ in results["2"][0]] == [str(p) for p in paths if p != bad]
    assert results["2"] == results["0"]  # the same lines and the same messages


@pytest.mark.parametrize("value", ["-1", "33", "two", "1.5"])
def test_workers_is_checked(value, trained_model_dir, capsys):
    with pytest.raises(SystemExit) as e:
        main(["predict", str(trained_model_dir), "x.png", "--workers", value])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "argument --workers: must be a whole number from 0" in err and repr(value) in err


def test_read_ahead_keeps_a_bounded_window_and_the_order():
    started, lock = [], threading.Lock()

    def read(i):
        with lock:
            started.append(i)
        time.sleep(0.001 * (i % 3))
        if i == 5:
            raise ValueError("bad 5")
        return i * 10

    got = []
    for k, (i, job) in enumerate(read_ahead(range(40), read, workers=2)):
        with lock:
            assert len(started) <= k + 1 + 2 * 2  # the one handed out and 2 per worker
        try:
            got.append((i, job.result()))
        except ValueError as e:
            got.append((i, str(e)))
    assert got == [(i, "bad 5" if i == 5 else i * 10) for i in range(40)]


def test_read_ahead_stops_reading_when_the_caller_stops():
    started = []
    jobs = read_ahead(range(1000), started.append, workers=2)
    next(jobs)
    jobs.close()  # e.g. an error or Ctrl-C in the caller
    assert len(started) <= 1 + 2 * 2


def test_read_ahead_with_no_workers_reads_each_item_at_its_turn():
    started = []
    jobs = read_ahead(range(3), lambda i: started.append(i) or i, workers=0)
    i, job = next(jobs)
    assert started == [] and job.result() == 0 and started == [0]


class Terminal(io.StringIO):
    """A stderr that says it is a terminal, so tqdm draws its bar."""

    def isatty(self):
        return True


def test_the_bar_on_a_terminal_leaves_the_result_lines_whole(trained_model_dir, tmp_path, capsys,
                                                             monkeypatch):
    paths = tiny_pngs(tmp_path / "imgs", 4)
    monkeypatch.setattr(sys, "stderr", Terminal())
    main(["predict", str(trained_model_dir), str(tmp_path / "imgs")])
    bar = sys.stderr.getvalue()
    assert "4/4" in bar and "image/s" in bar and "scored 4 image(s)" in bar
    assert [p for p, _ in lines(capsys.readouterr().out)] == [str(p) for p in paths]
    monkeypatch.setattr(sys, "stderr", Terminal())
    main(["predict", str(trained_model_dir), str(tmp_path / "imgs"), "--no-progress"])
    assert "4/4" not in sys.stderr.getvalue()
