"""Push and pull stream a dataset in bounded batches (issue 13): small batch and shard sizes here
make a few dozen files cross many batch and shard boundaries, so every merge of the scan, the
state's records and the shards of the versions it builds on is exercised at the edges."""

from __future__ import annotations

import os
import tracemalloc

import pytest

import etcetera as etc
import importlib

from etcetera import api, catalog
from etcetera.home import Home
from etcetera.push import push
from etcetera.remote import Remote
from etcetera.storage import open_storage

pull_module = importlib.import_module("etcetera.pull")  # the module (etcetera.pull is also a function)


def tree(root):
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = p.read_bytes() if p.is_file() else "dir"
        if p.is_file():
            out[rel + ":x"] = bool(p.stat().st_mode & 0o100)
    return out


def _push(cfg, name: str, shard_files: int):
    storage = open_storage(cfg)
    try:
        return push(Home(cfg.home_path), Remote(storage), name, workers=4, shard_files=shard_files, quiet=True)
    finally:
        storage.close()


def _shards(cfg, name: str, version: int) -> dict[str, list[str]]:
    storage = open_storage(cfg)
    try:
        root = catalog.read_version(Remote(storage).manifest_bytes(name, version), name)
        return {g.name: [s.id for s in g.shards] for g in root.groups}
    finally:
        storage.close()


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(pull_module, "BATCH", 5)


def test_batched_push_and_pull_round_trip_incrementally_and_partial_copies_carry_the_rest(
        file_remote, make_dataset, small_batches):
    files = {f"p{i}/d{j % 3}/f{j:02d}.bin": os.urandom(50 + j) for i in range(3) for j in range(23)}
    files["p1/d0/same.bin"] = files["p0/d0/f00.bin"]  # identical content in two partitions
    files["p2/empty.bin"] = b""
    src = make_dataset("st", files, meta={"k": 1}, extra={"README.md": b"hi\n", "docs/a/b.txt": b"b\n"})
    os.chmod(src / "data" / "p0" / "d1" / "f01.bin", 0o755)
    (src / "data" / "p1" / "hollow").mkdir()
    a = file_remote.config("a")
    etc.register(src, config=a)
    first = _push(a, "st", shard_files=4)  # batches of 8 files, shards of 4
    assert (first.version, first.files) == (1, len(files) + 3)
    assert all(len(ids) > 1 for g, ids in _shards(a, "st", 1).items() if g != ".")
    b = file_remote.config("b")
    assert tree(etc.pull("st", config=b).path) == tree(src)

    # An unchanged copy is up to date from its records alone; one changed file uploads one file.
    assert _push(a, "st", shard_files=4).up_to_date
    (a.home_path / "st" / "data" / "p1" / "d2" / "f05.bin").write_bytes(b"changed")
    second = _push(a, "st", shard_files=4)
    assert (second.version, second.uploaded_bytes) == (2, len(b"changed"))
    report = etc.pull_report("st", config=b)
    assert (report.downloaded_bytes, report.reused_files) == (len(b"changed"), len(files) + 2)
    assert tree(b.home_path / "st") == tree(a.home_path / "st")

    # A partial copy pushes its partition; the others travel on with their very shards.
    c = file_remote.config("c")
    etc.pull("st", config=c, partitions=["p1"])
    (c.home_path / "st" / "data" / "p1" / "d0" / "new.bin").write_bytes(b"new")
    assert _push(c, "st", shard_files=4).version == 3
    two, three = _shards(a, "st", 2), _shards(a, "st", 3)
    assert three["data/p0"] == two["data/p0"] and three["data/p2"] == two["data/p2"]
    assert three["data/p1"] != two["data/p1"]
    expected = tree(a.home_path / "st")
    expected["data/p1/d0/new.bin"], expected["data/p1/d0/new.bin:x"] = b"new", False
    assert tree(etc.pull("st", config=b).path) == expected


def test_a_file_changed_while_an_earlier_batch_uploads_fails_the_push(file_remote, make_dataset, monkeypatch):
    """A batch's upload is checked (no file changed since it was listed) while the next batch is
    described and uploaded: a change in the first batch still fails the push, and nothing is published."""
    push_module = importlib.import_module("etcetera.push")
    src = make_dataset("mv", {f"p/f{j:02d}.txt": b"%d" % j for j in range(20)})
    a = file_remote.config("a")
    etc.register(src, config=a)
    first = a.home_path / "mv" / "data" / "p" / "f00.txt"
    calls = []

    def upload(*args, **kwargs):
        sent = real_upload(*args, **kwargs)
        calls.append(len(args[1]))
        if len(calls) == 1:
            first.write_bytes(b"edited after its upload")  # a file of the first batch (of 3)
        return sent

    real_upload = push_module.upload
    monkeypatch.setattr(push_module, "upload", upload)
    with pytest.raises(etc.EtcError, match="f00.txt changed while it was being pushed"):
        _push(a, "mv", shard_files=3)
    assert calls  # the first batch was uploaded, and checked only after the second was submitted
    storage = open_storage(a)
    try:
        assert Remote(storage).latest("mv") is None
    finally:
        storage.close()


