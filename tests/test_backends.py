"""The backend suite: every promise of the remote format, run against each backend in BACKENDS."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

import etcetera as etc
from etcetera import api
from etcetera.remote import Remote, object_key
from etcetera.storage import BytesSource, open_storage


def tree(root: Path) -> dict[str, bytes]:
    """Every file below root, as relative path -> bytes (the thing a round trip must preserve)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_round_trip_preserves_everything(remote, make_dataset):
    files = {
        "train/a.txt": b"alpha\n",
        "train/nested/deeper/b.bin": os.urandom(70_000),
        "train/empty.txt": b"",
        "test/ünïcödé 名前.txt": "héllo".encode(),
        "test/dup.txt": b"alpha\n",  # same content as train/a.txt: stored once
    }
    src = make_dataset("rt", files, meta={"source": "unit", "n": 5}, extra={"README.md": b"# rt\n", "docs/x.txt": b"x"})
    (src / "data" / "train" / "emptydir").mkdir()
    script = src / "data" / "train" / "run.sh"
    script.write_bytes(b"#!/bin/sh\n")
    script.chmod(0o755)
    a = remote.config("a")
    etc.register(src, config=a)
    assert etc.push("rt", config=a) == "rt@1"
    b = remote.config("b")
    ds = etc.pull("rt", config=b)
    assert ds.version == 1
    assert tree(ds.path) == tree(src)
    assert (ds.path / "data" / "train" / "emptydir").is_dir()
    assert os.stat(ds["train"] / "run.sh").st_mode & 0o100
    assert ds.meta == {"source": "unit", "n": 5}
    assert ds.keys() == ["test", "train"]
    assert etc.ls(remote=True, config=b) == ["rt"]


def test_large_file_is_chunked_and_verified(remote, make_dataset):
    big = os.urandom(50 * 1024 * 1024 + 123)
    src = make_dataset("big", {"train/big.bin": big})
    a = remote.config("a")
    etc.register(src, config=a)
    etc.push("big", config=a)
    manifest = Remote(open_storage(a)).manifest("big", 1)
    (entry,) = manifest.files
    assert len(entry.parts) == 4  # 16 MiB chunks
    pieces = [big[i:i + (16 << 20)] for i in range(0, len(big), 16 << 20)]
    assert [p.obj for p in entry.parts] == [hashlib.sha256(piece).hexdigest() for piece in pieces]
    listed = b"etcetera-chunks/1\n" + b"".join(hashlib.sha256(piece).hexdigest().encode() + b"\n" for piece in pieces)
    assert entry.sha256 == hashlib.sha256(listed).hexdigest()  # the chunk list's id, hashable in parallel
    ds = etc.pull("big", config=remote.config("b"))
    assert hashlib.sha256((ds["train"] / "big.bin").read_bytes()).hexdigest() == hashlib.sha256(big).hexdigest()


def test_versions_are_immutable_and_old_ones_pullable(remote, make_dataset):
    src = make_dataset("v", {"train/a.txt": b"one"})
    a = remote.config("a")
    etc.register(src, config=a)
    etc.push("v", config=a)
    (a.home_path / "v" / "data" / "train" / "a.txt").write_bytes(b"two")
    assert etc.push("v", config=a) == "v@2"
    assert etc.versions("v", config=a) == [2, 1]
    b = remote.config("b")
    assert (etc.pull("v@1", config=b)["train"] / "a.txt").read_bytes() == b"one"
    assert (etc.pull("v", config=b)["train"] / "a.txt").read_bytes() == b"two"
    assert etc.info("v@1", remote=True, config=b)["files"] == 1


def test_unchanged_repush_uploads_nothing_and_one_change_uploads_one_file(remote, make_dataset):
    files = {f"train/f{i:03}.bin": os.urandom(3000) for i in range(60)}
    src = make_dataset("re", files)
    a = remote.config("a")
    etc.register(src, config=a)
    first = api.push_report("re", config=a)
    assert first.uploaded_bytes >= 60 * 3000
    again = api.push_report("re", config=a)
    assert again.up_to_date and again.uploaded_bytes == 0 and again.version == 1
    (a.home_path / "re" / "data" / "train" / "f007.bin").write_bytes(b"changed!")
    third = api.push_report("re", config=a)
    assert third.version == 2 and third.uploaded_bytes == len(b"changed!")


