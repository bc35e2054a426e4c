"""Reading without pulling: the etc:// fsspec filesystem and etc.open on every backend, verified
reads (damaged, truncated objects are refused, never returned), the ranges each read costs, the
block cache, pickling for workers, and a real Dask cluster reading from the moto S3 server."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import random
import subprocess
import sys
import threading
from typing import Iterator

import fsspec
import pandas as pd
import pytest

import etcetera as etc
from etcetera.fs import SPLIT, EtcFileSystem, ReadOnlyError
from etcetera.manifest import Manifest
from etcetera.packing import CHUNK
from etcetera.remote import Remote, manifest_key, object_key
from etcetera.storage import BytesSource, Storage, open_storage

CSV_A = b"x,y,label\n1,2.5,a\n3,4.5,b\n"
CSV_B = b"x,y,label\n5,6.5,c\n7,8.5,d\n9,1.5,e\n"
FILES = {
    "train/a.csv": CSV_A,
    "train/b.csv": CSV_B,
    "train/sub/deep.txt": b"deep\n",
    "test/c.csv": b"x,y,label\n0,0.5,z\n",
}
EXTRA = {"README.md": b"# birds\n", "docs/notes.txt": b"notes\n"}


@pytest.fixture
def birds(remote, make_dataset) -> etc.Config:
    """birds@1 published on the remote; returns a reader's Config (its own, empty home)."""
    src = make_dataset("birds", FILES, meta={"kind": "birds"}, extra=EXTRA)
    (src / "data" / "empty").mkdir()
    writer = remote.config("writer")
    etc.register(src, config=writer)
    assert etc.push("birds", config=writer) == "birds@1"
    return remote.config("reader")


def _big(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def _home_files(cfg: etc.Config) -> list[str]:
    home = cfg.home_path
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()) if home.exists() else []


# ---------------------------------------------------------------- round trips on every backend


def test_fsspec_open_pandas_and_etc_open_read_a_published_version(birds):
    cfg = birds
    with fsspec.open("etc://birds@1/data/train/a.csv", config=cfg) as f:
        assert f.read() == CSV_A
    with fsspec.open("etc://birds/data/train/b.csv", "rt", config=cfg) as f:  # latest, text mode
        assert f.read() == CSV_B.decode()
    df = pd.read_csv("etc://birds/data/train/a.csv", storage_options={"config": cfg})
    pd.testing.assert_frame_equal(df, pd.read_csv(io.BytesIO(CSV_A)))
    with etc.open("birds@1", "data/train/sub/deep.txt", config=cfg) as f:
        assert f.read() == b"deep\n"
    with etc.open("birds", "README.md", "r", config=cfg) as f:
        assert f.read() == "# birds\n"
    assert _home_files(cfg) == []  # streaming reads leave no copy (and no cache: it is off)


