"""The API closes what it opens: a long-lived process (an Airflow triggerer, a Dagster or
Prefect worker, a notebook) can call it as often as it likes without growing file descriptors
or memory, whether it calls the module functions or keeps one `etcetera.Repository` open."""

from __future__ import annotations

import gc
import os
import time
from typing import Callable, Iterator

import pytest

import etcetera as etc
from etcetera.storage import open_storage
from reliability.faultproxy import FaultProxy

CALLS = 500
WARM_UP = 20
MAX_FD_GROWTH = 5
MAX_RSS_GROWTH = 20 << 20


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def _growth(call: Callable[[], object]) -> tuple[int, int]:
    """(fd growth, RSS growth) over CALLS calls, measured after WARM_UP calls."""
    for _ in range(WARM_UP):
        call()
    fds, rss = _fds(), _rss()
    for _ in range(CALLS):
        call()
    return _fds() - fds, _rss() - rss


@pytest.fixture
def kept_alive(remote, monkeypatch) -> Iterator:
    """`remote`, reached like real S3 and GCS are: over connections the server keeps open
    between requests (the moto server and the GCS emulator close each one after a reply)."""
    if remote.kind == "file":
        yield remote
        return
    upstream = {"s3": lambda: remote.options["endpoint_url"], "gs": lambda: os.environ["STORAGE_EMULATOR_HOST"],
                "az": lambda: remote.options["azure_account_url"].rsplit("/", 1)[0]}[remote.kind]()
    with FaultProxy(upstream) as proxy:
        if remote.kind == "s3":
            remote.options = {**remote.options, "endpoint_url": proxy.url}
        elif remote.kind == "az":
            remote.options = {**remote.options, "azure_account_url": f"{proxy.url}/devstoreaccount1"}
        else:
            monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
        yield remote


def _published(remote, make_dataset) -> etc.Config:
    cfg = remote.config()
    etc.register(make_dataset("leak"), config=cfg)
    assert etc.push("leak", config=cfg, quiet=True) == "leak@1"
    return cfg


def test_module_functions_release_clients(kept_alive, make_dataset):
    cfg = _published(kept_alive, make_dataset)

    def call() -> None:
        assert etc.versions("leak", config=cfg) == [1]

    fds, rss = _growth(call)
    assert fds <= MAX_FD_GROWTH, f"{CALLS} etc.versions() calls on {kept_alive.kind} left {fds} more open files"
    assert rss <= MAX_RSS_GROWTH, f"{CALLS} etc.versions() calls on {kept_alive.kind} grew RSS by {rss >> 20} MB"


def test_repository_reused(kept_alive, make_dataset):
    cfg = _published(kept_alive, make_dataset)
    with etc.Repository(cfg) as repo:

        def call() -> None:
            assert repo.versions("leak") == [1]

        fds, rss = _growth(call)
    assert fds <= MAX_FD_GROWTH, f"{CALLS} Repository.versions() calls on {kept_alive.kind} left {fds} more open files"
    assert rss <= MAX_RSS_GROWTH, f"{CALLS} Repository.versions() calls on {kept_alive.kind} grew RSS by {rss >> 20} MB"


def test_repository_opens_the_remote_only_when_needed_and_not_after_close(tmp_path, make_dataset):
    cfg = etc.Config(home=str(tmp_path / "home"))  # no remote configured at all
    with etc.Repository(cfg) as repo:
        repo.register(make_dataset("here"))
        assert repo.ls() == ["here"]
        assert repo.list_local() == {"here": None}
        assert repo.dataset("here").keys() == ["test", "train"]
        with pytest.raises(etc.ConfigError, match="no remote configured"):
            repo.versions("here")
    with pytest.raises(etc.EtcError, match="closed"):
        repo.versions("here")
    repo.close()  # a second close is harmless


def test_repository_runs_every_operation(remote, make_dataset):
    cfg = remote.config()
    with etc.Repository(cfg) as repo:
        repo.register(make_dataset("rr"))
        report = repo.push_report("rr")
        assert (report.ref, report.up_to_date) == ("rr@1", False)
        assert repo.push("rr") == "rr@1"  # up to date
        assert repo.versions("rr") == [1]
        assert repo.list_remote() == {"rr": 1}
        assert repo.ls(remote=True) == ["rr"]
        assert repo.info("rr@1", remote=True)["files"] == 2
        assert repo.gc(grace_hours=0, dry_run=True).deleted == 0
        storage = repo.remote.storage
        assert repo.remote.storage is storage  # one client for the whole session
    with etc.Repository(remote.config("other")) as repo:
        ds = repo.pull("rr", partitions=["train"])
        assert (ds.ref, ds.keys()) == ("rr@1", ["train"])
        assert repo.dataset("rr@1").path == ds.path
        repo.purge("rr")
        assert repo.ls() == []


def test_close_releases_the_connections(kept_alive):
    """Each backend's close() hangs up at once, without waiting for the garbage collector."""
    storage = open_storage(kept_alive.config())
    gc.disable()  # what close() releases must not depend on when the collector runs
    try:
        before = _fds()
        assert list(storage.list("datasets/")) == []
        opened = _fds() - before
        if kept_alive.kind != "file":
            assert opened >= 1, "a kept-alive connection should stay open between requests"
        storage.close()
        deadline = time.monotonic() + 5
        while _fds() > before and time.monotonic() < deadline:
            time.sleep(0.05)  # the proxy's side of the connection closes when it reads the hang-up
        assert _fds() <= before, f"{kept_alive.kind}: close() left {_fds() - before} files open"
    finally:
        gc.enable()
