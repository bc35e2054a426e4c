"""The pieces under the API: state records read from files any version wrote, the storage
interface's top-level listing, and the one set of name and path rules."""

from __future__ import annotations

import hashlib
import json

import pytest

import etcetera as etc
from etcetera.home import FileRecord, Home, Pending, State
from etcetera.names import check_rel_path, escapes
from etcetera.remote import Remote, manifest_key
from etcetera.storage import BytesSource, Storage, open_storage


def test_state_files_of_earlier_versions_still_work(file_remote, make_dataset):
    cfg = file_remote.config()
    etc.register(make_dataset("old"), config=cfg)
    assert etc.push("old", config=cfg) == "old@1"
    home = Home(cfg.home_path)
    path = home.meta / "state" / "old.json"
    head = json.loads(path.read_text())
    # On disk: a small head naming a folder of per-group, path-sorted records.
    assert "files" not in head and (home.meta / "state" / "old.d" / head["records"] / "data.train.tsv").is_file()
    pushed_as_1 = {**head, "files": {rel: list(rec) for rel, rec in home.load_state("old").files.items()}}
    del pushed_as_1["records"]

    (home.path("old") / "data" / "train" / "a.txt").write_bytes(b"changed\n")
    assert etc.push("old", config=cfg) == "old@2"
    raw = b"".join(open_storage(cfg).read(manifest_key("old", 2)))
    # A state file as an earlier release left it when killed right after publishing @2: every
    # record in the one JSON file, still at @1, the publish pending as a [version, sha256, remote]
    # list, and one record from before modes were remembered (five fields).
    rel, record = next(iter(pushed_as_1["files"].items()))
    old = {**pushed_as_1, "pending": [2, hashlib.sha256(raw).hexdigest(), file_remote.url],
           "files": {**pushed_as_1["files"], rel: record[:5]}}
    path.write_text(json.dumps(old))

    state = home.load_state("old")
    assert state.version == 1
    assert state.pending == Pending(2, hashlib.sha256(raw).hexdigest(), file_remote.url)
    assert state.files[rel] == FileRecord(*record[:5]) and state.files[rel].executable is None
    other = next(r for r in state.files if r != rel)
    assert state.files[other].sha256 == pushed_as_1["files"][other][3]

    report = etc.push_report("old", config=cfg)
    assert (report.version, report.up_to_date, report.uploaded_bytes) == (2, True, 0)
    again = home.load_state("old")
    assert (again.version, again.pending) == (2, None)
    assert "files" not in json.loads(path.read_text())  # rewritten in the current layout
    assert sorted(again.files) == sorted(pushed_as_1["files"])
    # and the next push of the unchanged copy takes the fast path from the recorded stats
    assert etc.push_report("old", config=cfg).up_to_date


def test_state_records_round_trip_by_group_in_path_order(tmp_path):
    home = Home(tmp_path)
    records = {"meta.json": FileRecord(3, 1, 2, "a" * 64, None, False),
               "data/train/b/x.bin": FileRecord(5, 1, 3, "b" * 64, ["c" * 64, "d" * 64], True),
               "data/train/a.txt": FileRecord(0, 1, 4, "e" * 64, None, None),
               "data/test/z": FileRecord(1, 2, 5, "f" * 64, None, False)}
    state = State(version=3, remote="file:///r", partitions=["train", "test"], dirs=["data/test/empty"])
    state.files = dict(records)
    home.save_state("ds", state)
    loaded = home.load_state("ds")
    assert (loaded.version, loaded.remote, loaded.partitions, loaded.dirs) == (3, "file:///r", ["train", "test"],
                                                                                ["data/test/empty"])
    assert loaded.groups() == [".", "data/test", "data/train"]
    assert list(loaded.records("data/train")) == [("data/train/a.txt", records["data/train/a.txt"]),
                                                  ("data/train/b/x.bin", records["data/train/b/x.bin"])]
    assert list(loaded.records("data/nope")) == []
    assert loaded.files == records
    # Saving again with new records drops the folder of the old ones.
    folder = loaded.records_dir
    loaded.files = {"meta.json": records["meta.json"]}
    home.save_state("ds", loaded)
    assert not folder.exists() and home.load_state("ds").files == {"meta.json": records["meta.json"]}
    home.drop_state("ds")
    assert home.load_state("ds") is None and not (home.meta / "state" / "ds.d").exists()


def test_list_top_level_is_part_of_every_storage(remote):
    storage = open_storage(remote.config())
    try:
        for key in ("a.tgz", "b.txt", "datasets/x/0000000001.json.gz", "objects/ab"):
            storage.put(key, BytesSource(b"x"))
        expected = ["a.tgz", "b.txt"]
        assert sorted(i.key for i in storage.list_top_level()) == expected
        # The interface's default (a filtered full listing) agrees with each backend's own.
        assert sorted(i.key for i in Storage.list_top_level(storage)) == expected
    finally:
        storage.close()


