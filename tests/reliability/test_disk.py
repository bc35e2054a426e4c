"""Disk full and read-only homes/remotes: a clear one-line error and nothing half-written.

A full disk is a real 1 MiB tmpfs when the tests may mount one (root); otherwise the `etc`
process runs with RLIMIT_FSIZE, so a write past the limit fails with EFBIG the same way.
A read-only home is a tmpfs remounted read-only (root) or a folder without write permission.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

import etcetera as etc

from .reltools import ETC, KiB, MiB, env_for, one_line_error, tree, write_dataset


@contextlib.contextmanager
def tmpfs(path: Path, size: str, readonly: bool = False) -> Iterator[bool]:
    """Mount a tmpfs of `size` at path; yields False when mounting is not possible here."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        yield False
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        yield False
        return
    try:
        if readonly:
            (path / ".etc").mkdir()  # a home someone used before, now on a read-only disk
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)
        yield True
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fsize_limit(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def run_etc(*args: str, toml: Path, user: Path, fsize: int | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*ETC, "--config", str(toml), *args], env=env_for(user), capture_output=True,
                          text=True, timeout=120, preexec_fn=_fsize_limit(fsize) if fsize else None)


def _no_leftovers(home: Path) -> None:
    for sub in ("tmp", "trash"):
        folder = home / ".etc" / sub
        assert not folder.is_dir() or list(folder.iterdir()) == [], f"leftovers in {folder}"


def test_pull_into_a_full_disk(file_remote, tmp_path, user):
    a = file_remote.config("a")
    src = write_dataset(tmp_path / "src" / "big", seed=51, small=8, small_size=512 * KiB)  # 4 MiB
    etc.register(src, config=a)
    etc.push("big", config=a)
    small = write_dataset(tmp_path / "src" / "small", seed=52, small=2, small_size=KiB)
    etc.register(small, config=a)
    etc.push("small", config=a)

    home = tmp_path / "fullhome"
    with tmpfs(home, "1m") as mounted:
        toml = file_remote.toml("fullhome")
        fsize = None if mounted else 256 * KiB  # each big file is 512 KiB
        ok = run_etc("pull", "small", toml=toml, user=user, fsize=fsize)
        assert ok.returncode == 0, ok.stderr
        proc = run_etc("pull", "big", toml=toml, user=user, fsize=fsize)
        line = one_line_error(proc)
        assert "No space left" in line or "too large" in line.lower(), line
        assert not (home / "big").exists()
        _no_leftovers(home)
        assert tree(home / "small") == tree(small)  # the other dataset is untouched
        if mounted:
            assert shutil.disk_usage(home).used < 256 * KiB  # the staged bytes were removed


def test_push_to_a_full_remote(tmp_path, user):
    remote_dir = tmp_path / "fullremote"
    src = write_dataset(tmp_path / "src" / "big", seed=53, small=8, small_size=512 * KiB)
    with tmpfs(remote_dir, "1m") as mounted:
        if not mounted:
            pytest.skip("needs a small filesystem to fill (root and mount)")
        toml = tmp_path / "full.toml"
        toml.write_text(f'url = "file://{remote_dir}"\nhome = "{tmp_path / "h"}"\n')
        assert run_etc("register", str(src), toml=toml, user=user).returncode == 0
        proc = run_etc("push", "big", toml=toml, user=user)
        one_line_error(proc, "No space left", "file://")
        assert not (remote_dir / "datasets").exists() or not any((remote_dir / "datasets").rglob("*.json.gz"))
        assert not [p for p in remote_dir.rglob(".tmp-*")], "half-written objects left behind"


def test_register_into_a_full_home(tmp_path, user):
    src = write_dataset(tmp_path / "src" / "big", seed=54, small=8, small_size=512 * KiB)
    home = tmp_path / "fullhome"
    with tmpfs(home, "1m") as mounted:
        toml = tmp_path / "h.toml"
        toml.write_text(f'home = "{home}"\n')
        proc = run_etc("register", str(src), toml=toml, user=user, fsize=None if mounted else 256 * KiB)
        line = one_line_error(proc, "big")
        assert "No space left" in line or "too large" in line.lower(), line
        assert not (home / "big").exists()
        _no_leftovers(home)


@contextlib.contextmanager
def readonly_home(path: Path) -> Iterator[None]:
    with tmpfs(path, "1m", readonly=True) as mounted:
        if mounted:
            yield
            return
        if os.geteuid() == 0:
            pytest.skip("root ignores permissions and cannot mount here: no way to make a read-only home")
        (path / ".etc").mkdir(parents=True, exist_ok=True)
        for p in (path / ".etc", path):
            p.chmod(0o555)
        try:
            yield
        finally:
            for p in (path, path / ".etc"):
                p.chmod(0o755)


@pytest.mark.parametrize("command", ["pull", "register", "create"])
def test_read_only_home(command, file_remote, tmp_path, user):
    a = file_remote.config("a")
    src = write_dataset(tmp_path / "src" / "ro", seed=55, small=3, small_size=KiB)
    etc.register(src, config=a)
    etc.push("ro", config=a)
    home = tmp_path / "rohome"
    with readonly_home(home):
        toml = file_remote.toml("rohome")
        args = {"pull": ["pull", "ro"], "register": ["register", str(src)], "create": ["create", "ro"]}[command]
        proc = run_etc(*args, toml=toml, user=user)
        one_line_error(proc, str(home))
        assert sorted(p.name for p in home.iterdir()) == [".etc"]
        assert list((home / ".etc").iterdir()) == []
