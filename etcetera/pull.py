"""Pull: bring the local copy of a dataset to a version of the remote's (latest by default).

The new copy is assembled in a staging folder (reusing unchanged local files by hard link,
downloading the rest) and swapped in whole, so the local copy is always a complete version.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Iterator, Sequence

from ._values import Value
from .dataset import Dataset, LocalFile, local_groups, scan_files, validate_dataset_dir, walk_group
from .errors import DatasetError, NotFoundError
from .home import FileRecord, Home, RecordsWriter, State, cached
from .manifest import FileEntry
from .names import check_name
from .packing import hash_file
from .progress import Progress
from .remote import Remote, VersionReader
from .spill import spill_db
from .transfer import download, file_mode

log = logging.getLogger("etcetera")


class PullReport(Value):
    """What a pull did: the local dataset it left, and how many bytes it downloaded."""

    __slots__ = ("dataset", "downloaded_bytes", "reused_files", "files", "up_to_date", "seconds")
    dataset: Dataset
    downloaded_bytes: int
    reused_files: int
    files: int
    up_to_date: bool
    seconds: float

    def __init__(self, dataset: Dataset, downloaded_bytes: int, reused_files: int, files: int, up_to_date: bool,
                 seconds: float) -> None:
        self.dataset, self.downloaded_bytes, self.reused_files = dataset, downloaded_bytes, reused_files
        self.files, self.up_to_date, self.seconds = files, up_to_date, seconds


def wanted_partitions(partitions: Sequence[str] | None) -> list[str] | None:
    """The sorted, checked partition names to pull; None for all of them."""
    if isinstance(partitions, str):
        partitions = [partitions]
    wanted = sorted(set(partitions)) if partitions else None
    for p in wanted or ():
        check_name(p, "partition name")
    return wanted


BATCH = 10_000  # entries fetched (and recorded) at a time: a pull's memory is about one batch's


def pull(home: Home, remote: Remote, name: str, version: int | None, *, workers: int, force: bool = False,
         partitions: Sequence[str] | None = None, quiet: bool | None = None) -> PullReport:
    """Bring the local copy of `name` to `version` of `remote` (latest when None).

    The version's metadata is read group by group and shard by shard, merged with the path-ordered
    scan of the local copy and its state's records, and fetched in batches: memory holds one batch
    whatever the number of files."""
    started = time.monotonic()
    wanted = wanted_partitions(partitions)
    home.clean_leftovers()
    with home.lock(name):
        target = version or remote.latest(name)
        if target is None:
            return _pull_legacy(remote, home, name, force, started)
        doc = remote.version(name, target)
        available = doc.partitions()
        missing = [p for p in wanted or () if p not in available]
        if missing:
            raise DatasetError(f"{name}@{target} has no partition {', '.join(missing)} (it has {', '.join(available)})")
        groups = doc.groups(wanted)  # only those partitions' metadata is read
        count, total = doc.counts(groups)

        with spill_db("local(sha TEXT, path TEXT)") as db:
            return _pull_version(home, remote, name, target, doc, groups, wanted, count, total, force, workers,
                                 quiet, started, _LocalIndex(db))


def _pull_version(home: Home, remote: Remote, name: str, target: int, doc: VersionReader, groups: list[str],
                  wanted: list[str] | None, count: int, total: int, force: bool, workers: int, quiet: bool | None,
                  started: float, index: _LocalIndex) -> PullReport:
    """The body of `pull` for a version of the current format, holding the lock."""
    dest = home.path(name)
    state = home.load_state(name)
    exists = dest.exists()
    if exists:
        edited = _local_edits(dest, state, doc, groups, index)
        if edited and not force:
            raise DatasetError(
                f"local {name} has changes not on the remote ({edited}): push them, or pull -f to discard them"
            )
        if state and state.version == target and state.partitions == wanted and not edited:
            return PullReport(Dataset(name, dest, target), 0, count, count, True, time.monotonic() - started)
        index.done()

    staged = home.staging(name)
    records: RecordsWriter | None = None
    try:
        records = home.new_records(name)
        nbytes = reused = 0
        dirs: list[str] = []
        with Progress(total, f"pull {name}@{target}", None if quiet is None else not quiet) as bar:
            for group in groups:
                local = _LocalGroup(dest, group, state) if exists else None
                entries = doc.entries(group)
                while batch := entries.upto_count(BATCH):
                    n, r = _fetch_batch(remote, batch, local, staged, f"{name}@{target}", workers, bar, records,
                                        index if exists else None, group)
                    nbytes += n
                    reused += r
                dirs.extend(entries.dirs)
        for d in dirs:
            (staged / d).mkdir(parents=True, exist_ok=True)
        (staged / "data").mkdir(exist_ok=True)
        if not any(os.scandir(staged / "data")):
            dirs.append("data")
        log.debug("%s@%s: %d files, %d reused from the local copy, %d bytes fetched",
                  name, target, count, reused, nbytes)
        new_state = State(version=target, remote=remote.url, partitions=wanted, dirs=sorted(dirs))
        new_state.use_records(records)
        home.install(name, staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        if records is not None:
            records.close()
            shutil.rmtree(records.folder, ignore_errors=True)
        raise
    home.save_state(name, new_state)
    return PullReport(Dataset(name, dest, target), nbytes, reused, count, False, time.monotonic() - started)


class _LocalIndex:
    """Content id -> path of the local copy's files whose content is known (checked by the
    up-to-date merge of `_local_edits`), in a temporary database on disk: a file the new version
    moved to another batch or partition is still linked, not downloaded, in bounded memory."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._rows: list[tuple[str, str]] = []

    def add(self, sha: str, rel: str) -> None:
        self._rows.append((sha, rel))
        if len(self._rows) >= 10_000:
            self._flush()

    def _flush(self) -> None:
        self._db.executemany("INSERT INTO local VALUES (?, ?)", self._rows)
        self._rows.clear()

    def done(self) -> None:
        self._flush()
        self._db.execute("CREATE INDEX local_sha ON local(sha)")

    def paths(self, shas: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for i in range(0, len(shas), 500):
            part = shas[i:i + 500]
            q = f"SELECT sha, path FROM local WHERE sha IN ({','.join('?' * len(part))})"
            out.update(self._db.execute(q, part).fetchall())
        return out


class _LocalGroup:
    """One group of the existing local copy, as a path-ordered merge of its scan and its state's
    records: which local files are unchanged since recorded, and their content ids."""

    def __init__(self, root: Path, group: str, state: State | None) -> None:
        self.root = root
        self._files = walk_group(root, group)
        self._records = state.records(group) if state else iter(())
        self._rec = next(self._records, None)

    def upto(self, path: str) -> Iterator[tuple[LocalFile, str]]:
        """The local files up to `path` whose recorded content id still holds, with that id."""
        for f in self._files:
            while self._rec is not None and self._rec[0] < f.rel:
                self._rec = next(self._records, None)
            if self._rec is not None and self._rec[0] == f.rel:
                hit = cached(self._rec[1], f)
                if hit is not None:
                    yield f, hit[0]
            if f.rel >= path:
                return


def _fetch_batch(remote: Remote, batch: list[FileEntry], local: _LocalGroup | None, staged: Path, where: str,
                 workers: int, bar: Progress, records: RecordsWriter, index: _LocalIndex | None,
                 group: str) -> tuple[int, int]:
    """Link what the local copy already has, download the rest, set modes and record each file
    (all of `group`).  Returns (bytes downloaded, files reused)."""
    reusable: dict[str, Path] = {}
    if local is not None:
        for f, sha in local.upto(batch[-1].path):
            reusable.setdefault(sha, local.root / f.rel)
        # Content the same stretch of the local copy does not have, it may have elsewhere (moved).
        elsewhere = index.paths(list({fe.sha256 for fe in batch if fe.size and fe.sha256 not in reusable})) \
            if index is not None else {}
        for sha, rel in elsewhere.items():
            reusable[sha] = local.root / rel
    to_fetch = []
    reused = 0
    for fe in batch:
        src = reusable.get(fe.sha256)
        if src is not None and _link_or_copy(src, staged / fe.path):
            reused += 1
        else:
            to_fetch.append(fe)
    written: dict[str, os.stat_result] = {}  # files the download gave their mode, with their stat
    download(remote.objects, to_fetch, staged, where, workers, bar, written)
    for fe in batch:
        target = f"{staged}/{fe.path}"
        st = written.get(target)
        if st is None:  # linked from the local copy, empty, or chunked
            os.chmod(target, file_mode(fe.executable))
            st = os.stat(target)
        chunks = [p.obj for p in fe.parts] if len(fe.parts) > 1 else None
        records.add(fe.path, FileRecord(st.st_size, st.st_mtime_ns, st.st_ino, fe.sha256, chunks, fe.executable),
                    group)
    return sum(f.size for f in to_fetch), reused


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


def _local_edits(root: Path, state: State | None, doc: VersionReader, groups: list[str],
                 index: _LocalIndex | None = None) -> str | None:
    """Describe the first local change since the last push/pull, or None when there is none.
    A merge, group by group, of the local scan, the state's records and the target's entries;
    files whose content it knows on the way go into `index`."""
    # A pull killed after installing the new copy but before saving its state leaves files
    # that are exactly what the target has: those are not local edits.
    local = set(local_groups(_partitions(root))) | set(state.groups() if state else ())
    any_file = False
    for group in sorted(local):
        target = doc.entries(group) if group in groups else None

        def matches(f: LocalFile) -> bool:
            fe = target.get(f.rel) if target else None
            same = fe is not None and hash_file(root / f.rel, f.size)[0] == fe.sha256
            if same and index is not None:
                index.add(fe.sha256, f.rel)  # type: ignore[union-attr]
            return same

        if state is None:
            for f in walk_group(root, group):
                any_file = True
                if not matches(f):
                    return "it was registered or created here and never pushed"
            continue
        records = state.records(group)
        rec = next(records, None)
        for f in walk_group(root, group):
            while rec is not None and rec[0] < f.rel:
                if target and target.get(rec[0]):  # deleting what the target drops loses nothing
                    return f"deleted {rec[0]}"
                rec = next(records, None)
            if rec is None or rec[0] != f.rel:
                if matches(f):
                    continue
                return f"new file {f.rel}"
            entry = rec[1]
            rec = next(records, None)
            if cached(entry, f) is None:
                sha, _ = hash_file(root / f.rel, f.size)
                if sha != entry.sha256:
                    fe = target.get(f.rel) if target else None
                    if fe is not None and fe.sha256 == sha:
                        if index is not None:
                            index.add(sha, f.rel)
                        continue  # already what the target has (an interrupted earlier pull)
                    return f"modified {f.rel}"
            if index is not None:
                index.add(entry.sha256, f.rel)
        while rec is not None:
            if target and target.get(rec[0]):
                return f"deleted {rec[0]}"
            rec = next(records, None)
    if state is None and not any_file:
        return "it was registered or created here and never pushed"
    return None


def _partitions(root: Path) -> list[str]:
    """The local copy's partition folders ([] when its data/ folder is gone)."""
    try:
        return sorted(e.name for e in os.scandir(root / "data") if e.is_dir(follow_symlinks=False))
    except FileNotFoundError:
        return []


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