def test_listing_info_find_glob_exists_and_ranges(birds):
    fs = fsspec.filesystem("etc", config=birds)
    assert fs.ls("etc://", detail=False) == ["birds"]
    assert fs.ls("etc://birds", detail=False) == ["birds/README.md", "birds/data", "birds/docs", "birds/meta.json"]
    assert fs.ls("birds@1/data", detail=False) == ["birds@1/data/empty", "birds@1/data/test", "birds@1/data/train"]
    listing = {i["name"]: i for i in fs.ls("etc://birds/data/train")}
    assert sorted(listing) == ["birds/data/train/a.csv", "birds/data/train/b.csv", "birds/data/train/sub"]
    assert listing["birds/data/train/a.csv"]["size"] == len(CSV_A)
    assert listing["birds/data/train/sub"]["type"] == "directory"
    assert fs.ls("birds/data/empty") == []

    info = fs.info("etc://birds@1/data/train/b.csv")
    assert (info["type"], info["size"]) == ("file", len(CSV_B))
    assert fs.info("birds/docs")["type"] == "directory"
    assert fs.info("birds")["version"] == 1
    assert fs.ukey("birds/data/train/a.csv") == fs.ukey("birds@1/data/train/a.csv")

    assert fs.find("etc://birds/data") == ["birds/data/test/c.csv", "birds/data/train/a.csv",
                                           "birds/data/train/b.csv", "birds/data/train/sub/deep.txt"]
    assert fs.find("birds", maxdepth=1) == ["birds/README.md", "birds/meta.json"]
    assert "birds/data/empty" in fs.find("birds/data", withdirs=True)
    assert fs.glob("etc://birds/data/*/*.csv") == ["birds/data/test/c.csv", "birds/data/train/a.csv",
                                                  "birds/data/train/b.csv"]
    assert fs.glob("etc://birds@1/data/train/**/*.txt") == ["birds@1/data/train/sub/deep.txt"]
    assert fs.glob("etc://bir*") == ["birds"]

    assert fs.exists("birds/data/train/a.csv") and fs.exists("birds/data/empty") and fs.exists("birds@1")
    assert not fs.exists("birds/data/train/nope.csv") and not fs.exists("birds@2") and not fs.exists("crows")
    assert fs.isdir("birds/data/train/sub") and fs.isfile("birds/README.md")

    assert fs.cat_file("birds/data/train/a.csv", 2, 9) == CSV_A[2:9]
    assert fs.cat_file("birds/data/train/a.csv", -5) == CSV_A[-5:]
    assert fs.cat_file("birds/data/train/a.csv", start=10) == CSV_A[10:]
    assert fs.cat("birds/docs/notes.txt") == b"notes\n"
    with fs.open("birds/data/train/b.csv") as f:
        f.seek(10)
        assert f.read(6) == CSV_B[10:16]
        f.seek(-4, 2)
        assert f.read() == CSV_B[-4:]


def test_missing_names_versions_and_paths_are_file_not_found(birds):
    fs = fsspec.filesystem("etc", config=birds)
    for path in ("crows/data/x.csv", "birds@7/data/train/a.csv", "birds/data/train/nope.csv", "birds/data/nope"):
        with pytest.raises(FileNotFoundError) as caught:
            fs.info(path)
        assert isinstance(caught.value, etc.NotFoundError)
        with pytest.raises(FileNotFoundError):
            fs.open(path)
    with pytest.raises(IsADirectoryError):
        fs.open("birds/data/train")
    assert fs.find("crows") == []


def test_configuration_from_keys_or_the_config_file(birds, remote, monkeypatch):
    keys = {"url": remote.url, **remote.options, "home": str(birds.home_path)}
    with fsspec.open("etc://birds/data/test/c.csv", **keys) as f:
        assert f.read() == FILES["test/c.csv"]
    monkeypatch.setenv("ETC_CONFIG", str(remote.toml("reader")))
    with fsspec.open("etc://birds/data/test/c.csv") as f:
        assert f.read() == FILES["test/c.csv"]
    with pytest.raises(etc.ConfigError, match="unknown etc:// storage option 'colour'"):
        fsspec.filesystem("etc", config=birds, colour="red")


def test_the_filesystem_is_read_only_and_says_to_push(birds):
    fs = fsspec.filesystem("etc", config=birds)
    for attempt in (lambda: fs.open("birds/data/train/new.csv", "wb"),
                    lambda: fs.pipe_file("birds/data/train/a.csv", b"x"),
                    lambda: fs.rm("birds/data/train/a.csv"),
                    lambda: fs.mkdir("birds/data/more"),
                    lambda: fsspec.open("etc://birds/data/x.csv", "w", config=birds).open(),
                    lambda: etc.open("birds", "data/train/a.csv", "wb", config=birds)):
        with pytest.raises(etc.EtcError, match="etc push"):
            attempt()
    with pytest.raises(PermissionError):
        fs.open("birds/x", "ab")


def test_the_etc_protocol_is_registered_on_install():
    code = "import fsspec; c = fsspec.get_filesystem_class('etc'); print(c.__module__, c.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["etcetera.fs", "EtcFileSystem"]


# ---------------------------------------------------------------- verification