def test_partial_pull_fetches_only_the_partition(remote, make_dataset):
    src = make_dataset("pp", {"train/a.txt": b"a" * 5000, "test/b.txt": b"b" * 7000}, meta={"k": 1})
    a = remote.config("a")
    etc.register(src, config=a)
    etc.push("pp", config=a)
    b = remote.config("b")
    report = api.pull_report("pp", config=b, partitions=["test"])
    assert report.dataset.keys() == ["test"]
    assert report.downloaded_bytes == 7000 + len(b'{"k": 1}')
    assert report.dataset.meta == {"k": 1}
    with pytest.raises(KeyError, match="no partition 'train'"):
        report.dataset["train"]
    # Pushing a partial copy keeps the partitions it did not pull.
    (b.home_path / "pp" / "data" / "test" / "c.txt").write_bytes(b"c")
    assert etc.push("pp", config=b) == "pp@2"
    full = etc.pull("pp", config=remote.config("c"))
    assert sorted(tree(full.path)) == ["data/test/b.txt", "data/test/c.txt", "data/train/a.txt", "meta.json"]
    with pytest.raises(etc.DatasetError, match="no partition nope"):
        etc.pull("pp", config=remote.config("d"), partitions=["nope"])


def test_pull_is_incremental_and_noop_when_current(remote, make_dataset):
    files = {f"train/f{i}.bin": os.urandom(4000) for i in range(20)}
    src = make_dataset("inc", files)
    a = remote.config("a")
    etc.register(src, config=a)
    etc.push("inc", config=a)
    b = remote.config("b")
    etc.pull("inc", config=b)
    assert api.pull_report("inc", config=b).up_to_date
    (a.home_path / "inc" / "data" / "train" / "f3.bin").write_bytes(b"new")
    etc.push("inc", config=a)
    report = api.pull_report("inc", config=b)
    assert report.downloaded_bytes == 3 and report.reused_files == 19
    assert (b.home_path / "inc" / "data" / "train" / "f3.bin").read_bytes() == b"new"


def test_push_refused_when_remote_moved_on_and_force_publishes(remote, make_dataset):
    src = make_dataset("nf", {"train/a.txt": b"base"})
    a, b = remote.config("a"), remote.config("b")
    etc.register(src, config=a)
    etc.push("nf", config=a)
    etc.pull("nf", config=b)
    (a.home_path / "nf" / "data" / "train" / "a.txt").write_bytes(b"from a")
    etc.push("nf", config=a)
    (b.home_path / "nf" / "data" / "train" / "a.txt").write_bytes(b"from b")
    with pytest.raises(etc.ConflictError, match="someone pushed meanwhile"):
        etc.push("nf", config=b)
    assert etc.push("nf", config=b, force=True) == "nf@3"
    # A dataset registered elsewhere under a taken name is refused too.
    other = make_dataset("nf", {"train/z.txt": b"z"}, root=remote.tmp / "other")
    c = remote.config("c")
    etc.register(other, config=c)
    with pytest.raises(etc.ConflictError, match="already has nf@3"):
        etc.push("nf", config=c)


def test_local_edits_are_never_silently_overwritten(remote, make_dataset):
    src = make_dataset("le", {"train/a.txt": b"v1"})
    a = remote.config("a")
    etc.register(src, config=a)
    etc.push("le", config=a)
    b = remote.config("b")
    etc.pull("le", config=b)
    (a.home_path / "le" / "data" / "train" / "a.txt").write_bytes(b"v2")
    etc.push("le", config=a)
    edited = b.home_path / "le" / "data" / "train" / "a.txt"
    edited.write_bytes(b"my work")
    with pytest.raises(etc.DatasetError, match="modified data/train/a.txt"):
        etc.pull("le", config=b)
    assert edited.read_bytes() == b"my work"
    etc.pull("le", config=b, force=True)
    assert edited.read_bytes() == b"v2"


