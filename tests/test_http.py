"""Read-only HTTPS remotes (issue 18): a real nginx on 127.0.0.1 serving what a file:// push wrote
and a copy of an S3 remote; a Python server that ignores Range; hostile responses.  The readers
use plain http:// on loopback, which is the same backend as https://."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import fsspec
import pytest

import etcetera as etc
from etcetera import Config, api
from etcetera.errors import (ConfigError, CutOffError, FormatError, IntegrityError, NotFoundError, RemoteError,
                             TransientError)
from etcetera.remote import Remote, index_key
from etcetera.storage import open_storage

import web
from test_cli import assert_one_line_error, run


@pytest.fixture(scope="session")
def nginx_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """One nginx for the run, serving a folder in which each test gets its own remote."""
    root = tmp_path_factory.mktemp("site")
    with web.nginx(root, tmp_path_factory.mktemp("nginx")) as url:
        yield root, url


@dataclass
class Mirror:
    folder: Path  # the remote's files
    writer: Config  # file:// on that folder
    reader: Config  # http:// of the same folder, through nginx

    @property
    def url(self) -> str:
        return str(self.reader.url)


@pytest.fixture
def mirror(nginx_site: tuple[Path, str], tmp_path: Path) -> Mirror:
    root, base = nginx_site
    sub = f"r-{uuid.uuid4().hex[:8]}"
    return Mirror(root / sub, Config(f"file://{root / sub}", home=str(tmp_path / "w")),
                  Config(f"{base}/{sub}", home=str(tmp_path / "r")))


BIG = 17 << 20  # two 16 MiB chunks, each read with its own ranged GET


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def publish_two_versions(make_dataset, cfg: Config, name: str = "birds") -> Path:
    """birds@1 (tagged stable) and birds@2 on `cfg`'s remote; returns the writer's copy."""
    files = {f"train/{i:02d}.txt": f"train {i}\n".encode() * 50 for i in range(12)}
    files.update({"test/x.txt": b"x" * 999, "big/blob.bin": os.urandom(BIG)})
    src = make_dataset(name, files, meta={"n": 1}, extra={"README.md": b"# birds\n"})
    etc.register(src, config=cfg)
    assert etc.push(name, config=cfg) == f"{name}@1"
    (cfg.home_path / name / "data" / "train" / "new.txt").write_bytes(b"new in 2\n")
    assert etc.push(name, config=cfg) == f"{name}@2"
    etc.tag(f"{name}@1", "stable", config=cfg)
    return cfg.home_path / name


def nothing_written(cfg: Config, name: str) -> bool:
    """No copy of `name` and no staging leftovers in the reader's home."""
    tmp = cfg.home_path / ".etc" / "tmp"
    return not (cfg.home_path / name).exists() and not (tmp.exists() and any(tmp.iterdir()))


def one_line(exc: BaseException, *needles: str) -> None:
    text = str(exc)
    assert "\n" not in text and text, text
    for needle in needles:
        assert needle in text, text


# ------------------------------------------------------------------ nginx


def test_nginx_mirror_of_a_file_remote_reads_everything(mirror: Mirror, make_dataset, caplog):
    caplog.set_level(logging.WARNING, "etcetera")
    written = publish_two_versions(make_dataset, mirror.writer)
    r = mirror.reader
    assert api.list_remote(r) == {"birds": 2}
    assert etc.versions("birds", config=r) == [2, 1]
    assert etc.tags("birds", config=r) == {"stable": 1}
    info = etc.info("birds@stable", remote=True, config=r)
    assert (info["version"], info["partitions"]["train"]["files"], info["remote"]) == (1, 12, mirror.url)

    ds = etc.pull("birds@stable", partitions=["train"], config=r)  # one partition: ranges of its packs
    assert ds.version == 1 and sorted(p.name for p in ds["train"].iterdir())[:2] == ["00.txt", "01.txt"]
    assert not (ds.path / "data" / "big").exists()
    ds = etc.dataset("birds@latest", auto_pull=True, config=r)
    assert ds.version == 2 and tree(ds.path) == tree(written)
    assert etc.verify("birds@2", remote=True, deep=True, config=r).ok  # HEAD per object, then every hash

    fs = fsspec.filesystem("etc", config=r, skip_instance_cache=True)
    blob = (written / "data" / "big" / "blob.bin").read_bytes()
    edge = 16 << 20  # across the two chunks
    assert fs.cat_file("birds@2/data/big/blob.bin", edge - 5, edge + 5) == blob[edge - 5:edge + 5]
    assert fs.cat_file("birds@stable/data/train/03.txt") == b"train 3\n" * 50
    assert [e["name"] for e in fs.ls("etc://", detail=True)] == ["birds"]
    assert not [m for m in caplog.messages if "Range" in m]  # nginx honours Range: no whole-object reads

    with etc.Repository(r) as repo:
        for attempt in (lambda: repo.push("birds"), lambda: repo.tag("birds@2", "beta"), lambda: repo.gc()):
            with pytest.raises(RemoteError) as err:
                attempt()
            one_line(err.value, mirror.url, "read-only", "writable remote")
    assert etc.tags("birds", config=mirror.writer) == {"stable": 1}