def test_local_edits_are_found_across_batches(file_remote, make_dataset, small_batches):
    src = make_dataset("ed", {f"p/f{j:02d}.txt": b"%d" % j for j in range(17)})
    a, b = file_remote.config("a"), file_remote.config("b")
    etc.register(src, config=a)
    _push(a, "ed", shard_files=3)
    etc.pull("ed", config=b)
    (b.home_path / "ed" / "data" / "p" / "f15.txt").unlink()  # near the end: after several batches
    (a.home_path / "ed" / "data" / "p" / "f01.txt").write_bytes(b"remote change")
    _push(a, "ed", shard_files=3)
    with pytest.raises(etc.DatasetError, match="deleted data/p/f15.txt"):
        etc.pull("ed", config=b)
    assert tree(etc.pull("ed", config=b, force=True).path) == tree(a.home_path / "ed")


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_of_push_and_pull_does_not_grow_with_the_file_count(file_remote, make_dataset, monkeypatch):
    """With batches of 100 files, 4,000 files take about the memory of 1,000 (it grew fourfold when
    every file's record was held).  (A scan holds one folder's names at a time: 50 files here.)"""
    monkeypatch.setattr(pull_module, "BATCH", 100)
    peaks = {}
    for n in (1000, 4000):
        name = f"m{n}"
        src = make_dataset(name, {f"p{j % 2}/{j // 100:03d}/f{j:05d}.bin": b"%08d" % j for j in range(n)})
        # two workers: at most 4 shards wait for their upload, so the bound is reached at once
        a = file_remote.config(f"a{n}", workers=2)
        etc.register(src, config=a)
        peaks[("push", n)] = _peak(lambda: _push(a, name, shard_files=50))
        # the fewer of two pulls: threads reading shards ahead make single peaks jitter
        pulls = []
        for k in range(2):
            b = file_remote.config(f"b{n}-{k}", workers=2)
            pulls.append(_peak(lambda: etc.pull(name, config=b)))
            assert len(list((b.home_path / name / "data").rglob("*.bin"))) == n
        peaks[("pull", n)] = min(pulls)
    for op in ("push", "pull"):
        assert peaks[(op, 4000)] < 2 * peaks[(op, 1000)], peaks


def test_memory_of_diff_status_verify_and_gc_does_not_grow_with_the_file_count(file_remote, make_dataset,
                                                                               monkeypatch):
    """diff, status, verify (local, remote, deep) and gc merge path-ordered streams a batch at a
    time (50 files here, shards of 50): 4,000 files take about the memory of 1,000.  (They loaded
    whole versions and scans before, which grew fourfold.)"""
    import etcetera.inspection as inspection

    monkeypatch.setattr(inspection, "BATCH", 50, raising=False)
    monkeypatch.setattr(inspection, "OBJECT_BATCH", 4)  # so both sizes fill a batch of objects, as at scale
    peaks: dict[tuple[str, int], int] = {}
    for n in (1000, 4000):
        name = f"i{n}"
        src = make_dataset(name, {f"p{j % 2}/{j // 100:03d}/f{j:05d}.bin": b"%08d" % j for j in range(n)})
        a = file_remote.config(f"a{n}", workers=2)
        etc.register(src, config=a)
        _push(a, name, shard_files=50)
        edited = a.home_path / name / "data" / "p0" / "000" / "f00000.bin"
        edited.write_bytes(b"changed!")  # one difference, so the outputs are not all empty
        runs = {
            "diff": lambda: etc.diff(name, config=a),
            "status": lambda: etc.status(name, config=a),
            "verify": lambda: etc.verify(name, config=a),
            "verify -r --deep": lambda: etc.verify(name, remote=True, deep=True, config=a),
            "gc": lambda: api.gc(config=a),
        }
        for op, fn in runs.items():
            peaks[(op, n)] = min(_peak(fn) for _ in range(3))  # the least of three: threads make peaks jitter
        assert [c.path for c in etc.diff(name, config=a).changed] == [f"data/p0/000/f00000.bin"]
        assert [p.issue for p in etc.verify(name, config=a).problems] == ["hash"]
    for op in runs:
        assert peaks[(op, 4000)] < 2 * peaks[(op, 1000)], (op, peaks)


def test_a_pull_reuses_a_local_file_moved_to_another_batch_or_partition(file_remote, make_dataset, small_batches):
    """A file moved far away (another batch of 5, another partition) in the new version is linked
    from the local copy, not downloaded: the local files' content ids are indexed on disk for the
    whole pull, not per batch."""
    files = {f"p{i}/f{j:02d}.bin": os.urandom(100 + j) for i in range(2) for j in range(20)}
    a, b = file_remote.config("a"), file_remote.config("b")
    etc.register(make_dataset("mv", files), config=a)
    etc.push("mv", config=a)
    etc.pull("mv", config=b)
    data = a.home_path / "mv" / "data"
    os.rename(data / "p0" / "f00.bin", data / "p1" / "z99.bin")  # first batch of p0 -> last batch of p1
    os.rename(data / "p1" / "f01.bin", data / "p1" / "f19x.bin")  # to a later batch of the same partition
    etc.push("mv", config=a)
    report = api.pull_report("mv", config=b)
    assert (report.files, report.reused_files, report.downloaded_bytes) == (40, 40, 0)
    assert tree(b.home_path / "mv") == tree(a.home_path / "mv")
