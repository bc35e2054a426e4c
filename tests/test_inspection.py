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


def test_status_newer_versions_and_a_copy_registered_over_a_pulled_one(remote, make_dataset, tmp_path):
    cfg = _pushed(remote, make_dataset)
    other = remote.config("b")
    etc.pull("ds", config=other)
    (etc.dataset("ds", config=other).path / "data" / "train" / "more.txt").write_bytes(b"more")
    assert etc.push("ds", config=other) == "ds@2"

    st = etc.status("ds", config=cfg)
    assert (st.version, st.latest, st.newer, st.remote_checked, st.clean) == (1, 2, [2], True, True)

    # register -f keeps the base version but no per-file record: compared with the base manifest
    src = make_dataset("ds", {"train/a.txt": b"alpha!\n", "test/b.txt": b"beta\n"}, root=tmp_path / "edited")
    etc.register(src, "ds", config=cfg, force=True)
    st = etc.status("ds", config=cfg)
    assert st.version == 1
    assert st.modified == [FileChange("data/train/a.txt", 6, 7)]
    assert st.added == [] and st.removed == []

    with pytest.raises(etc.DatasetError, match="without @1"):
        etc.status("ds@1", config=cfg)


def test_status_without_a_remote_still_reports_local_changes(tmp_path, make_dataset):
    cfg = etc.Config(home=str(tmp_path / "h"))
    etc.register(make_dataset("solo", {"t/a.txt": b"a"}), config=cfg)
    st = etc.status("solo", config=cfg)
    assert (st.version, st.remote_checked, st.latest) == (None, False, None)
    assert st.added == [FileChange("data/t/a.txt", None, 1)]
