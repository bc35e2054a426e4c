"""The public Python API: what the `etc` command and the orchestrator plugins call.

Each function opens an `etcetera.Repository` for its configuration (default: `Config.load()`),
runs the operation on it and closes it, so no connection outlives the call.  The work itself
is in `local` (home-only commands), `push` and `pull`; a long-lived process that makes many
calls may keep one `Repository` open instead.
"""

from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING, Any, Sequence

from ._lazy import lazy_getattr
from .config import Config
from .dataset import Dataset
from .errors import EtcError
from .names import parse_ref_or_tag

if TYPE_CHECKING:
    from .gc import GcReport
    from .pull import PullReport
    from .push import PushReport
    from .repository import Repository
    from .tags import TagChange

# Imported on first use (PEP 562): `import etcetera` and the home-only commands do not load the
# push, pull and remote machinery.
_LAZY = {"GcReport": "gc", "PullReport": "pull", "PushReport": "push", "Repository": "repository",
         "TagChange": "tags"}


__getattr__ = lazy_getattr(globals(), _LAZY)


def _open(config: Config | None) -> Repository:
    from .repository import Repository

    return Repository(config)


def dataset(name: str, auto_pull: bool = False, config: Config | None = None) -> Dataset:
    """The local dataset `name` (or `name@version`); with auto_pull, fetch it when it is not here."""
    with _open(config) as repo:
        return repo.dataset(name, auto_pull)


def register(path: str | os.PathLike, name: str | None = None, *, config: Config | None = None,
             force: bool = False) -> Dataset:
    """Copy the dataset folder `path` into the home as `name` (default: the folder's name)."""
    with _open(config) as repo:
        return repo.register(path, name, force=force)


def create(name: str, partitions: Sequence[str] = ("train", "test"), *, config: Config | None = None,
           force: bool = False) -> Dataset:
    """An empty dataset with the given partition folders, ready to fill."""
    with _open(config) as repo:
        return repo.create(name, partitions, force=force)


def purge(name: str, *, config: Config | None = None) -> None:
    """Delete the local copy of `name` (the remote is untouched)."""
    with _open(config) as repo:
        repo.purge(name)


def ls(remote: bool = False, *, config: Config | None = None) -> list[str]:
    """Names of local datasets, or of the remote's datasets."""
    with _open(config) as repo:
        return repo.ls(remote)


def list_local(config: Config) -> dict[str, int | None]:
    """Local datasets with the version each copy is at (None: not pushed)."""
    with _open(config) as repo:
        return repo.list_local()


def list_remote(config: Config) -> dict[str, int | None]:
    """Remote datasets with their latest version (None: a 0.0.x archive)."""
    with _open(config) as repo:
        return repo.list_remote()


def versions(name: str, *, config: Config | None = None) -> list[int]:
    """The remote's versions of `name`, newest first."""
    with _open(config) as repo:
        return repo.versions(name)


def info(ref: str, *, remote: bool = False, config: Config | None = None) -> dict[str, Any]:
    """Summary of a dataset: partitions with file counts and bytes, version, and for remote
    versions when and by whom it was pushed."""
    with _open(config) as repo:
        return repo.info(ref, remote=remote)


def tags(name: str, *, config: Config | None = None) -> dict[str, int]:
    """The remote's tags of `name` with the version each points at, sorted by tag."""
    with _open(config) as repo:
        return repo.tags(name)


def tag(ref: str, tag: str, *, delete: bool = False, config: Config | None = None) -> TagChange:
    """Point `tag` at the version `ref` names ("birds@3", "birds@other-tag", "birds@latest"), or
    with `delete` remove it (`ref` is then the name); returns what changed.  A tag moved by
    someone else meanwhile raises ConflictError and changes nothing."""
    with _open(config) as repo:
        return repo.tag(ref, tag, delete=delete)


def gc(*, config: Config | None = None, grace_hours: float | None = None, dry_run: bool = False) -> GcReport:
    """Delete remote objects that no version references and that are older than the grace period."""
    with _open(config) as repo:
        return repo.gc(grace_hours=grace_hours, dry_run=dry_run)


def push(name: str, *, config: Config | None = None, force: bool = False, quiet: bool | None = None,
         source: str | os.PathLike | None = None) -> str:
    """Publish the local dataset `name` as a new version; return 'name@version'.

    With `source`, publish the dataset folder `source` as `name` straight from where it is:
    nothing is copied into the home (which keeps only the folder's content ids, so an unchanged
    folder is not read again), the folder is never modified, and a file changed while it is
    uploaded fails the push.  What `register` + `push` do, without a second copy on disk.  A later
    `push(name)` without `source` publishes that folder again while `name` has no home copy."""
    return push_report(name, config=config, force=force, quiet=quiet, source=source).ref


def push_report(name: str, *, config: Config | None = None, force: bool = False,
                quiet: bool | None = None, source: str | os.PathLike | None = None) -> PushReport:
    """`push`, with what it did: the version, the files and the bytes uploaded."""
    with _open(config) as repo:
        return repo.push_report(name, force=force, quiet=quiet, source=source)


def pull(ref: str, *, config: Config | None = None, force: bool = False,
         partitions: Sequence[str] | None = None, quiet: bool | None = None) -> Dataset:
    """Bring the local copy of `name[@version]` to that version (latest by default)."""
    return pull_report(ref, config=config, force=force, partitions=partitions, quiet=quiet).dataset


def pull_report(ref: str, *, config: Config | None = None, force: bool = False,
                partitions: Sequence[str] | None = None, quiet: bool | None = None) -> PullReport:
    """`pull`, with what it did: the files reused and the bytes downloaded."""
    with _open(config) as repo:
        return repo.pull_report(ref, force=force, partitions=partitions, quiet=quiet)


def open(ref: str, path: str, mode: str = "rb", config: Config | None = None, **options: Any) -> IO:
    """A file of a published version, read from the remote without pulling the dataset: only
    the ranges read are fetched, each verified (`IntegrityError` if the remote copy is damaged).
    `mode` is "rb" or "r" (text); `options` are the etc:// storage options (`cache=True`, ...).
    Needs `pip install 'etcetera[fsspec]'`."""
    try:
        from .fs import EtcFileSystem
    except ImportError as exc:
        if (exc.name or "").split(".")[0] != "fsspec":
            raise
        raise EtcError("etc.open needs fsspec: pip install 'etcetera[fsspec]'") from None
    parse_ref_or_tag(ref)
    fs = EtcFileSystem(config=config if config is not None else Config.load(), **options)
    return fs.open(f"{ref}/{path.lstrip('/')}", mode)


__all__ = ["open", "dataset", "register", "create", "purge", "ls", "list_local", "list_remote", "versions", "info",
           "push", "pull", "gc", "tag", "tags", "TagChange", "push_report", "pull_report", "PushReport", "PullReport", "Repository", "EtcError"]
