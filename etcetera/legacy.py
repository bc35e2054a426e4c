"""Datasets published by etcetera 0.0.x: one `<name>.tgz` per dataset at the remote's root.

Read-only support: `etc list -r` shows them, `etc pull NAME` extracts one (a new push then
publishes it in the current format).  An archive is untrusted input, so extraction refuses
(with a `FormatError` naming the dataset and the member) absolute paths, `..` components,
symbolic or hard links pointing outside the dataset, and device, fifo or other special
members; nothing is ever written outside the destination.  Links that stay inside become
plain copies of their target, because a dataset holds only plain files.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath

from .errors import DatasetError, FormatError
from .names import DRIVE, check_name, is_absolute, is_name
from .storage import Storage

SUFFIX = ".tgz"


def legacy_names(storage: Storage) -> list[str]:
    """Names of the old-format datasets (`<name>.tgz` at the root), sorted."""
    names = set()
    for info in storage.list_top_level():
        key = info.key
        if "/" in key or not key.endswith(SUFFIX):
            continue
        name = key[: -len(SUFFIX)]
        if is_name(name):
            names.add(name)
    return sorted(names)


def legacy_exists(storage: Storage, name: str) -> bool:
    """Whether the remote holds an old-format `<name>.tgz`."""
    return storage.exists(check_name(name) + SUFFIX)


def extract(storage: Storage, name: str, dest: Path) -> None:
    """Download `<name>.tgz` (streamed to a temporary file beside `dest`) and extract it safely
    into the empty directory `dest`, which then holds the dataset folder's contents."""
    check_name(name)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise DatasetError(f"cannot extract {name}{SUFFIX} into {dest}: the folder is not empty")
    label = f"{name}{SUFFIX} on {storage.url}"
    with tempfile.TemporaryFile(dir=dest.parent, prefix=f".{name}-", suffix=SUFFIX) as tmp:
        for block in storage.read(name + SUFFIX):
            tmp.write(block)
        tmp.seek(0)
        try:
            with tarfile.open(fileobj=tmp, mode="r:*") as tar:
                _extract_all(tar, label, dest)
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            raise FormatError(f"{label} is not a readable tar archive ({type(exc).__name__}): "
                              f"the old dataset is damaged") from None


def _extract_all(tar: tarfile.TarFile, label: str, dest: Path) -> None:
    members = tar.getmembers()
    strip = _wrapper_dir(members, label)
    links: list[tuple[str, str, str]] = []  # (path in dest, target path in dest, member name)
    files: set[str] = set()
    for member in members:
        rel = _inside_path(member.name, strip, label, member.name)
        if rel is None:
            continue  # the stripped wrapper directory itself, or '.'
        if member.isdir():
            _safe_extract(tar, member, rel, dest, label)
        elif member.isreg():
            _safe_extract(tar, member, rel, dest, label)
            files.add(rel)
        elif member.issym():
            target = member.linkname
            if not target or PurePosixPath(target).is_absolute() or DRIVE.match(target):
                raise FormatError(f"{label}: member {member.name!r} is a link pointing outside the dataset: refused")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
            if resolved == ".." or resolved.startswith("../") or resolved == ".":
                raise FormatError(f"{label}: member {member.name!r} is a link pointing outside the dataset: refused")
            links.append((rel, resolved, member.name))
        elif member.islnk():
            target = _inside_path(member.linkname, strip, label, member.name, link=True)
            if target is None:
                raise FormatError(f"{label}: member {member.name!r} is a link pointing outside the dataset: refused")
            links.append((rel, target, member.name))
        elif member.ischr() or member.isblk() or member.isfifo():
            raise FormatError(f"{label}: member {member.name!r} is a device or fifo: refused")
        else:
            raise FormatError(f"{label}: member {member.name!r} is not a plain file or directory: refused")
    root = os.path.realpath(dest)
    for rel, target, member_name in links:
        source = os.path.realpath(os.path.join(root, target))
        if os.path.commonpath([root, source]) != root:
            raise FormatError(f"{label}: member {member_name!r} is a link pointing outside the dataset: refused")
        if not os.path.isfile(source) or os.path.islink(source):
            raise FormatError(f"{label}: member {member_name!r} links to {target!r}, which is not a file in the archive")
        out = os.path.join(root, rel)
        if os.path.commonpath([root, os.path.realpath(os.path.dirname(out))]) != root:
            raise FormatError(f"{label}: member {member_name!r} would be written outside the dataset: refused")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if os.path.lexists(out):
            os.unlink(out)
        shutil.copyfile(source, out)


def _wrapper_dir(members: list[tarfile.TarInfo], label: str) -> str | None:
    """The single top-level directory to strip when it wraps the dataset (holds data/), else None."""
    tops = set()
    for m in members:
        parts = _parts(m.name, label, m.name)
        if parts:
            tops.add(parts[0])
    if len(tops) != 1:
        return None
    (top,) = tops
    holds_data = any(_parts(m.name, label, m.name)[1:2] == ("data",) for m in members)
    is_dir = all(len(_parts(m.name, label, m.name)) > 1 or m.isdir() for m in members if _parts(m.name, label, m.name))
    return top if holds_data and is_dir else None


def _parts(name: str, label: str, member: str) -> tuple[str, ...]:
    """Path components of an archive name, refusing absolute paths and '..'."""
    if is_absolute(name):
        raise FormatError(f"{label}: member {member!r} has an absolute path: refused")
    parts = PurePosixPath(name).parts
    if ".." in parts:
        raise FormatError(f"{label}: member {member!r} has a '..' path component: refused")
    return parts


def _inside_path(name: str, strip: str | None, label: str, member: str, link: bool = False) -> str | None:
    """The member's path relative to dest, or None for the wrapper directory itself."""
    try:
        parts = _parts(name, label, member)
    except FormatError:
        if link:
            return None
        raise
    if strip is not None:
        if not parts or parts[0] != strip:
            return None
        parts = parts[1:]
    return "/".join(parts) if parts else None


def _safe_extract(tar: tarfile.TarFile, member: tarfile.TarInfo, rel: str, dest: Path, label: str) -> None:
    """Extract one file or directory under its (stripped) name, through tarfile's 'data' filter."""
    renamed = member.replace(name=rel, deep=False)
    try:
        tar.extract(renamed, dest, set_attrs=True, filter="data")
    except tarfile.FilterError as exc:
        raise FormatError(f"{label}: member {member.name!r} refused ({type(exc).__name__})") from None


__all__ = ["legacy_names", "legacy_exists", "extract", "SUFFIX"]