def test_cli_on_an_nginx_mirror(mirror: Mirror, make_dataset, tmp_path: Path):
    publish_two_versions(make_dataset, mirror.writer)
    user = tmp_path / "cli-user"
    user.mkdir()
    (user / ".etc.toml").write_text(f'url = "{mirror.url}"\n')
    assert run("list", "-r", cwd=tmp_path, home=user).stdout.split()[:2] == ["birds", "@2"]
    assert run("versions", "birds", cwd=tmp_path, home=user).stdout.split()[:1] == ["birds@2"]
    assert "12" in run("info", "birds@stable", "-r", cwd=tmp_path, home=user).stdout
    assert "pulled birds@1" in run("pull", "birds@1", "-p", "test", cwd=tmp_path, home=user).stdout
    assert (user / ".etc" / "birds" / "data" / "test" / "x.txt").read_bytes() == b"x" * 999
    for command in (["push", "birds"], ["tag", "birds@2", "beta"], ["gc"]):
        assert_one_line_error(run(*command, cwd=tmp_path, home=user, ok=False), mirror.url, "read-only")


def test_nginx_mirror_of_an_s3_remote(s3_remote, nginx_site, make_dataset, tmp_path: Path):
    """Push to S3 (moto), copy the bucket's objects into a served folder as `aws s3 sync` would."""
    written = publish_two_versions(make_dataset, s3_remote.config("w"))
    root, base = nginx_site
    folder = root / f"s3-{uuid.uuid4().hex[:8]}"
    storage = open_storage(s3_remote.config("w"))
    try:
        keys = [info.key for info in storage.list("")]
        assert index_key() in keys and index_key("birds") in keys  # written by the pushes and the tag
        for key in keys:
            (folder / key).parent.mkdir(parents=True, exist_ok=True)
            (folder / key).write_bytes(storage.get(key))
    finally:
        storage.close()
    r = Config(f"{base}/{folder.name}", home=str(tmp_path / "r"))
    assert api.list_remote(r) == {"birds": 2}
    assert etc.tags("birds", config=r) == {"stable": 1}
    ds = etc.pull("birds", config=r)
    assert tree(ds.path) == tree(written)


def test_a_stale_index_still_gives_the_truth(mirror: Mirror, make_dataset):
    """Concurrent pushes may leave an index older than the versions: readers look past it."""
    w = mirror.writer
    src = make_dataset("owl", {"train/a.txt": b"1"})
    etc.register(src, config=w)
    etc.push("owl", config=w)
    etc.tag("owl@1", "stable", config=w)
    old = {k: (mirror.folder / k).read_bytes() for k in (index_key(), index_key("owl"))}
    for i in (2, 3):
        (w.home_path / "owl" / "data" / "train" / "a.txt").write_bytes(str(i).encode())
        etc.push("owl", config=w)
    etc.tag("owl@3", "stable", config=w)
    etc.tag("owl@2", "beta", config=w)
    for key, raw in old.items():  # what a push that lost the race to write its index leaves
        (mirror.folder / key).write_bytes(raw)
    r = mirror.reader
    assert etc.versions("owl", config=r) == [3, 2, 1]
    assert api.list_remote(r) == {"owl": 3}
    assert etc.tags("owl", config=r) == {"stable": 3}  # moved since the index: its next events are read
    assert etc.dataset("owl@beta", auto_pull=True, config=r).version == 2  # a tag the index does not know
    assert etc.dataset("owl@latest", auto_pull=True, config=r).version == 3


def test_a_remote_without_index(mirror: Mirror, make_dataset, tmp_path: Path):
    """Remotes written before the index: writable backends never needed it; over HTTPS, versions
    and pulls still work, and the listing says how to add one (`etc gc`, or any push)."""
    w = mirror.writer
    etc.register(make_dataset("old", {"train/a.txt": b"a"}), config=w)
    etc.push("old", config=w)
    for key in (index_key(), index_key("old")):
        (mirror.folder / key).unlink()
    assert etc.versions("old", config=w) == [1] and api.list_remote(w) == {"old": 1}
    r = mirror.reader
    assert etc.versions("old", config=r) == [1]
    assert etc.pull("old", config=r).version == 1
    with pytest.raises(NotFoundError) as err:
        api.list_remote(r)
    one_line(err.value, mirror.url, "no index", "etc gc")
    api.gc(config=w)
    assert (mirror.folder / index_key("old")).is_file()
    assert api.list_remote(r) == {"old": 1}


