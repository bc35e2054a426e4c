"""Stored objects altered (same length, other bytes) or truncated on the remote: `etc pull`
fails with one line naming the dataset and the file, and touches nothing local."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

import etcetera as etc
from etcetera.remote import Remote, object_key
from etcetera.storage import BytesSource, open_storage

from .reltools import MiB, etc_cli, one_line_error, tree, write_dataset

DAMAGES = {
    "flip-first": lambda raw: bytes([raw[0] ^ 1]) + raw[1:],
    "flip-last": lambda raw: raw[:-1] + bytes([raw[-1] ^ 0x80]),
    "swap-halves": lambda raw: raw[len(raw) // 2:] + raw[: len(raw) // 2],
    "truncate": lambda raw: raw[: len(raw) - 1],
    "empty": lambda raw: b"",
}
TARGETS = ["pack", "chunk"]  # a small file inside a pack, or one 16 MiB chunk of a large file


@pytest.fixture(params=["file", "s3"])
def backend(request, file_remote, tmp_path):
    if request.param == "file":
        return file_remote
    remote, _ = request.getfixturevalue("s3_proxied")()
    return remote


def _damage(config: etc.Config, name: str, version: int, target: str, how: str) -> list[str]:
    """Damage one object of name@version; return the paths of the files it holds."""
    storage = open_storage(config)
    manifest = Remote(storage).manifest(name, version)
    if target == "chunk":
        entry = next(f for f in manifest.files if len(f.parts) > 1)
        obj = entry.parts[-1].obj
    else:
        entry = next(f for f in manifest.files if f.size and f.path.startswith("data/test/"))
        obj = entry.parts[0].obj
    key = object_key(obj)
    storage.put(key, BytesSource(DAMAGES[how](storage.get(key))))
    return [f.path for f in manifest.files if any(p.obj == obj for p in f.parts)]


def _snapshot(home: Path) -> dict[str, str]:
    """Everything in the home, bookkeeping included (locks excepted: they are empty files)."""
    return {k: v for k, v in tree(home).items() if "/locks/" not in f"/{k}"} if home.exists() else {}


# Every damage on a packed small file; on a 16 MiB chunk only those the pack variants do not
# already cover in kind (flip-first is like flip-last, empty like truncate), to keep the suite fast.
CASES = [pytest.param(target, how, id=f"{target}-{how}") for target in TARGETS for how in DAMAGES
         if target == "pack" or how not in ("flip-first", "empty")]


@pytest.mark.parametrize("target, how", CASES)
def test_damaged_object_is_refused_with_one_line_and_nothing_local_changes(backend, target, how, tmp_path, user):
    a = backend.config("a")
    src = write_dataset(tmp_path / "src" / "ig", seed=41, small=8, large=(17 * MiB,) if target == "chunk" else ())
    etc.register(src, config=a)
    etc.push("ig", config=a)
    # b holds a complete older copy (@1); the damaged object belongs to @2 only.
    toml_b = backend.toml("b")
    assert etc_cli("pull", "ig", config=toml_b, user=user).returncode == 0
    local = a.home_path / "ig"
    shutil.rmtree(local / "data")
    write_dataset(local, seed=42, small=8, large=(17 * MiB,) if target == "chunk" else ())
    assert etc.push("ig", config=a) == "ig@2"
    paths = _damage(a, "ig", 2, target, how)

    for home, args in ((backend.tmp / "b", ["pull", "ig"]), (backend.tmp / "fresh", ["pull", "ig@2"])):
        before = _snapshot(home)
        started = time.monotonic()
        proc = etc_cli(*args, config=backend.toml(home.name), user=user)
        line = one_line_error(proc, "ig@2: data/", "corrupt")
        assert any(f"ig@2: {p} failed verification" in line for p in paths), line
        assert time.monotonic() - started < 20
        assert _snapshot(home) == before, "a failed pull changed the home"
    assert not (backend.tmp / "fresh" / "ig").exists()


def test_damage_is_an_integrity_error_in_the_api(file_remote, tmp_path):
    a = file_remote.config("a")
    src = write_dataset(tmp_path / "src" / "api", seed=43, small=1)
    etc.register(src, config=a)
    etc.push("api", config=a)
    (path,) = _damage(a, "api", 1, "pack", "truncate")
    with pytest.raises(etc.IntegrityError, match=f"api@1: {path} failed verification"):
        etc.pull("api", config=file_remote.config("b"))
    (path,) = _damage(a, "api", 1, "pack", "swap-halves")
    with pytest.raises(etc.IntegrityError, match=f"api@1: {path} failed verification"):
        etc.pull("api", config=file_remote.config("c"))
