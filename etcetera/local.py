"""Commands on the local home only: register, create, purge and list datasets; no remote involved."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Sequence

from .dataset import Dataset, validate_dataset_dir, walk_files
from .errors import DatasetError
from .home import Home, State
from .names import check_name


def register(home: Home, path: str | os.PathLike, name: str | None = None, *, force: bool = False) -> Dataset:
    """Copy the dataset folder `path` into the home as `name` (default: the folder's name)."""
    src = Path(path).expanduser().absolute()
    name = check_name(name if name is not None else src.name)
    validate_dataset_dir(src)
    for _ in walk_files(src):  # refuse links and special files before copying anything (one at a time)
        pass
    with home.lock(name):
        if home.path(name).exists() and not force:
            raise DatasetError(f"{name} is already registered in {home.root}: use -f to replace it")
        if home.path(name).resolve() == src.resolve():
            return Dataset(name, src, (home.load_state(name) or State()).version)
        staged = home.staging(name)
        try:
            shutil.copytree(src, staged, dirs_exist_ok=True, symlinks=True)
            home.install(name, staged)
        except OSError as exc:
            shutil.rmtree(staged, ignore_errors=True)
            raise DatasetError(f"cannot copy {src} into {home.root}: {exc.strerror or exc}") from None
        old = home.load_state(name)
        # Keep the version it was based on, so the next push is an ordinary new version.
        home.save_state(name, State(version=old.version if old else None, remote=old.remote if old else None))
    return Dataset(name, home.path(name), old.version if old else None)


def create(home: Home, name: str, partitions: Sequence[str] = ("train", "test"), *, force: bool = False) -> Dataset:
    """An empty dataset with the given partition folders, ready to fill."""
    check_name(name)
    if isinstance(partitions, str):
        partitions = [partitions]
    if not partitions:
        raise DatasetError("a dataset needs at least one partition")
    for p in partitions:
        check_name(p, "partition name")
    with home.lock(name):
        if home.path(name).exists() and not force:
            raise DatasetError(f"{name} already exists in {home.root}: use -f to replace it")
        staged = home.staging(name)
        for p in partitions:
            (staged / "data" / p).mkdir(parents=True, exist_ok=True)
        home.install(name, staged)
        home.drop_state(name)
    return Dataset(name, home.path(name))


def purge(home: Home, name: str) -> None:
    """Delete the local copy of `name` (the remote is untouched)."""
    check_name(name)
    with home.lock(name):
        if not home.path(name).exists():
            raise DatasetError(f"{name} is not in {home.root}: nothing to purge (etc list shows what is)")
        home.remove(name)


def local_versions(home: Home) -> dict[str, int | None]:
    """Local datasets with the version each copy is at (None: never pushed nor pulled)."""
    out: dict[str, int | None] = {}
    for name in home.names():
        state = home.load_state(name)
        out[name] = state.version if state else None
    return out