def test_list_top_level_of_a_missing_file_remote_is_empty(tmp_path):
    storage = open_storage(etc.Config(f"file://{tmp_path / 'nothing'}"))
    assert list(storage.list_top_level()) == []
    assert Remote(storage).names() == {}


@pytest.mark.parametrize("path", ["", "/a", "a/", "a//b", ".", "..", "a/./b", "a/../b", "../a", "a/.."])
def test_escaping_paths_are_refused_by_manifests_and_file_remotes(path, file_remote):
    assert escapes(path)
    with pytest.raises(ValueError):
        check_rel_path(path)
    with pytest.raises(etc.RemoteError, match="unsafe object key"):
        open_storage(file_remote.config()).exists(path)


@pytest.mark.parametrize("path", ["a", "a/b", "...", "a/.b", "data/train/x..y"])
def test_ordinary_paths_pass(path):
    assert not escapes(path)
    assert check_rel_path(path) == path


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002, 0o000])
def test_pulled_files_have_exact_modes_and_true_records_whatever_the_umask(file_remote, make_dataset, umask):
    """Files are 0o644 or 0o755 whatever the umask (most get their mode from the worker that wrote
    them), and every record holds the file's real stat: the next pull and push trust it."""
    import os
    import stat

    from etcetera.dataset import scan_files
    from etcetera.home import same_stat
    from etcetera.packing import CHUNK

    same = os.urandom(3000)
    src = make_dataset("modes", {"train/plain.bin": os.urandom(5000), "train/run.sh": b"#!/bin/sh\n",
                                 "train/empty": b"", "train/x_empty": b"", "test/same": same, "test/x_same": same,
                                 "test/x_big.bin": os.urandom(CHUNK + 10)})
    for rel in ("train/run.sh", "train/x_empty", "test/x_same", "test/x_big.bin"):
        os.chmod(src / "data" / rel, 0o755)
    a = file_remote.config("a")
    etc.register(src, config=a)
    etc.push("modes", config=a)
    b = file_remote.config("b")
    old = os.umask(umask)
    try:
        ds = etc.pull("modes", config=b)
    finally:
        os.umask(old)
    files, _ = scan_files(ds.path)
    assert len(files) == 7
    state = Home(b.home_path).load_state("modes")
    for f in files:
        mode = stat.S_IMODE(os.stat(ds.path / f.rel).st_mode)
        assert mode == (0o755 if "run.sh" in f.rel or "/x_" in f.rel else 0o644), (f.rel, oct(mode))
        assert same_stat(state.files[f.rel], f), f.rel
    assert etc.pull_report("modes", config=b).up_to_date
    assert etc.verify("modes", config=b).ok


def test_pull_writes_packed_files_across_blocks_and_gaps(file_remote, make_dataset):
    """Small files read whole from one block and written one worker at a time, files cut by a
    block boundary, files above the small-segment size, and stretches of a pack skipped because
    the local copy still has those files: every byte, mode and record right."""
    import os

    from etcetera.dataset import scan_files
    from etcetera.home import same_stat
    from etcetera.transfer import SMALL_SEGMENT

    files = {f"train/s{i:03d}.bin": os.urandom(3000 + i) for i in range(600)}
    files.update({f"train/m{i}.bin": os.urandom(SMALL_SEGMENT + 1000 * i) for i in range(3)})
    src = make_dataset("packed", files)
    os.chmod(src / "data" / "train" / "s007.bin", 0o755)
    a = file_remote.config("a")
    etc.register(src, config=a)
    etc.push("packed", config=a)
    b = file_remote.config("b")

    def check(ds):
        got, _ = scan_files(ds.path)
        assert {f.rel: (ds.path / f.rel).read_bytes() for f in got} == {f"data/{k}": v for k, v in files.items()}
        assert os.stat(ds.path / "data" / "train" / "s007.bin").st_mode & 0o777 == 0o755
        state = Home(b.home_path).load_state("packed")
        assert all(same_stat(state.files[f.rel], f) for f in got)

    ds = etc.pull("packed", config=b)
    check(ds)
    for rel in [*list(files)[::3], "train/m1.bin"]:  # fetched again, around the files still here
        (ds.path / "data" / rel).unlink()
    report = etc.pull_report("packed", config=b, force=True)
    assert report.reused_files == 603 - 201 - 1 and report.downloaded_bytes > 0
    check(report.dataset)
    assert etc.pull_report("packed", config=b).up_to_date
