"""Pushes of one dataset name at the same moment, from threads and from processes: each push gets
its own version, or a clear conflict; no manifest is ever lost or overwritten."""

from __future__ import annotations

import re
import subprocess
import threading

import pytest

import etcetera as etc

from .reltools import ETC, env_for, tree, write_dataset

N = 4


@pytest.fixture(params=["file", "s3", "az"])
def backend(request, file_remote):
    if request.param == "file":
        return file_remote
    remote, _ = request.getfixturevalue(f"{request.param}_proxied")()
    return remote


def _homes(backend, tmp_path, n=N):
    """n homes, each with its own content registered as 'cc'."""
    out = []
    for i in range(n):
        cfg = backend.config(f"h{i}", workers=4)
        src = write_dataset(tmp_path / f"src{i}" / "cc", seed=100 + i, small=6)
        etc.register(src, config=cfg)
        out.append((cfg, tree(src)))
    return out


def _check_versions(backend, expected_trees: dict[int, dict]) -> None:
    reader = backend.config("reader")
    assert etc.versions("cc", config=reader) == sorted(expected_trees, reverse=True)
    for version, content in expected_trees.items():
        assert tree(etc.pull(f"cc@{version}", config=reader, force=True).path) == content


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_threads_pushing_one_name(backend, tmp_path, force):
    homes = _homes(backend, tmp_path)
    barrier = threading.Barrier(len(homes))
    results: list = [None] * len(homes)

    def push(i: int) -> None:
        barrier.wait()
        try:
            results[i] = etc.push("cc", config=homes[i][0], force=force)
        except etc.EtcError as exc:
            results[i] = exc

    threads = [threading.Thread(target=push, args=(i,)) for i in range(len(homes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    pushed = [r for r in results if isinstance(r, str)]  # a list: two threads claiming one version must show
    won = {int(r.split("@")[1]): homes[i][1] for i, r in enumerate(results) if isinstance(r, str)}
    lost = [r for r in results if not isinstance(r, str)]
    if force:
        assert sorted(pushed) == [f"cc@{v}" for v in range(1, N + 1)] and not lost, results
    else:
        assert pushed == ["cc@1"] and len(lost) == N - 1, results
        for exc in lost:
            assert isinstance(exc, etc.ConflictError) and "cc@1" in str(exc) and "\n" not in str(exc), exc
    _check_versions(backend, won)


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_processes_pushing_one_name(backend, tmp_path, user, force):
    homes = _homes(backend, tmp_path)
    procs = []
    for i in range(len(homes)):
        toml = backend.toml(f"h{i}", workers=4)
        procs.append(subprocess.Popen([*ETC, "--config", str(toml), "push", *(["-f"] if force else []), "cc"],
                                      env=env_for(user), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    won, errors = {}, []
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=120)
        if proc.returncode == 0:
            version = int(re.search(r"pushed cc@(\d+)", out).group(1))
            assert version not in won, f"two pushes both published cc@{version}"
            won[version] = homes[i][1]
        else:
            errors.append(err)
    if force:
        assert sorted(won) == list(range(1, N + 1)), errors
    else:
        assert list(won) == [1] and len(errors) == N - 1, errors
        for err in errors:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("etc: error: ") and "cc@1" in lines[0], err
    _check_versions(backend, won)


def test_two_threads_one_home_are_serialized(file_remote, tmp_path):
    """The home lock makes a second push of the same local copy wait, then find it up to date."""
    from etcetera import api

    cfg = file_remote.config("one")
    etc.register(write_dataset(tmp_path / "src" / "cc", seed=5, small=6), config=cfg)
    reports: list = []
    barrier = threading.Barrier(2)

    def push() -> None:
        barrier.wait()
        reports.append(api.push_report("cc", config=cfg))

    threads = [threading.Thread(target=push) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.up_to_date for r in reports) == [False, True]
    assert {r.version for r in reports} == {1}
    assert etc.versions("cc", config=cfg) == [1]
