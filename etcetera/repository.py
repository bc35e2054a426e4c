"""`Repository`: the local home and the remote of one configuration, open for a session.

Every operation of the Python API runs on a Repository.  It opens the remote's storage client
only when an operation needs it, keeps it for the calls that follow, and `close()` (or leaving
a `with` block) releases its connections.  The module functions (`etcetera.push`, ...) open
and close one per call; a long-lived process may keep one open instead.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from . import local
from .config import Config
from .dataset import Dataset, validate_dataset_dir
from .errors import DatasetError, EtcError, NotFoundError
from .home import Home
from .names import check_name, check_tag, parse_ref_or_tag

# The remote side (push, pull, tags, storage clients) is imported by the operations that use it:
# the home-only ones (list, register, create, purge) then start without it.
if TYPE_CHECKING:
    from .gc import GcReport
    from .pull import PullReport
    from .push import PushReport
    from .remote import Remote
    from .tags import TagChange


def open_remote(config: Config) -> Remote:
    """The remote `config.url` names, with a new storage client."""
    from .remote import Remote
    from .storage import open_storage

    return Remote(open_storage(config))


class Repository:
    """The home and the remote of `config` (default: `Config.load()`), for one or many operations.

        with etcetera.Repository(config) as repo:
            repo.versions("sample")
            ds = repo.pull("sample")

    Safe to share between threads; unusable after `close()`.
    """

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else Config.load()
        self.home = Home(self.config.home_path)
        self._remote: Remote | None = None
        self._closed = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------ lifetime

    @property
    def remote(self) -> Remote:
        """The remote, opened on first use."""
        with self._lock:
            if self._closed:
                raise EtcError("this etcetera.Repository is closed: open a new one")
            if self._remote is None:
                self._remote = open_remote(self.config)
            return self._remote

    def close(self) -> None:
        """Release the remote's connections.  Closing twice is harmless."""
        with self._lock:
            remote, self._remote, self._closed = self._remote, None, True
        if remote is not None:
            remote.storage.close()

    def __enter__(self) -> "Repository":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Repository({self.config.url!r}, home={str(self.home.root)!r})"

    # ------------------------------------------------------------ local

    def resolve(self, ref: str) -> tuple[str, int | None]:
        """(name, version) for `name`, `name@N`, `name@TAG` or `name@latest`: a tag is looked up
        on the remote; a plain name gives None (the caller's default version)."""
        parsed = parse_ref_or_tag(ref)
        if parsed.tag is None:
            return parsed.name, parsed.version
        from .tags import resolve

        return parsed.name, resolve(self.remote, parsed)

    def dataset(self, name: str, auto_pull: bool = False) -> Dataset:
        """The local dataset `name` (or `name@version`, `name@TAG`); with auto_pull, fetch it when
        it is not here (or is another version)."""
        name, version = self.resolve(name)
        home = self.home
        if home.exists(name):
            state = home.load_state(name)
            have = state.version if state else None
            if version is None or version == have:
                return Dataset(name, home.path(name), have)
            if not auto_pull:
                raise DatasetError(f"local {name} is version {have}, not {version}: etc pull {name}@{version}")
        elif not auto_pull:
            raise DatasetError(
                f"dataset {name!r} is not in {home.root}: run `etc pull {name}` or pass auto_pull=True"
            )
        return self.pull(f"{name}@{version}" if version else name)

    def register(self, path: str | os.PathLike, name: str | None = None, *, force: bool = False) -> Dataset:
        """Copy the dataset folder `path` into the home as `name` (default: the folder's name)."""
        return local.register(self.home, path, name, force=force)

    def create(self, name: str, partitions: Sequence[str] = ("train", "test"), *, force: bool = False) -> Dataset:
        """An empty dataset with the given partition folders, ready to fill."""
        return local.create(self.home, name, partitions, force=force)

    def purge(self, name: str) -> None:
        """Delete the local copy of `name` (the remote is untouched)."""
        local.purge(self.home, name)

    def ls(self, remote: bool = False) -> list[str]:
        """Names of local datasets, or of the remote's datasets."""
        if not remote:
            return self.home.names()
        return list(self.list_remote())

    def list_local(self) -> dict[str, int | None]:
        """Local datasets with the version each copy is at (None: not pushed)."""
        return local.local_versions(self.home)

    # ------------------------------------------------------------ remote

    def list_remote(self) -> dict[str, int | None]:
        """Remote datasets with their latest version (None: a 0.0.x archive)."""
        r = self.remote
        found: dict[str, int | None] = dict(r.names())
        try:
            from . import legacy
        except ImportError:
            return found
        for name in legacy.legacy_names(r.storage):
            found.setdefault(name, None)
        return dict(sorted(found.items()))

    def versions(self, name: str) -> list[int]:
        """The remote's versions of `name`, newest first."""
        check_name(name)
        return self.remote.versions(name)

    def info(self, ref: str, *, remote: bool = False) -> dict[str, Any]:
        """Summary of a dataset: partitions with file counts and bytes, version, and for remote
        versions when and by whom it was pushed."""
        name, version = self.resolve(ref)
        if not remote:
            ds = self.dataset(name)
            if version is not None and ds.version != version:
                raise DatasetError(f"local {name} is version {ds.version}; use -r for {ref} on the remote")
            out = ds.summary()
            out["path"] = str(ds.path)
            return out
        from .catalog import OUTSIDE

        r = self.remote
        version = version or r.latest(name)
        if version is None:
            raise NotFoundError(f"{name} is not on {r.url}: etc list -r shows what is")
        head, counts = r.summary(name, version)  # the root alone: no partition's file list is read
        parts = {p: {"files": n, "bytes": b} for p, (n, b) in sorted(counts.items()) if p != OUTSIDE}
        return {"name": name, "version": version, "partitions": parts, "files": sum(n for n, _ in counts.values()),
                "bytes": sum(b for _, b in counts.values()), "created": head.created, "author": head.author,
                "remote": r.url}

    def tags(self, name: str) -> dict[str, int]:
        """The remote's tags of `name` with the version each points at, sorted by tag."""
        from .tags import tags

        return tags(self.remote, check_name(name))

    def tag(self, ref: str, tag: str, *, delete: bool = False) -> TagChange:
        """Point `tag` at the version `ref` names (`name@3`, `name@other-tag`, `name@latest`), or
        with `delete` remove it (`ref` is then the name).  Two people moving one tag at once: one
        wins, the other gets a ConflictError and nothing changes."""
        from .tags import delete_tag, set_tag

        parsed = parse_ref_or_tag(ref)
        check_tag(tag)  # before any remote access: bad input changes nothing
        self.remote.require_writable("tag")
        if delete:
            if parsed.version is not None or parsed.tag is not None:
                raise EtcError(f"a tag is deleted by name: etc tag --delete {parsed.name} {tag}")
            return delete_tag(self.remote, parsed.name, tag)
        return set_tag(self.remote, parsed, tag)

    def gc(self, *, grace_hours: float | None = None, dry_run: bool = False) -> "GcReport":
        """Delete remote objects that no version references and that are older than the grace period."""
        from . import gc as _gc

        grace = _gc.DEFAULT_GRACE_HOURS if grace_hours is None else grace_hours
        self.remote.require_writable("gc")
        return _gc.collect(self.remote, grace, dry_run, self.config.worker_count)

    def push(self, name: str, *, force: bool = False, quiet: bool | None = None,
             source: str | os.PathLike | None = None) -> str:
        """Publish the local dataset `name` as a new version; return 'name@version'.  With `source`,
        publish that dataset folder as `name` straight from where it is (no copy in the home)."""
        return self.push_report(name, force=force, quiet=quiet, source=source).ref

    def push_report(self, name: str, *, force: bool = False, quiet: bool | None = None,
                    source: str | os.PathLike | None = None) -> PushReport:
        """`push`, with what it did: the version, the files and the bytes uploaded."""
        from .push import push, require_local

        check_name(name)
        if source is None:
            require_local(self.home, name)
        else:
            validate_dataset_dir(Path(source).expanduser().absolute())  # before the remote is opened
        self.remote.require_writable("push")
        return push(self.home, self.remote, name, workers=self.config.worker_count, force=force, quiet=quiet,
                    source=source)

    def pull(self, ref: str, *, force: bool = False, partitions: Sequence[str] | None = None,
             quiet: bool | None = None) -> Dataset:
        """Bring the local copy of `name[@version|@tag]` to that version (latest by default)."""
        return self.pull_report(ref, force=force, partitions=partitions, quiet=quiet).dataset

    def pull_report(self, ref: str, *, force: bool = False, partitions: Sequence[str] | None = None,
                    quiet: bool | None = None) -> PullReport:
        """`pull`, with what it did: the files reused and the bytes downloaded."""
        from .pull import pull, wanted_partitions

        wanted = wanted_partitions(partitions)
        name, version = self.resolve(ref)
        return pull(self.home, self.remote, name, version, workers=self.config.worker_count, force=force,
                    partitions=wanted, quiet=quiet)
