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


def test_verify_remote_notices_deleted_truncated_and_corrupt_objects(remote, make_dataset):
    import os

    from etcetera.remote import Remote, object_key
    from etcetera.storage import BytesSource, open_storage

    big = os.urandom(17 * 1024 * 1024)  # chunked: two chunk objects
    cfg = _pushed(remote, make_dataset, {"train/a.txt": b"alpha\n", "test/b.txt": b"beta\n", "big/x.bin": big})
    v = etc.verify("ds", remote=True, deep=True, config=cfg)
    assert v.ok and v.version == 1 and v.checked == 4 and v.bytes == len(big) + 11

    r = Remote(open_storage(cfg))
    m = r.manifest("ds", 1)
    chunk = m.files[0].parts[0].obj  # data/big/x.bin sorts first
    pack = next(fe.parts[0].obj for fe in m.files if fe.path == "data/train/a.txt")
    small = next(fe.parts[0].obj for fe in m.files if fe.path == "data/test/b.txt")
    r.storage.put(object_key(pack), BytesSource(b"alph"))  # truncated
    r.storage.delete(object_key(small))
    flipped = bytearray(r.storage.get(object_key(chunk)))
    flipped[100] ^= 1
    r.storage.put(object_key(chunk), BytesSource(bytes(flipped)))  # same size, other bytes

    v = etc.verify("ds@1", remote=True, config=cfg)
    assert not v.ok
    assert {(p.path, p.issue) for p in v.problems} == {(object_key(pack), "size"), (object_key(small), "missing")}
    deep = etc.verify("ds@1", remote=True, deep=True, config=cfg)
    assert {(p.path, p.issue) for p in deep.problems} == {
        (object_key(pack), "size"), (object_key(small), "missing"), (object_key(chunk), "hash")}
    assert "a chunk of data/big/x.bin" in next(p.detail for p in deep.problems if p.issue == "hash")


def test_verify_deep_notices_a_packed_file_with_other_bytes(file_remote, make_dataset):
    from etcetera.remote import Remote, object_key
    from etcetera.storage import BytesSource, open_storage

    cfg = _pushed(file_remote, make_dataset, {"train/a.txt": b"alpha\n", "train/b.txt": b"beta\n"})
    r = Remote(open_storage(cfg))
    obj = r.manifest("ds", 1).files[0].parts[0].obj
    data = r.storage.get(object_key(obj))
    r.storage.put(object_key(obj), BytesSource(data.replace(b"beta", b"BETA")))
    assert etc.verify("ds", remote=True, config=cfg).ok  # sizes are right
    problems = etc.verify("ds", remote=True, deep=True, config=cfg).problems
    assert [(p.issue, "data/train/b.txt" in p.detail) for p in problems] == [("hash", True)]


def test_verify_local_partial_copy_and_bad_input(file_remote, make_dataset):
    cfg = _pushed(file_remote, make_dataset)
    other = file_remote.config("b")
    etc.pull("ds", config=other, partitions=["train"])
    v = etc.verify("ds", config=other)
    assert v.ok and v.checked == 1  # the test partition was not pulled: not missing
    with pytest.raises(etc.NotFoundError, match="ds@4 does not exist"):
        etc.verify("ds@4", config=cfg)
    with pytest.raises(etc.NotFoundError, match="ghost is not on"):
        etc.verify("ghost", remote=True, config=cfg)
    with pytest.raises(etc.DatasetError, match="ghost is not in"):
        etc.verify("ghost", config=cfg)


def test_a_copy_from_another_remote_is_not_compared_with_this_ones_versions(file_remote, make_dataset, tmp_path):
    cfg = _pushed(file_remote, make_dataset)
    elsewhere = etc.Config(f"file://{tmp_path / 'other-remote'}", home=cfg.home)
    src = make_dataset("ds", {"train/z.txt": b"other content\n"}, root=tmp_path / "o")
    etc.register(src, config=etc.Config(elsewhere.url, home=str(tmp_path / "oh")))
    etc.push("ds", config=etc.Config(elsewhere.url, home=str(tmp_path / "oh")))  # ds@1 there, another dataset
    with pytest.raises(etc.DatasetError, match="is based on ds@1 of file://.*, not of file://.*other-remote"):
        etc.diff("ds", config=elsewhere)
    with pytest.raises(etc.DatasetError, match="is based on ds@1 of"):
        etc.verify("ds", config=elsewhere)
    st = etc.status("ds", config=elsewhere)
    assert (st.version, st.latest, st.newer) == (1, 1, [])  # its @1 is not this copy's @1
    assert not etc.verify("ds@1", config=elsewhere).ok  # asked explicitly: compared, and different


def test_an_object_gone_while_verify_deep_reads_it_is_reported_missing(file_remote, make_dataset):
    from etcetera.inspection import _check_object
    from etcetera.remote import Remote, object_key
    from etcetera.storage import open_storage

    cfg = _pushed(file_remote, make_dataset)
    r = Remote(open_storage(cfg))
    obj = r.manifest("ds", 1).files[0].parts[0].obj
    r.storage.delete(object_key(obj))
    problems, read = _check_object(r, obj, [(0, 5, "0" * 64, "data/test/b.txt")], False, None)
    assert [(p.path, p.issue) for p in problems] == [(object_key(obj), "missing")] and read == 0


def test_diff_of_a_partial_copy_predicts_what_push_publishes(file_remote, make_dataset):
    import shutil

    _pushed(file_remote, make_dataset)
    other = file_remote.config("b")
    path = etc.pull("ds", config=other, partitions=["train"]).path
    shutil.rmtree(path / "data" / "train")  # a push carries partitions missing locally over from the base
    (path / "data" / "extra").mkdir()
    (path / "data" / "extra" / "x.txt").write_bytes(b"xx")
    predicted = etc.diff("ds", config=other)
    assert predicted.added == [FileChange("data/extra/x.txt", None, 2)]
    assert predicted.removed == [] and predicted.changed == [] and predicted.unchanged == 2
    assert etc.push("ds", config=other) == "ds@2"
    published = etc.diff("ds@1", "ds@2", config=other)
    assert (published.added, published.removed, published.changed) == (predicted.added, [], [])