def _damage(cfg: etc.Config, obj: str, change) -> None:
    storage = open_storage(cfg)
    try:
        storage.put(object_key(obj), BytesSource(change(storage.get(object_key(obj)))))
    finally:
        storage.close()


def _entry(cfg: etc.Config, path: str):
    storage = open_storage(cfg)
    try:
        return Remote(storage).entry("birds", 1, path)
    finally:
        storage.close()


def _flip(at: int):
    return lambda data: data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


def test_a_damaged_pack_is_refused_never_returned(birds):
    part = _entry(birds, "data/train/a.csv").parts[0]
    _damage(birds, part.obj, _flip(part.offset + 3))
    fs = fsspec.filesystem("etc", config=birds)
    for read in (lambda: fs.cat_file("birds/data/train/a.csv"), lambda: fs.cat_file("birds/data/train/a.csv", 0, 2),
                 lambda: pd.read_csv("etc://birds/data/train/a.csv", storage_options={"config": birds})):
        with pytest.raises(etc.IntegrityError, match=r"birds@1: data/train/a\.csv failed verification"):
            read()


@pytest.fixture
def chunked(remote, make_dataset) -> tuple[etc.Config, bytes]:
    """birds@1 holding big.bin of two chunks (16 MiB + 64 KiB) and a small file."""
    data = _big(CHUNK + 65536)
    src = make_dataset("birds", {"train/big.bin": data, "train/a.csv": CSV_A})
    writer = remote.config("writer")
    etc.register(src, config=writer)
    etc.push("birds", config=writer)
    return remote.config("reader"), data


def test_a_damaged_or_truncated_chunk_is_refused_and_the_good_chunk_still_reads(chunked):
    cfg, data = chunked
    entry = _entry(cfg, "data/train/big.bin")
    assert len(entry.parts) == 2
    fs = fsspec.filesystem("etc", config=cfg)
    with fs.open("birds/data/train/big.bin") as f:
        f.seek(CHUNK - 10)
        assert f.read(20) == data[CHUNK - 10:CHUNK + 10]
    _damage(cfg, entry.parts[1].obj, _flip(100))
    fs = fsspec.filesystem("etc", config=cfg, skip_instance_cache=True)
    with fs.open("birds/data/train/big.bin") as f:
        f.seek(1000)
        assert f.read(4096) == data[1000:5096]  # chunk 0 is intact
        f.seek(CHUNK + 5)
        with pytest.raises(etc.IntegrityError, match=r"birds@1: data/train/big\.bin failed verification \(sha256"):
            f.read(10)
    _damage(cfg, entry.parts[1].obj, lambda b: b[:1000])
    with pytest.raises(etc.IntegrityError, match=r"birds@1: data/train/big\.bin .*truncated"):
        fs.cat_file("birds/data/train/big.bin", CHUNK + 5, CHUNK + 10)


def test_a_truncated_pack_is_refused(birds):
    part = _entry(birds, "data/train/b.csv").parts[0]
    _damage(birds, part.obj, lambda b: b[:part.offset + 2])
    with pytest.raises(etc.IntegrityError, match=r"birds@1: data/train/b\.csv .*truncated"):
        etc.open("birds", "data/train/b.csv", config=birds).read()


# ---------------------------------------------------------------- what each read costs


class CountingStorage(Storage):
    """A Storage that records every data read it serves (key, start, length), then delegates."""

    def __init__(self, inner: Storage) -> None:
        super().__init__(inner.url, inner.config)
        self.inner = inner
        self.reads: list[tuple[str, int, int | None]] = []
        self.lists: list[str] = []
        self.threads: list[str] = []

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        self.reads.append((key, start, length))
        self.threads.append(threading.current_thread().name)
        return self.inner.read(key, start, length)

    def get(self, key: str) -> bytes:
        self.reads.append((key, 0, None))
        self.threads.append(threading.current_thread().name)
        return self.inner.get(key)

    def put(self, key, source):
        return self.inner.put(key, source)

    def put_if_absent(self, key, data):
        return self.inner.put_if_absent(key, data)

    def exists(self, key):
        return self.inner.exists(key)

    def touch(self, key):
        return self.inner.touch(key)

    def list(self, prefix=""):
        self.lists.append(prefix)
        return self.inner.list(prefix)

    def delete(self, key):
        return self.inner.delete(key)

    def close(self):
        self.inner.close()


