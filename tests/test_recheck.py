"""The up-to-date check of a push spread over processes (`push._check_shared`): with the threshold
lowered, it must give exactly the serial check's answer, and fall back to it when a child fails."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

import etcetera as etc
from etcetera import recheck
from etcetera.dataset import local_groups, validate_dataset_dir
from etcetera.home import Home, State

push = importlib.import_module("etcetera.push")  # the module (etcetera.push is also a function)


class Pushed:
    """A dataset pushed from the home (so its state is up to date), and the check's inputs."""

    def __init__(self, home: Home, name: str) -> None:
        self.home, self.name = home, name
        self.path = home.path(name)

    def check(self) -> tuple[int, int] | None:
        state = self.home.load_state(self.name)
        assert state is not None
        return push._unchanged(self.path, local_groups(validate_dataset_dir(self.path)), state)

    def shares(self) -> list[list[str]]:
        state = self.home.load_state(self.name)
        assert state is not None
        shares = push._shares(local_groups(validate_dataset_dir(self.path)), state)
        assert shares is not None
        return shares

    def file_of(self, share: int) -> Path:
        """A file of a partition that this share (0: this process, 1: the child) checks."""
        group = next(g for g in self.shares()[share] if g != ".")
        return min((self.path / group).rglob("*.txt"))


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The command lines of the processes started (through subprocess.Popen) while the test runs."""
    started: list[list[str]] = []
    real = subprocess.Popen

    def spy(args: Any, *a: Any, **kw: Any) -> subprocess.Popen:
        started.append(list(args))
        return real(args, *a, **kw)

    monkeypatch.setattr(subprocess, "Popen", spy)
    return started


@pytest.fixture
def pushed(file_remote, make_dataset, monkeypatch: pytest.MonkeyPatch) -> Pushed:
    """Four partitions of unequal sizes, a file outside data/ and an empty folder; the check is
    shared between this process and one child whatever the size and CPUs."""
    files = {f"p{p}/{d}/{i:02d}.txt": f"{p}{d}{i}\n".encode() for p in range(4) for d in "ab" for i in range(3 + p)}
    src = make_dataset("ds", files, extra={"README.md": b"hi\n"})
    (src / "data" / "p1" / "empty").mkdir()
    cfg = file_remote.config()
    etc.register(src, "ds", config=cfg)
    etc.push("ds", config=cfg)
    monkeypatch.setattr(push, "SHARED_CHECK_BYTES", 0)
    monkeypatch.setattr(push, "_cpus", lambda: 2)
    return Pushed(Home(Path(cfg.home_path)), "ds")


def serial(pushed: Pushed, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int] | None:
    with monkeypatch.context() as m:
        m.setattr(push, "SHARED_CHECK_BYTES", 1 << 62)
        return pushed.check()


def test_an_unchanged_copy_is_unchanged_either_way(pushed, children, monkeypatch):
    expected = serial(pushed, monkeypatch)
    assert not children
    assert expected == (2 * (3 + 4 + 5 + 6) + 1, sum(2 * (3 + p) * 4 for p in range(4)) + 3)
    assert pushed.check() == expected
    assert len(children) == 1 and children[0][-1] == recheck.__file__
    assert sorted(g for share in pushed.shares() for g in share) == ['.', 'data/p0', 'data/p1', 'data/p2', 'data/p3']


def _touch(f: Path) -> None:
    st = f.stat()
    f.write_bytes(bytes(reversed(f.read_bytes())))  # same size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def _chmod(f: Path) -> None:
    f.chmod(0o755)


def _add(f: Path) -> None:
    (f.parent / "zz-new.txt").write_bytes(b"new\n")


def _remove(f: Path) -> None:
    f.unlink()


def _remove_last(f: Path) -> None:
    """Only the records left over once the scan ends tell."""
    max(f.parents[1].rglob("*.txt")).unlink()


def _mkdir(f: Path) -> None:
    (f.parent / "new-empty").mkdir()


def _fill_empty(f: Path) -> None:
    for empty in f.parents[1].rglob("empty"):
        (empty / "x.txt").write_bytes(b"x\n")


def _symlink(f: Path) -> None:
    (f.parent / "zz-link.txt").symlink_to(f.name)


def _replace_by_link(f: Path) -> None:
    f.unlink()
    f.symlink_to(f.parent / "01.txt")


CHANGES: list[Callable[[Path], None]] = [_touch, _chmod, _add, _remove, _remove_last, _mkdir, _symlink, _replace_by_link]


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.__name__.strip("_"))
@pytest.mark.parametrize("share", [1, 0], ids=["child", "parent"])
def test_a_change_is_seen_either_way(pushed, children, monkeypatch, change, share):
    change(pushed.file_of(share))
    assert serial(pushed, monkeypatch) is None
    assert pushed.check() is None
    assert len(children) == 1


def test_filling_the_empty_folder_is_seen_either_way(pushed, children, monkeypatch):
    assert "data/p1" in pushed.shares()[1]  # the largest partitions go first: p3 here, p2 and p1 there
    _fill_empty(pushed.path / "data" / "p1" / "a" / "00.txt")
    assert serial(pushed, monkeypatch) is None
    assert pushed.check() is None and children


def test_a_push_stays_up_to_date_with_the_check_shared(pushed, children, file_remote):
    report = etc.push_report("ds", config=file_remote.config())
    assert report.up_to_date and report.version == 1 and report.files == 37
    assert len(children) == 1


@pytest.mark.parametrize("executable", ["/nonexistent/python", "/bin/false", "crash", "garbage", "mistyped"])
@pytest.mark.parametrize("changed", [False, True])
def test_a_failed_child_means_the_serial_check(pushed, children, monkeypatch, tmp_path, executable, changed):
    """A child that cannot start, dies or answers nonsense: its share is checked here instead,
    so a change in it is still seen and an unchanged copy is still counted in full."""
    if changed:
        _touch(pushed.file_of(1))
    expected = serial(pushed, monkeypatch)
    assert (expected is None) == changed
    if executable in ("crash", "garbage", "mistyped"):
        script = tmp_path / f"{executable}.py"
        script.write_text({"crash": "import os; os.abort()", "garbage": "print('[1, 2]')",
                           "mistyped": "print('[1, 2, 3]')"}[executable])
        monkeypatch.setattr(recheck, "__file__", str(script))
    else:
        monkeypatch.setattr(sys, "executable", executable)
    assert pushed.check() == expected
    assert len(children) == 1


def test_a_small_state_is_checked_here(file_remote, make_dataset, children, monkeypatch):
    """No child below the threshold, with one CPU, with one group, or with the records in memory."""
    src = make_dataset("small", {f"p{p}/{i}.txt": b"x" for p in range(3) for i in range(3)})
    cfg = file_remote.config()
    etc.register(src, "small", config=cfg)
    etc.push("small", config=cfg)
    pushed = Pushed(Home(Path(cfg.home_path)), "small")
    groups = local_groups(validate_dataset_dir(pushed.path))
    state = pushed.home.load_state("small")
    assert state is not None
    monkeypatch.setattr(push, "_cpus", lambda: 2)
    assert push._shares(groups, state) is None  # below SHARED_CHECK_BYTES
    assert pushed.check() == (9, 9) and not children
    monkeypatch.setattr(push, "SHARED_CHECK_BYTES", 0)
    assert push._shares(groups, state) == [["data/p0", "data/p2"], [".", "data/p1"]]
    assert push._shares(groups[:1], state) is None
    monkeypatch.setattr(push, "_cpus", lambda: 1)
    assert push._shares(groups, state) is None
    monkeypatch.setattr(push, "_cpus", lambda: 2)
    in_memory = State(dirs=state.dirs)
    in_memory.files = dict(state.files)
    assert push._shares(groups, in_memory) is None
    assert push._unchanged(pushed.path, groups, in_memory) == (9, 9) and not children
