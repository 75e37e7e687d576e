"""The run.json manifest every run folder carries."""

import json

import pytest

from hyperkit.runs import read_manifest, write_manifest


def test_write_then_read(tmp_path):
    p = write_manifest(tmp_path, "synthetic", ["seed0/model", "seed1/model"])
    assert p == tmp_path / "run.json"
    info = read_manifest(tmp_path)
    assert info == {"format": "hyperkit-run", "version": 1, "task": "synthetic",
                    "models": ["seed0/model", "seed1/model"]}
    assert json.loads(p.read_text()) == info
    write_manifest(tmp_path, "other", [])  # rewritten in place
    assert read_manifest(tmp_path)["models"] == []
    assert not [q for q in tmp_path.iterdir() if q.name.startswith(".")]


def test_missing_manifest_is_none(tmp_path):
    assert read_manifest(tmp_path) is None
    assert read_manifest(tmp_path / "nope") is None


@pytest.mark.parametrize("text, words", [
    ("{not json", "is corrupt"),
    (b"\xff\xfe\x00\x01", "is corrupt"),
    ('{"models": ["a"]}', "not a hyperkit run manifest"),
    ('{"format": "hyperkit-run", "models": "a"}', "not a hyperkit run manifest"),
    ('["hyperkit-run"]', "not a hyperkit run manifest"),
])
def test_bad_manifest(tmp_path, text, words):
    p = tmp_path / "run.json"
    p.write_bytes(text) if isinstance(text, bytes) else p.write_text(text)
    with pytest.raises(ValueError, match=words):
        read_manifest(tmp_path)