class CountingFS(EtcFileSystem):
    def _open_remote(self) -> Remote:
        self.counting = CountingStorage(open_storage(self.config))
        return Remote(self.counting)


def _three_chunks(remote, make_dataset) -> tuple[etc.Config, bytes]:
    data = _big(2 * CHUNK + 4096, seed=3)
    src = make_dataset("big", {"train/big.bin": data})
    writer = remote.config("writer")
    etc.register(src, config=writer)
    etc.push("big", config=writer)
    return remote.config("reader"), data


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_random_4k_reads_cost_one_ranged_get_of_one_chunk_each_and_hit_the_cache_on_repeat(kind, request,
                                                                                           make_dataset):
    cfg, data = _three_chunks(request.getfixturevalue(f"{kind}_remote"), make_dataset)
    offsets = [CHUNK + 777, 12345, 2 * CHUNK + 17, CHUNK + 9000, 2 * CHUNK + 1]  # chunks 1, 0, 2, 1, 2
    fs = CountingFS(config=cfg, cache=True)
    fs.info("big/data/train/big.bin")
    fs.counting.reads.clear()
    with fs.open("big/data/train/big.bin") as f:
        for n, off in enumerate(offsets):
            before = len(fs.counting.reads)
            f.seek(off)
            assert f.read(4096) == data[off:off + 4096]
            fetched = fs.counting.reads[before:]
            if n in (3, 4):  # a chunk read before: served from memory or the block cache
                assert fetched == []
            else:
                assert len(fetched) == 1
                key, start, length = fetched[0]
                assert key.startswith("objects/") and length is not None and length <= CHUNK
    assert len(fs.counting.reads) == 3
    assert len({k for k, _, _ in fs.counting.reads}) == 3
    assert not any(name.startswith("etc-ahead") for name in fs.counting.threads)  # random: nothing ahead

    again = CountingFS(config=cfg, cache=True, skip_instance_cache=True)  # a new process, in effect
    again.info("big/data/train/big.bin")
    again.counting.reads.clear()
    with again.open("big/data/train/big.bin") as f:
        for off in offsets:
            f.seek(off)
            assert f.read(4096) == data[off:off + 4096]
    assert again.counting.reads == [] and again.cache.hits >= 3
    cached = _home_files(cfg)
    assert len(cached) == 3 and all(p.startswith(".etc/cache/") for p in cached)  # no dataset copy


