"""Pull: bring the local copy of a dataset to a version of the remote's (latest by default).

The new copy is assembled in a staging folder (reusing unchanged local files by hard link,
downloading the rest) and swapped in whole, so the local copy is always a complete version.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .dataset import Dataset, LocalFile, partition_of, scan_files, validate_dataset_dir
from .errors import DatasetError, NotFoundError
from .home import Home, State
from .manifest import Manifest
from .names import check_name
from .packing import hash_file
from .progress import Progress
from .remote import Remote
from .transfer import download

log = logging.getLogger("etcetera")


@dataclass
class PullReport:
    """What a pull did: the local dataset it left, and how many bytes it downloaded."""

    dataset: Dataset
    downloaded_bytes: int
    reused_files: int
    files: int
    up_to_date: bool
    seconds: float


def wanted_partitions(partitions: Sequence[str] | None) -> list[str] | None:
    """The sorted, checked partition names to pull; None for all of them."""
    if isinstance(partitions, str):
        partitions = [partitions]
    wanted = sorted(set(partitions)) if partitions else None
    for p in wanted or ():
        check_name(p, "partition name")
    return wanted


def pull(home: Home, remote: Remote, name: str, version: int | None, *, workers: int, force: bool = False,
         partitions: Sequence[str] | None = None, quiet: bool | None = None) -> PullReport:
    """Bring the local copy of `name` to `version` of `remote` (latest when None)."""
    started = time.monotonic()
    wanted = wanted_partitions(partitions)
    home.clean_leftovers()
    with home.lock(name):
        target = version or remote.latest(name)
        if target is None:
            return _pull_legacy(remote, home, name, force, started)
        manifest = remote.manifest(name, target, wanted)  # only those partitions' metadata
        available = manifest.partitions()
        missing = [p for p in wanted or () if p not in available]
        if missing:
            raise DatasetError(f"{name}@{target} has no partition {', '.join(missing)} (it has {', '.join(available)})")
        selected = [f for f in manifest.files if wanted is None or partition_of(f.path) in (None, *wanted)]
        dirs = [d for d in manifest.dirs if wanted is None or partition_of(d, folder=True) in (None, *wanted)]

        dest = home.path(name)
        state = home.load_state(name)
        local_files: list[LocalFile] = []
        reusable: dict[str, Path] = {}
        if dest.exists():
            local_files, _ = scan_files(dest)
            edited = _local_edits(dest, local_files, state, manifest)
            if edited and not force:
                raise DatasetError(
                    f"local {name} has changes not on the remote ({edited}): push them, or pull -f to discard them"
                )
            if state and state.version == target and state.partitions == wanted and not edited:
                return PullReport(Dataset(name, dest, target), 0, len(selected), len(selected), True,
                                  time.monotonic() - started)
            for f in local_files:
                cached = state.cached_hash(f) if state else None
                if cached:
                    reusable.setdefault(cached[0], dest / f.rel)

        staged = home.staging(name)
        try:
            to_fetch = []
            reused = 0
            for fe in selected:
                src = reusable.get(fe.sha256)
                if src is not None and _link_or_copy(src, staged / fe.path):
                    reused += 1
                else:
                    to_fetch.append(fe)
            for d in dirs:
                (staged / d).mkdir(parents=True, exist_ok=True)
            nbytes = sum(f.size for f in to_fetch)
            log.debug("%s@%s: %d files, %d reused from the local copy, %d to fetch (%d bytes)",
                      name, target, len(selected), reused, len(to_fetch), nbytes)
            with Progress(nbytes, f"pull {name}@{target}", None if quiet is None else not quiet) as bar:
                download(remote.objects, to_fetch, staged, f"{name}@{target}", workers, bar)
            for fe in selected:
                os.chmod(staged / fe.path, 0o755 if fe.executable else 0o644)
            (staged / "data").mkdir(exist_ok=True)
            new_state = State(version=target, remote=remote.url, partitions=wanted)
            ids = {fe.path: (fe.sha256, tuple(p.obj for p in fe.parts) if len(fe.parts) > 1 else None)
                   for fe in selected}
            files_now, dirs_now = scan_files(staged)
            new_state.dirs = sorted(dirs_now)
            for f in files_now:
                new_state.remember(f, *ids[f.rel])
            home.install(name, staged)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        home.save_state(name, new_state)
    return PullReport(Dataset(name, dest, target), nbytes, reused, len(selected), False, time.monotonic() - started)


def _link_or_copy(src: Path, dst: Path) -> bool:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
        return True
    except OSError:
        try:
            shutil.copy2(src, dst)
            return True
        except OSError:
            return False


def _local_edits(root: Path, files: list[LocalFile], state: State | None, target: Manifest) -> str | None:
    """Describe the first local change since the last push/pull, or None when there is none."""
    # A pull killed after installing the new copy but before saving its state leaves files
    # that are exactly what the target has: those are not local edits.
    by_path = {fe.path: fe.sha256 for fe in target.files}
    if state is None:
        if files and all(f.rel in by_path and hash_file(root / f.rel, f.size)[0] == by_path[f.rel] for f in files):
            return None
        return "it was registered or created here and never pushed"
    known = dict(state.files)
    for f in files:
        entry = known.pop(f.rel, None)
        if entry is None:
            if f.rel in by_path and hash_file(root / f.rel, f.size)[0] == by_path[f.rel]:
                continue
            return f"new file {f.rel}"
        if state.cached_hash(f) is None:
            sha, _ = hash_file(root / f.rel, f.size)
            if sha != entry.sha256:
                if by_path.get(f.rel) == sha:
                    continue  # already what the target has (an interrupted earlier pull)
                return f"modified {f.rel}"
    gone = [rel for rel in known if rel in by_path]  # deleting what the target drops loses nothing
    if gone:
        return f"deleted {gone[0]}"
    return None


def _pull_legacy(remote: Remote, home: Home, name: str, force: bool, started: float) -> PullReport:
    """Extract a 0.0.x `<name>.tgz` (a remote with no version of `name` in the current format)."""
    try:
        from . import legacy
    except ImportError:
        legacy = None  # type: ignore[assignment]
    if legacy is None or not legacy.legacy_exists(remote.storage, name):
        raise NotFoundError(f"dataset {name} is not on {remote.url}: etc list -r shows what is there")
    dest = home.path(name)
    if dest.exists() and not force:
        raise DatasetError(f"{name} exists locally: pull -f to replace it with the remote's {name}.tgz")
    staged = home.staging(name)
    try:
        legacy.extract(remote.storage, name, staged)
        validate_dataset_dir(staged)
        files, _ = scan_files(staged)  # refuse what a dataset may not hold before it becomes visible
        home.install(name, staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    home.drop_state(name)
    return PullReport(Dataset(name, dest, None), sum(f.size for f in files), 0, len(files), False,
                      time.monotonic() - started)