def test_concurrent_pushes_leave_every_version_readable(mirror: Mirror, make_dataset, tmp_path: Path):
    w = mirror.writer
    names = [f"ds{i}" for i in range(4)]
    configs = [Config(w.url, home=str(tmp_path / f"h{i}")) for i in range(len(names))]
    for name, cfg in zip(names, configs):
        etc.register(make_dataset(name, {"train/a.txt": name.encode()}), config=cfg)
    errors: list[BaseException] = []

    def push(name: str, cfg: Config) -> None:
        try:
            for i in range(3):
                (cfg.home_path / name / "data" / "train" / "a.txt").write_bytes(f"{name} {i}".encode())
                etc.push(name, config=cfg)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=push, args=pair) for pair in zip(names, configs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    r = mirror.reader
    for name in names:
        assert etc.versions(name, config=r) == etc.versions(name, config=w) == [3, 2, 1]
    assert api.list_remote(r) == {name: 3 for name in names}


def test_https_with_a_certificate(nginx_site, make_dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """https:// proper: nginx with TLS; an untrusted certificate is a one-line error, not retried."""
    root, _ = nginx_site
    folder = root / f"tls-{uuid.uuid4().hex[:8]}"
    w = Config(f"file://{folder}", home=str(tmp_path / "w"))
    etc.register(make_dataset("kite", {"train/a.txt": b"tls\n" * 100}), config=w)
    etc.push("kite", config=w)
    cert, key = web.self_signed(tmp_path / "tls")
    with web.nginx(root, tmp_path / "nginx-tls", tls=(cert, key)) as base:
        assert base.startswith("https://")
        r = Config(f"{base}/{folder.name}", home=str(tmp_path / "r"), give_up_seconds=5)
        with pytest.raises(RemoteError) as err:
            etc.pull("kite", config=r)
        one_line(err.value, base, "certificate is not trusted")
        assert nothing_written(r, "kite")
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        assert api.list_remote(r) == {"kite": 1}
        assert (etc.pull("kite", config=r).path / "data" / "train" / "a.txt").read_bytes() == b"tls\n" * 100


# ------------------------------------------------------------------ other servers


@pytest.fixture
def served(tmp_path: Path, make_dataset) -> tuple[Path, Config]:
    """birds@1, @2 (and tag stable) on a file:// remote whose folder a Python server will serve."""
    w = Config(f"file://{tmp_path / 'site'}", home=str(tmp_path / "w"))
    return publish_two_versions(make_dataset, w), w


def test_a_server_that_ignores_range_still_works(served, tmp_path: Path, caplog):
    caplog.set_level(logging.WARNING, "etcetera")
    written, w = served
    with web.python_server(tmp_path / "site") as url:
        r = Config(url, home=str(tmp_path / "r"))
        assert etc.pull("birds@1", partitions=["test"], config=r).version == 1
        fs = fsspec.filesystem("etc", config=r, skip_instance_cache=True)
        assert fs.cat_file("birds@2/data/train/05.txt", 3, 12) == (b"train 5\n" * 50)[3:12]
        ds = etc.pull("birds", config=r)
        assert tree(ds.path) == tree(written)
    assert any("ignores Range" in m for m in caplog.messages)


def test_connections_are_kept_alive_and_pooled(served, tmp_path: Path):
    rules = web.Rules()
    with web.python_server(tmp_path / "site", rules) as url:
        storage = open_storage(Config(url, workers=4))
        try:
            for _ in range(20):
                assert storage.exists(index_key("birds"))
                assert storage.get(index_key()).startswith(b"{")
            assert rules.requests == 40 and rules.connections == 1
            remote = Remote(storage)
            with_threads = [threading.Thread(target=remote.versions, args=("birds",)) for _ in range(8)]
            for t in with_threads:
                t.start()
            for t in with_threads:
                t.join()
            assert rules.connections <= 1 + 8
        finally:
            storage.close()


def _objects(path: str) -> bool:
    return "/objects/" in path or path.startswith("/objects/")


@pytest.mark.parametrize("mode, where, error, needles", [
    ("redirect", lambda p: True, RemoteError, ["another host", "http://127.0.0.2"]),
    ("html", lambda p: True, FormatError, ["not an etcetera index"]),
    ("html", _objects, IntegrityError, ["sha256 mismatch"]),
    ("short", _objects, CutOffError, ["birds@2", "short response"]),
    ("short", lambda p: p.endswith(".json.gz"), CutOffError, ["birds@2", "short response"]),
    ("understated", _objects, IntegrityError, ["birds@2", "verification"]),
    ("wrong-range", _objects, RemoteError, ["another byte range"]),
], ids=["redirect-elsewhere", "html-page-everywhere", "html-page-for-objects", "short-objects", "short-root",
        "understated-length", "wrong-range"])
def test_hostile_responses_are_one_line_errors_and_write_nothing(served, tmp_path: Path, mode, where, error, needles):
    rules = web.Rules()
    rules.rule = lambda path: mode if where(path) else None
    rules.other_host = "http://127.0.0.2:9"
    with web.python_server(tmp_path / "site", rules) as url:
        r = Config(url, home=str(tmp_path / "r"), give_up_seconds=1)
        with pytest.raises(error) as err:
            etc.pull("birds", config=r)
        one_line(err.value, *needles)
        assert "127.0.0.1" in str(err.value)  # names the remote
        assert nothing_written(r, "birds")
        if mode == "html" and where("/x"):
            with pytest.raises(FormatError) as err:
                api.list_remote(r)
            one_line(err.value, "datasets/_index.json", url)


def test_url_rules_and_read_only_storage(tmp_path: Path):
    with pytest.raises(ConfigError) as err:
        open_storage(Config("https://alice:s3cr3t-pw@example.org/data"))
    one_line(err.value, "user:password@")
    assert "s3cr3t-pw" not in str(err.value)
    with pytest.raises(ConfigError):
        open_storage(Config("https://example.org/data?x=1"))
    storage = open_storage(Config("https://example.org/data/"))
    assert (storage.url, storage.read_only, storage.listable) == ("https://example.org/data", True, False)
    with pytest.raises(RemoteError) as err:
        storage.delete("objects/x")
    one_line(err.value, "https://example.org/data", "read-only")
    storage.close()


def test_index_documents_are_checked():
    from etcetera.index import DatasetIndex, read_dataset_index, read_datasets

    raw = DatasetIndex("birds", [2, 1], {"stable": 1}).to_bytes()
    assert read_dataset_index(raw, "birds", "x") == DatasetIndex("birds", [1, 2], {"stable": 1})
    for bad in (b"<html>", b"{}", raw.replace(b'"birds"', b'"owl"'), raw.replace(b"[1,2]", b'[1,"2"]'),
                raw.replace(b"stable", b"latest")):
        with pytest.raises(FormatError):
            read_dataset_index(bad, "birds", "x")
    with pytest.raises(FormatError):
        read_datasets(b'{"format": "etcetera/index-1", "datasets": {"../x": 1}}', "x")


def test_reads_of_any_range_with_and_without_range_support(served, nginx_site, tmp_path: Path):
    """Storage.read(key, start, length) gives the same bytes from nginx (206) and from a server
    that ignores Range (200, sliced): open-ended, past the end, and zero-length ranges included."""
    _, w = served
    key = index_key("birds")
    whole = (tmp_path / "site" / key).read_bytes()
    root, base = nginx_site
    shutil.copytree(tmp_path / "site", root / f"rng-{tmp_path.name}")
    cases = [(0, None), (5, None), (5, 10), (len(whole) - 3, 10), (len(whole) + 5, None), (3, 0)]
    with web.python_server(tmp_path / "site") as plain:
        for url in (f"{base}/rng-{tmp_path.name}", plain):
            storage = open_storage(Config(url))
            try:
                for start, length in cases:
                    end = None if length is None else start + length
                    assert b"".join(storage.read(key, start, length)) == whole[start:end], (url, start, length)
            finally:
                storage.close()


@pytest.mark.parametrize("server", ["refused", "503"])
def test_an_unreachable_or_failing_server_gives_up_within_the_budget(served, tmp_path: Path, server):
    rules = web.Rules()
    rules.rule = lambda path: "503"
    with web.python_server(tmp_path / "site", rules) as url:
        if server == "refused":
            url = f"http://127.0.0.1:{web.free_port()}"  # nothing listens there
        r = Config(url, home=str(tmp_path / "r"), give_up_seconds=1.5)
        started = time.monotonic()
        with pytest.raises(TransientError) as err:
            etc.pull("birds", config=r)
        assert time.monotonic() - started < 5
    one_line(err.value, url, "1.5 s")
    assert nothing_written(r, "birds")
    assert server == "refused" or rules.requests > 1  # retried before giving up