def _corrupt_one_object(config, name: str, transform) -> str:
    storage = open_storage(config)
    manifest = Remote(storage).manifest(name, 1)
    entry = next(f for f in manifest.files if f.size)
    key = object_key(entry.parts[0].obj)
    storage.put(key, BytesSource(transform(storage.get(key))))
    return entry.path


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupted_object_is_detected_and_nothing_local_changes(remote, make_dataset, damage):
    src = make_dataset("cor", {"train/a.bin": os.urandom(10_000)})
    a = remote.config("a")
    etc.register(src, config=a)
    etc.push("cor", config=a)
    if damage == "flip":
        path = _corrupt_one_object(a, "cor", lambda raw: bytes([raw[0] ^ 0xFF]) + raw[1:])
        expected = etc.IntegrityError
    else:
        path = _corrupt_one_object(a, "cor", lambda raw: raw[: len(raw) // 2])
        expected = etc.RemoteError
    b = remote.config("b")
    with pytest.raises(expected, match=path):
        etc.pull("cor", config=b)
    assert not (b.home_path / "cor").exists()
    assert not any((b.home_path / ".etc" / "tmp").iterdir())


def test_failed_pull_keeps_the_previous_complete_copy(remote, make_dataset):
    src = make_dataset("keep", {"train/a.bin": b"first version"})
    a, b = remote.config("a"), remote.config("b")
    etc.register(src, config=a)
    etc.push("keep", config=a)
    etc.pull("keep", config=b)
    (a.home_path / "keep" / "data" / "train" / "a.bin").write_bytes(os.urandom(5000))
    etc.push("keep", config=a)
    storage = open_storage(a)
    manifest = Remote(storage).manifest("keep", 2)
    storage.delete(object_key(manifest.files[0].parts[0].obj))
    with pytest.raises(etc.NotFoundError, match="missing"):
        etc.pull("keep", config=b)
    assert (b.home_path / "keep" / "data" / "train" / "a.bin").read_bytes() == b"first version"
    assert etc.dataset("keep", config=b).version == 1


def test_concurrent_pushes_of_one_name_never_lose_a_manifest(remote, make_dataset):
    configs = [remote.config(f"h{i}") for i in range(4)]
    for i, cfg in enumerate(configs):
        etc.register(make_dataset("race", {"train/a.txt": f"writer {i}".encode()}, root=remote.tmp / f"s{i}"), config=cfg)
    results: list[object] = [None] * len(configs)

    def go(i: int) -> None:
        try:
            results[i] = etc.push("race", config=configs[i])
        except etc.EtcError as exc:
            results[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(configs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if isinstance(r, etc.ConflictError)]
    assert len(winners) + len(losers) == len(configs), results
    assert etc.versions("race", config=configs[0]) == sorted((int(w.split("@")[1]) for w in winners), reverse=True)
    assert winners, results
    # Every published version is complete and pullable.
    for w in winners:
        ds = etc.pull(w, config=remote.config("reader"), force=True)
        assert (ds["train"] / "a.txt").read_bytes().startswith(b"writer ")


def test_missing_dataset_and_version_errors_name_the_remote(remote):
    cfg = remote.config()
    with pytest.raises(etc.NotFoundError, match="not on"):
        etc.pull("ghost", config=cfg)
    with pytest.raises(etc.EtcError):
        etc.pull("ghost@3", config=cfg)
    assert etc.versions("ghost", config=cfg) == []
    assert etc.ls(remote=True, config=cfg) == []


def test_gc_deletes_only_old_orphans(remote, make_dataset):
    src = make_dataset("g", {"train/a.bin": os.urandom(4000)})
    a = remote.config("a")
    etc.register(src, config=a)
    etc.push("g", config=a)
    storage = open_storage(a)
    storage.put(object_key("f" * 64), BytesSource(b"orphan from an interrupted push"))
    assert api.gc(config=a).deleted == 0  # too recent: might belong to a push in progress
    dry = api.gc(config=a, grace_hours=0, dry_run=True)
    assert dry.deleted == 1 and storage.exists(object_key("f" * 64))
    report = api.gc(config=a, grace_hours=0)
    assert report.deleted == 1 and report.referenced == 2  # the pack and the metadata shard listing it
    assert not storage.exists(object_key("f" * 64))
    ds = etc.pull("g", config=remote.config("b"))
    assert (ds["train"] / "a.bin").read_bytes() == (src / "data" / "train" / "a.bin").read_bytes()


def test_mode_and_empty_dir_changes_are_new_versions(remote, make_dataset):
    src = make_dataset("md", {"train/run.sh": b"#!/bin/sh\n"})
    a = remote.config("a")
    etc.register(src, config=a)
    assert etc.push("md", config=a) == "md@1"
    assert api.push_report("md", config=a).up_to_date
    (a.home_path / "md" / "data" / "train" / "run.sh").chmod(0o755)
    assert etc.push("md", config=a) == "md@2"
    (a.home_path / "md" / "data" / "train" / "empty").mkdir()
    assert etc.push("md", config=a) == "md@3"
    assert api.push_report("md", config=a).up_to_date
    ds = etc.pull("md", config=remote.config("b"))
    assert (ds["train"] / "empty").is_dir() and os.stat(ds["train"] / "run.sh").st_mode & 0o100


def test_touch_renews_the_age_and_keeps_the_bytes(remote):
    storage = open_storage(remote.config("a"))
    key = object_key("e" * 64)
    storage.put(key, BytesSource(b"kept as it is"))

    def mtime() -> float:
        return next(i.mtime for i in storage.list(key) if i.key == key)

    before = mtime()
    time.sleep(1.1)  # S3 reports whole seconds
    assert storage.touch(key) is True
    assert storage.get(key) == b"kept as it is"
    assert storage.touch(object_key("d" * 64)) is False
    if remote.kind == "gs":
        # Real GCS renews `updated` on any metadata change (a custom-metadata patch included);
        # fake-gcs-server keeps it (and the metageneration), so check the patch itself landed.
        assert "etcetera-touched" in (storage.bucket.get_blob(storage._key(key)).metadata or {})
        return
    assert mtime() >= before + 1


def test_a_pulled_chunked_file_pushed_to_another_remote_stays_whole(file_remote, make_dataset, tmp_path):
    # The home knows the file from a pull (no hashing), but the new remote has none of its chunks.
    big = os.urandom(17 * 1024 * 1024 + 5)
    etc.register(make_dataset("moved", {"train/big.bin": big}), config=file_remote.config("a"))
    etc.push("moved", config=file_remote.config("a"))
    etc.pull("moved", config=file_remote.config("b"))
    elsewhere = f"file://{tmp_path / 'second-remote'}"
    assert etc.push("moved", config=etc.Config(elsewhere, home=str(tmp_path / "b")), force=True) == "moved@1"
    ds = etc.pull("moved", config=etc.Config(elsewhere, home=str(tmp_path / "c")))
    assert (ds["train"] / "big.bin").read_bytes() == big


def test_stray_keys_under_datasets_are_ignored_not_fatal(remote, make_dataset, caplog):
    """A key that is no version's manifest (a non-ASCII digit name, a sub-folder, version 0)
    must not break listing, push or pull on a shared remote; -v names what was ignored."""
    import logging

    cfg = remote.config("a")
    etc.register(make_dataset("sd"), config=cfg)
    assert etc.push("sd", config=cfg) == "sd@1"
    storage = open_storage(cfg)
    stray = ["datasets/sd/\u00b2\u00b3.json.gz", "datasets/sd/\u0661.json.gz", "datasets/sd/0000000000.json.gz",
             "datasets/sd/notes.txt", "datasets/sd/x/0000000002.json.gz", "datasets/\u00b2/0000000001.json.gz"]
    for key in stray:
        storage.put(key, BytesSource(b"not a manifest"))
    with caplog.at_level(logging.DEBUG, logger="etcetera"):
        assert etc.versions("sd", config=cfg) == [1]
        assert etc.ls(remote=True, config=cfg) == ["sd"]
    assert any("\u00b2\u00b3.json.gz" in r.getMessage() and "ignoring" in r.getMessage() for r in caplog.records)
    (cfg.home_path / "sd" / "data" / "train" / "new.txt").write_text("n")
    assert etc.push("sd", config=cfg) == "sd@2"
    assert etc.pull("sd", config=remote.config("b")).version == 2
