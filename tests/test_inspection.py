"""etc.diff, etc.status and etc.verify through the Python API, on every backend where it matters."""

from __future__ import annotations

import pytest

import etcetera as etc
from etcetera import FileChange


def _pushed(remote, make_dataset, files=None):
    cfg = remote.config("a")
    src = make_dataset("ds", files or {"train/a.txt": b"alpha\n", "test/b.txt": b"beta\n"})
    etc.register(src, config=cfg)
    etc.push("ds", config=cfg)
    return cfg


def test_diff_reads_manifests_and_respects_a_partial_copy(remote, make_dataset):
    cfg = _pushed(remote, make_dataset)
    local = etc.dataset("ds", config=cfg).path
    (local / "data" / "train" / "a.txt").write_bytes(b"ALPHA\n")  # same size, other content
    (local / "data" / "train" / "new.txt").write_bytes(b"n")
    assert etc.push("ds", config=cfg) == "ds@2"
    d = etc.diff("ds@1", "ds@2", config=cfg)
    assert (d.old_version, d.new_version) == (1, 2)
    assert d.added == [FileChange("data/train/new.txt", None, 1)]
    assert d.changed == [FileChange("data/train/a.txt", 6, 6)]
    assert d.removed == [] and d.unchanged == 1
    assert etc.diff("ds@2", "ds@2", config=cfg).same

    # A copy with only 'train' pulled: the partitions it lacks are not "removed".
    other = remote.config("b")
    etc.pull("ds@1", config=other, partitions=["train"])
    d = etc.diff("ds", config=other)
    assert (d.old_version, d.new_version) == (1, None)
    assert d.same and d.unchanged == 2
    d = etc.diff("ds@2", config=other)
    assert d.removed == [FileChange("data/train/new.txt", 1, None)]
    assert d.changed == [FileChange("data/train/a.txt", 6, 6)]


def test_diff_bad_input_is_one_line(file_remote, make_dataset):
    cfg = _pushed(file_remote, make_dataset)
    with pytest.raises(etc.DatasetError, match="cannot diff ds with other"):
        etc.diff("ds@1", "other@1", config=cfg)
    with pytest.raises(etc.NotFoundError, match="ds@7 does not exist"):
        etc.diff("ds@7", config=cfg)
    etc.create("fresh", config=cfg)
    with pytest.raises(etc.DatasetError, match="never pushed or pulled"):
        etc.diff("fresh", config=cfg)