def _fetched_once(fs: "CountingFS") -> list[bool]:
    """Check that the reads since the last `counting.reads.clear()` tile each chunk of big.bin
    exactly once; return, per chunk, whether it was read on the read-ahead threads."""
    reads, names = list(fs.counting.reads), list(fs.counting.threads[-len(fs.counting.reads):])
    parts = fs._entry("big", 1, "data/train/big.bin").parts
    ahead = []
    for part in parts:
        mine = sorted((start, n) for (key, start, n), _ in zip(reads, names) if key == object_key(part.obj))
        ends = [part.offset] + [start + n for start, n in mine]
        assert [start for start, _ in mine] == ends[:-1] and ends[-1] == part.offset + part.length  # all, once
        threads = {name.rpartition("_")[0] for (key, _, _), name in zip(reads, names) if key == object_key(part.obj)}
        ahead.append(threads <= {"etc-ahead", "etc-ahead-range"})
    return ahead


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_sequential_reads_fetch_each_chunk_once_with_read_ahead(kind, request, make_dataset):
    cfg, data = _three_chunks(request.getfixturevalue(f"{kind}_remote"), make_dataset)
    fs = CountingFS(config=cfg)
    fs.info("big/data/train/big.bin")
    fs.counting.reads.clear()
    out = bytearray()
    with fs.open("big/data/train/big.bin") as f:
        while block := f.read(1 << 20):
            out += block
            if len(out) == 2 << 20:  # a sequential reader: the next chunks are already on their way
                assert len(f._ahead) == 2
    assert bytes(out) == data
    assert _fetched_once(fs) == [False, True, True]  # chunk 0 on the first read, then 1 and 2 ahead of the reader
    assert sorted(length for _, _, length in fs.counting.reads) == [4096] + [CHUNK // SPLIT] * SPLIT + [CHUNK]
    assert _home_files(cfg) == []


def test_a_damaged_chunk_fetched_ahead_fails_where_the_reader_reaches_it(file_remote, make_dataset):
    cfg, data = _three_chunks(file_remote, make_dataset)
    storage = open_storage(cfg)
    try:
        entry = Remote(storage).entry("big", 1, "data/train/big.bin")
    finally:
        storage.close()
    _damage(cfg, entry.parts[1].obj, _flip(CHUNK // 2))
    fs = CountingFS(config=cfg)
    got = bytearray()
    with fs.open("big/data/train/big.bin") as f:
        with pytest.raises(etc.IntegrityError, match=r"big@1: data/train/big\.bin failed verification \(sha256"):
            while block := f.read(1 << 20):
                got += block
        assert f.tell() == CHUNK  # it failed on the first read of chunk 1, not earlier
    assert bytes(got) == data[:CHUNK]  # every byte returned before is right, none after
    ahead = {key for (key, _, _), name in zip(fs.counting.reads, fs.counting.threads) if name.startswith("etc-ahead")}
    assert object_key(entry.parts[1].obj) in ahead  # the damaged chunk was fetched ahead, and refused


def test_streaming_a_large_file_holds_a_bounded_number_of_chunks(file_remote, make_dataset):
    import tracemalloc

    from etcetera.fs import READ_AHEAD

    chunks = 8
    data = _big(chunks * CHUNK, seed=5)
    src = make_dataset("huge", {"train/huge.bin": data})
    digest = hashlib.sha256(data).hexdigest()
    del data
    writer = file_remote.config("writer")
    etc.register(src, config=writer)
    etc.push("huge", config=writer)
    fs = fsspec.filesystem("etc", config=file_remote.config("reader"))
    fs.info("huge/data/train/huge.bin")
    h = hashlib.sha256()
    tracemalloc.start()
    try:
        with fs.open("huge/data/train/huge.bin") as f:
            while block := f.read(1 << 20):
                h.update(block)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert h.hexdigest() == digest
    # The chunk being read and those on their way, not the file: with the interpreter and the
    # clients that stays under issue 14's 150 MB peak RSS for any file size (bench --stream measures it).
    assert (1 + READ_AHEAD) * CHUNK <= 80 << 20
    assert peak <= (1 + READ_AHEAD) * CHUNK + (4 << 20)


def test_a_read_across_chunks_fetches_each_once_in_parallel(file_remote, make_dataset):
    cfg, data = _three_chunks(file_remote, make_dataset)
    fs = CountingFS(config=cfg)
    fs.info("big/data/train/big.bin")
    fs.counting.reads.clear()
    with fs.open("big/data/train/big.bin") as f:
        f.seek(100)
        assert f.read(2 * CHUNK) == data[100:100 + 2 * CHUNK]
    assert _fetched_once(fs) == [False, True, True]  # 1 and 2 in parallel


def test_a_cached_block_that_rots_on_disk_is_fetched_again(file_remote, make_dataset):
    cfg, data = _three_chunks(file_remote, make_dataset)
    fs = fsspec.filesystem("etc", config=cfg, cache=True)
    assert fs.cat_file("big/data/train/big.bin", 10, 20) == data[10:20]
    [block] = [cfg.home_path / p for p in _home_files(cfg)]
    raw = block.read_bytes()
    block.write_bytes(raw[:10] + bytes([raw[10] ^ 1]) + raw[11:])
    fresh = fsspec.filesystem("etc", config=cfg, cache=True, skip_instance_cache=True)
    assert fresh.cat_file("big/data/train/big.bin", 10, 20) == data[10:20]
    assert block.read_bytes() == raw  # replaced by the verified download


def test_the_cache_stays_within_its_size(file_remote, make_dataset):
    cfg, data = _three_chunks(file_remote, make_dataset)
    fs = fsspec.filesystem("etc", config=cfg, cache_size=CHUNK + 8192)
    for off in (0, CHUNK, 2 * CHUNK):
        assert fs.cat_file("big/data/train/big.bin", off, off + 10) == data[off:off + 10]
    sizes = [os.path.getsize(cfg.home_path / p) for p in _home_files(cfg)]
    assert sorted(sizes) == [4096, CHUNK]  # chunk 0, the least recently used, made room for chunk 2


# ---------------------------------------------------------------- metadata reads


def test_one_file_needs_the_root_and_one_shard(file_remote, make_dataset):
    files = {f"p{i}/f{j:03d}.txt": f"{i}-{j}\n".encode() for i in range(3) for j in range(40)}
    src = make_dataset("many", files)
    (src / "data" / "p1" / "a-empty" / "inner").mkdir(parents=True)
    cfg = file_remote.config("writer")
    etc.register(src, config=cfg)
    etc.push("many", config=cfg)
    r = Remote(open_storage(cfg))
    m = r.manifest("many", 1)
    m.version, m.parent = 2, 1
    r.publish(m, r.stage(m, shard_files=5))  # many@2: the same files in shards of 5 entries

    fs = CountingFS(config=file_remote.config("reader"))
    assert fs.cat_file("etc://many@2/data/p1/f017.txt") == b"1-17\n"
    metadata = [k for k, _, length in fs.counting.reads if length is None]
    assert metadata[0] == manifest_key("many", 2) and len(metadata) == 2
    assert sorted(fs.ls("many@2/data/p2", detail=False))[:2] == ["many@2/data/p2/f000.txt", "many@2/data/p2/f001.txt"]
    assert len(fs.find("many@2/data")) == 120
    # An empty folder sorts first but is listed in the group's last shard: still found.
    assert fs.ls("many@2/data/p1", detail=False)[0] == "many@2/data/p1/a-empty"
    assert fs.isdir("many@2/data/p1/a-empty/inner") and fs.ls("many@2/data/p1/a-empty/inner") == []

    # The first byte of the latest version: one listing (which version is the latest), its root,
    # one shard and one ranged read of the file's bytes; nothing else.
    fs = CountingFS(config=file_remote.config("reader"), skip_instance_cache=True)
    with fs.open("many/data/p1/f017.txt") as f:
        assert f.read(1) == b"1"
    assert fs.counting.lists == ["datasets/many/"]
    (root, *_), (shard, _, whole), (data, _, length) = fs.counting.reads
    assert root == manifest_key("many", 2) and shard.startswith("objects/") and whole is None and length == 5


def test_versions_written_as_etcetera_1_are_read_whole(birds, remote):
    storage = open_storage(birds)
    try:
        r = Remote(storage)
        m = r.manifest("birds", 1)
        old = Manifest("birds", 2, m.files, m.dirs, m.objects, parent=1)
        assert storage.put_if_absent(manifest_key("birds", 2), old.to_bytes())
    finally:
        storage.close()
    fs = fsspec.filesystem("etc", config=birds)
    assert fs.cat_file("birds@2/data/train/b.csv") == CSV_B
    assert fs.ls("birds@2", detail=False) == ["birds@2/README.md", "birds@2/data", "birds@2/docs", "birds@2/meta.json"]
    assert fs.find("birds@2/data/train") == ["birds@2/data/train/a.csv", "birds@2/data/train/b.csv",
                                             "birds@2/data/train/sub/deep.txt"]
    assert fs.exists("birds@2/data/empty")


# ---------------------------------------------------------------- pickling


def test_pickles_with_its_config_and_pinned_versions_but_no_secret_in_repr(s3_remote, make_dataset, caplog):
    caplog.set_level("DEBUG")
    src = make_dataset("birds", FILES)
    writer = s3_remote.config("writer")
    etc.register(src, config=writer)
    etc.push("birds", config=writer)
    cfg = s3_remote.config("reader")
    fs = fsspec.filesystem("etc", config=cfg)
    assert fs.cat_file("birds/data/train/a.csv") == CSV_A  # resolves birds -> 1
    secret = cfg.aws_secret_access_key
    assert secret not in repr(fs) and secret not in str(fs.storage_options)
    blob = pickle.dumps(fs)

    (src / "data" / "train" / "a.csv").write_bytes(b"changed\n")
    etc.register(src, config=writer, force=True)
    assert etc.push("birds", config=writer) == "birds@2"

    EtcFileSystem.clear_instance_cache()  # as in a fresh worker process
    worker = pickle.loads(blob)
    assert worker is not fs and worker._remote is None  # its own client, opened on first use
    assert worker.cat_file("birds/data/train/a.csv") == CSV_A  # still the version the client saw
    assert fsspec.filesystem("etc", config=cfg, skip_instance_cache=True).cat_file("birds/data/train/a.csv") \
        == b"changed\n"
    assert fs.cat_file("birds/data/train/a.csv") == CSV_A  # resolved once per instance ...
    fs.invalidate_cache("etc://birds")
    assert fs.cat_file("birds/data/train/a.csv") == b"changed\n"  # ... until asked to look again

    other = fsspec.filesystem("etc", config=cfg.replace(aws_secret_access_key="other-secret"))
    assert repr(other.config) == repr(cfg)  # reprs are equal, yet the instance cache keeps them apart:
    assert other is not fsspec.filesystem("etc", config=cfg)
    assert other.config.aws_secret_access_key == "other-secret"
    assert caplog.records and secret not in caplog.text and "other-secret" not in caplog.text


def _read_with_cache(config: etc.Config, offset: int) -> bytes:
    fs = EtcFileSystem(config=config, cache=True)
    return fs.cat_file("big/data/train/big.bin", offset, offset + 100)


def test_processes_share_the_block_cache(file_remote, make_dataset):
    import multiprocessing

    cfg, data = _three_chunks(file_remote, make_dataset)
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        got = pool.starmap(_read_with_cache, [(cfg, CHUNK + 10 * i) for i in range(6)])
    assert got == [data[CHUNK + 10 * i:CHUNK + 10 * i + 100] for i in range(6)]
    cached = _home_files(cfg)
    assert len(cached) == 1 and cached[0].startswith(".etc/cache/")  # one block, no temporary left
    assert (cfg.home_path / cached[0]).read_bytes() == data[CHUNK:2 * CHUNK]


# ---------------------------------------------------------------- Dask


def test_dask_workers_read_etc_paths_directly_from_s3(s3_remote, make_dataset, tmp_path):
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    frames = {f"train/part{i}.csv": pd.DataFrame({"x": range(i * 10, i * 10 + 10), "y": [i / 2] * 10})
              for i in range(4)}
    files = {k: v.to_csv(index=False).encode() for k, v in frames.items()}
    for i, frame in enumerate(frames.values()):
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        files[f"pq/part{i}.parquet"] = buf.getvalue()
    src = make_dataset("tables", files)
    writer = s3_remote.config("writer")
    etc.register(src, config=writer)
    etc.push("tables", config=writer)
    options = {"config": s3_remote.config("reader")}
    expected = pd.concat(pd.read_csv(src / "data" / k) for k in sorted(frames)).reset_index(drop=True)

    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                                  worker_dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        ddf = dd.read_csv("etc://tables/data/train/*.csv", storage_options=options)
        assert ddf.npartitions == 4
        got = ddf.compute().reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)
        pq = dd.read_parquet("etc://tables@1/data/pq/", storage_options=options).compute()
        pd.testing.assert_frame_equal(pq.sort_values("x").reset_index(drop=True), expected, check_dtype=False)
        where = client.run(lambda: os.getpid())
        assert len(where) == 2 and os.getpid() not in where.values()
    assert _home_files(options["config"]) == []
