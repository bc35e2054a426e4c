"""Commands on the local home only: register, create, purge and list datasets; no remote involved."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Sequence

from .dataset import Dataset, validate_dataset_dir
from .errors import DatasetError
from .home import Home, State
from .names import check_name


def register(home: Home, path: str | os.PathLike, name: str | None = None, *, force: bool = False) -> Dataset:
    """Copy the dataset folder `path` into the home as `name` (default: the folder's name).

    Every file is hashed as it is copied, and the copy's content ids are kept as the state's hash
    cache, so the push that follows does not read the copy again to hash it."""
    from .localcopy import copy_tree  # hashlib and threads: only this command needs them

    src = Path(path).expanduser().absolute()
    name = check_name(name if name is not None else src.name)
    validate_dataset_dir(src)
    with home.lock(name):
        if home.path(name).exists() and not force:
            raise DatasetError(f"{name} is already registered in {home.root}: use -f to replace it")
        if home.path(name).resolve() == src.resolve():
            return Dataset(name, src, (home.load_state(name) or State()).version)
        staged = home.staging(name)
        hashes = home.new_records(name)
        try:
            copy_tree(src, staged, hashes)
            hashes.close()
            home.install(name, staged)
        except BaseException as exc:
            hashes.close()
            shutil.rmtree(staged, ignore_errors=True)
            shutil.rmtree(hashes.folder, ignore_errors=True)
            if isinstance(exc, OSError):
                raise DatasetError(f"cannot copy {src} into {home.root}: {exc.strerror or exc}") from None
            raise
        old = home.load_state(name)
        # Keep the version it was based on, so the next push is an ordinary new version.  The copy's
        # content ids go in the hash cache, not the records: those say what that version held.
        state = State(version=old.version if old else None, remote=old.remote if old else None)
        state.use_hashes(hashes)
        home.save_state(name, state)
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
