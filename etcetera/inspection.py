"""Read-only looks at datasets: `diff` two versions, the `status` of a local copy, `verify` a copy.

Nothing here writes to the home or the remote.  Diff and status read manifests (metadata) and
the local hash cache, hashing a local file only when its stats changed; verify hashes every
local file, or checks the remote's objects (and, with deep, their bytes).  All of them stream
(see "streams" below): memory does not grow with the number of files, only with the differences
they report.
"""

from __future__ import annotations

import hashlib
import heapq
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

from ._values import FrozenValue, Value, set_field as _set
from .config import Config
from .dataset import LocalFile, batched, local_groups, walk_group
from .errors import DatasetError, NotFoundError
from .home import FileRecord, Home, State, cached
from .manifest import FileEntry
from .names import parse_ref_or_tag
from .packing import CHUNK, chunk_list_id, hash_file
from .remote import OBJECTS, Remote, VersionReader, object_key
from .repository import Repository
from .spill import batches, spill_db


class FileChange(FrozenValue):
    """One file that differs: added (old_size None), removed (new_size None) or changed."""

    __slots__ = ("path", "old_size", "new_size")
    path: str
    old_size: int | None
    new_size: int | None

    def __init__(self, path: str, old_size: int | None, new_size: int | None) -> None:
        _set(self, "path", path)
        _set(self, "old_size", old_size)
        _set(self, "new_size", new_size)


class Diff(Value):
    """What changed from `old` to `new`; a version of None is the local copy."""

    __slots__ = ("name", "old_version", "new_version", "added", "removed", "changed", "unchanged")
    name: str
    old_version: int | None
    new_version: int | None
    added: list[FileChange]
    removed: list[FileChange]
    changed: list[FileChange]
    unchanged: int

    def __init__(self, name: str, old_version: int | None, new_version: int | None,
                 added: list[FileChange] | None = None, removed: list[FileChange] | None = None,
                 changed: list[FileChange] | None = None, unchanged: int = 0) -> None:
        self.name, self.old_version, self.new_version = name, old_version, new_version
        self.added = [] if added is None else added
        self.removed = [] if removed is None else removed
        self.changed = [] if changed is None else changed
        self.unchanged = unchanged

    @property
    def old_ref(self) -> str:
        return _ref(self.name, self.old_version)

    @property
    def new_ref(self) -> str:
        return _ref(self.name, self.new_version)

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        """The `etc diff --json` document (README, "JSON output")."""
        return {
            "name": self.name,
            "old": {"version": self.old_version, "local": self.old_version is None},
            "new": {"version": self.new_version, "local": self.new_version is None},
            "added": [{"path": c.path, "size": c.new_size} for c in self.added],
            "removed": [{"path": c.path, "size": c.old_size} for c in self.removed],
            "changed": [{"path": c.path, "old_size": c.old_size, "new_size": c.new_size} for c in self.changed],
            "summary": {
                "added": len(self.added), "removed": len(self.removed), "changed": len(self.changed),
                "unchanged": self.unchanged,
                "bytes_added": sum(c.new_size or 0 for c in self.added),
                "bytes_removed": sum(c.old_size or 0 for c in self.removed),
            },
        }


class Status(Value):
    """Where a local copy stands: its base version, the remote's newer ones, and local edits."""

    __slots__ = ("name", "path", "version", "remote", "latest", "newer", "remote_checked", "added", "removed",
                 "modified", "verified")
    name: str
    path: str
    version: int | None  # the remote version the copy is based on; None: never pushed or pulled
    remote: str | None  # the remote that version came from
    latest: int | None  # the configured remote's newest version; None when it has none or was not asked
    newer: list[int]  # remote versions after `version`, oldest first
    remote_checked: bool  # False when no remote is configured
    added: list[FileChange]
    removed: list[FileChange]
    modified: list[FileChange]
    verified: bool  # every file re-hashed, rather than trusting unchanged stats

    def __init__(self, name: str, path: str, version: int | None, remote: str | None, latest: int | None,
                 newer: list[int] | None = None, remote_checked: bool = False, added: list[FileChange] | None = None,
                 removed: list[FileChange] | None = None, modified: list[FileChange] | None = None,
                 verified: bool = False) -> None:
        self.name, self.path, self.version, self.remote, self.latest = name, path, version, remote, latest
        self.newer = [] if newer is None else newer
        self.remote_checked = remote_checked
        self.added = [] if added is None else added
        self.removed = [] if removed is None else removed
        self.modified = [] if modified is None else modified
        self.verified = verified

    @property
    def clean(self) -> bool:
        return not (self.added or self.removed or self.modified)

    def to_dict(self) -> dict[str, Any]:
        """The `etc status --json` document (README, "JSON output")."""
        return {
            "name": self.name, "path": self.path, "version": self.version, "remote": self.remote,
            "latest": self.latest, "newer": self.newer, "remote_checked": self.remote_checked,
            "clean": self.clean, "verified": self.verified,
            "added": [{"path": c.path, "size": c.new_size} for c in self.added],
            "removed": [{"path": c.path, "size": c.old_size} for c in self.removed],
            "modified": [{"path": c.path, "old_size": c.old_size, "new_size": c.new_size} for c in self.modified],
        }


class Problem(FrozenValue):
    """One thing wrong: `issue` is missing, size, hash, mode or unexpected; `path` a dataset
    path (local) or an object key (remote)."""

    __slots__ = ("path", "issue", "detail")
    path: str
    issue: str
    detail: str

    def __init__(self, path: str, issue: str, detail: str) -> None:
        _set(self, "path", path)
        _set(self, "issue", issue)
        _set(self, "detail", detail)


class Verification(Value):
    """The result of checking a local copy, or a remote version's objects, against a manifest."""

    __slots__ = ("name", "version", "remote", "deep", "checked", "bytes", "problems")
    name: str
    version: int
    remote: bool
    deep: bool
    checked: int  # files (local) or objects (remote) checked
    bytes: int  # bytes read to check them
    problems: list[Problem]

    def __init__(self, name: str, version: int, remote: bool, deep: bool, checked: int, bytes: int,
                 problems: list[Problem] | None = None) -> None:
        self.name, self.version, self.remote, self.deep = name, version, remote, deep
        self.checked, self.bytes = checked, bytes
        self.problems = [] if problems is None else problems

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def ref(self) -> str:
        return _ref(self.name, self.version)

    def to_dict(self) -> dict[str, Any]:
        """The `etc verify --json` document (README, "JSON output")."""
        return {"name": self.name, "version": self.version, "remote": self.remote, "deep": self.deep,
                "checked": self.checked, "bytes": self.bytes, "ok": self.ok,
                "problems": [{"path": p.path, "issue": p.issue, "detail": p.detail} for p in self.problems]}


def _ref(name: str, version: int | None) -> str:
    return f"{name}@{version}" if version is not None else f"{name} (local)"


def _config(config: Config | None) -> Config:
    return config if config is not None else Config.load()


def _local(home: Home, name: str) -> Path:
    if not home.exists(name):
        raise DatasetError(f"{name} is not in {home.root}: `etc pull {name}` fetches it, `etc list` shows what is here")
    return home.path(name)


def _base_version(state: State | None, name: str, r: Remote, hint: str) -> int:
    """The version the local copy is based on, when it came from the remote `r`."""
    if state is None or state.version is None:
        raise DatasetError(f"local {name} was never pushed or pulled, so it has no version to compare with: "
                           + hint.format(name=name))
    if state.remote is not None and state.remote != r.url:
        raise DatasetError(f"local {name} is based on {name}@{state.version} of {state.remote}, not of {r.url}: "
                           + hint.format(name=name))
    return state.version


# ---------------------------------------------------------------- streams
#
# Every comparison here is a merge, group by group (the files outside data/, then each partition),
# of path-ordered streams: the local scan, the state's records, a version's shards.  Files are
# hashed, and entries compared, `BATCH` at a time, so memory holds a batch and the differences
# found, whatever the number of files (issue 13).

BATCH = 2000
OBJECT_BATCH = 64  # objects `verify -r` checks at a time (with their files' byte ranges)

A = TypeVar("A")
B = TypeVar("B")


def _merge(old: Iterable[tuple[str, A]], new: Iterable[tuple[str, B]]) -> Iterator[tuple[str, A | None, B | None]]:
    """Two path-ordered streams of (path, value) joined on path: (path, old value, new value)."""
    io, inew = iter(old), iter(new)
    x, y = next(io, None), next(inew, None)
    while x is not None or y is not None:
        if y is None or (x is not None and x[0] < y[0]):
            yield x[0], x[1], None  # type: ignore[index]
            x = next(io, None)
        elif x is None or y[0] < x[0]:
            yield y[0], None, y[1]
            y = next(inew, None)
        else:
            yield x[0], x[1], y[1]
            x, y = next(io, None), next(inew, None)


class _Records:
    """A group's state records, looked up in path order (a merge with the scan)."""

    def __init__(self, records: Iterator[tuple[str, FileRecord]]) -> None:
        self._it = records
        self._head = next(records, None)

    def get(self, rel: str) -> FileRecord | None:
        while self._head is not None and self._head[0] < rel:
            self._head = next(self._it, None)
        return self._head[1] if self._head is not None and self._head[0] == rel else None


def _hash_pool() -> ThreadPoolExecutor:
    # As many threads as a push hashes with: hashlib releases the GIL, the disk is the limit.
    return ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2)), thread_name_prefix="etc-hash")


def _hash_all(root: Path, files: list[LocalFile], pool: ThreadPoolExecutor) -> list[str]:
    return [sha for sha, _ in pool.map(lambda f: hash_file(root / f.rel, f.size), files)]


def _local_partitions(root: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(root / "data") if e.is_dir(follow_symlinks=False))
    except FileNotFoundError:
        return []


def _walk(root: Path, group: str) -> Iterator[LocalFile]:
    """The local files of a group in path order; '.' includes any stray file right in data/."""
    files = walk_group(root, group)
    if group != ".":
        return files
    stray = []
    try:
        with os.scandir(root / "data") as it:
            names = sorted(e.name for e in it if e.is_file(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        names = []
    for n in names:
        st = os.lstat(root / "data" / n)
        stray.append(LocalFile(f"data/{n}", st.st_size, st.st_mtime_ns, st.st_ino, bool(st.st_mode & 0o100)))
    return heapq.merge(files, stray, key=lambda f: f.rel) if stray else files


def _local_ids(root: Path, group: str, state: State | None, rehash: bool,
               pool: ThreadPoolExecutor) -> Iterator[tuple[LocalFile, str]]:
    """The group's local files with their content ids: from the state's records where the stats
    are unchanged (unless `rehash`), else read, a batch at a time."""
    records = _Records(state.records(group)) if state is not None and not rehash else None
    for batch in batched(_walk(root, group), BATCH):
        ids: list[str | None] = [None] * len(batch)
        todo: list[int] = []
        for i, f in enumerate(batch):
            hit = cached(records.get(f.rel), f) if records is not None else None
            # A large file's cached id is only usable when it names its chunk list (as the push's cache check).
            if hit is not None and (f.size <= CHUNK or (hit[1] and hit[0] == chunk_list_id(hit[1]))):
                ids[i] = hit[0]
            else:
                todo.append(i)
        for i, sha in zip(todo, _hash_all(root, [batch[i] for i in todo], pool)):
            ids[i] = sha
        yield from zip(batch, ids)  # type: ignore[misc]


def _entries(reader: VersionReader, group: str) -> Iterator[FileEntry]:
    """A group's file entries of a version in path order, read shard by shard."""
    entries = reader.entries(group)
    while batch := entries.upto_count(BATCH):
        yield from batch


# path -> (size, content id, executable), one group at a time
Side = Callable[[str], Iterator[tuple[str, tuple[int, str, bool]]]]


def _version_side(reader: VersionReader) -> tuple[set[str], Side]:
    groups = set(reader.groups())
    return groups, lambda g: ((fe.path, (fe.size, fe.sha256, fe.executable)) for fe in _entries(reader, g)) \
        if g in groups else iter(())


def _local_side(root: Path, state: State | None, base: VersionReader | None,
                pool: ThreadPoolExecutor) -> tuple[set[str], Side]:
    """The local copy as a push would publish it: its files, plus, for a partial copy, the base
    version's files of the partitions that were not pulled."""
    have = _local_partitions(root)
    local = set(local_groups(have))
    carried: set[str] = set()
    if state is not None and state.partitions is not None and base is not None:
        carried = {g for g in base.groups() if g != "." and g[5:] not in have}

    def items(g: str) -> Iterator[tuple[str, tuple[int, str, bool]]]:
        if g in local:
            return ((f.rel, (f.size, sha, f.executable)) for f, sha in _local_ids(root, g, state, False, pool))
        if g in carried:
            return ((fe.path, (fe.size, fe.sha256, fe.executable)) for fe in _entries(base, g))  # type: ignore[arg-type]
        return iter(())

    return local | carried, items


def _by_path(changes: list[FileChange]) -> list[FileChange]:
    changes.sort(key=lambda c: c.path)  # groups are merged one by one; '.' paths sort among data/'s
    return changes


# ---------------------------------------------------------------- diff


def diff(a: str, b: str | None = None, *, config: Config | None = None) -> Diff:
    """Files added, removed and changed from `a` to `b`, from manifests and the local hash cache.

    A side without @VERSION is the local copy: `diff("x")` compares the version the local copy
    is based on with the local copy, `diff("x@2")` compares x@2 with the local copy,
    `diff("x@2", "x@5")` two remote versions; a tag (`x@stable`, `x@latest`) names the remote
    version it points at.  No data is downloaded.
    """
    name = parse_ref_or_tag(a).name
    if b is not None and (other := parse_ref_or_tag(b).name) != name:
        raise DatasetError(f"cannot diff {name} with {other}: both sides must be versions of one dataset, "
                           f"e.g. etc diff {name}@1 {name}@2")
    with Repository(_config(config)) as repo:
        old_v = repo.resolve(a)[1]
        new_v = repo.resolve(b)[1] if b is not None else None
        return _diff(repo.home, repo.remote, name, old_v, new_v)


def _diff(home: Home, r: Remote, name: str, old_v: int | None, new_v: int | None) -> Diff:
    if old_v is None and new_v is None:  # the local copy against its base version
        _local(home, name)
        old_v = _base_version(home.load_state(name), name, r, "etc diff {name}@N compares it with a remote version")
    readers: dict[int, VersionReader] = {}

    def reader(version: int) -> VersionReader:
        if version not in readers:
            readers[version] = r.version(name, version)
        return readers[version]

    out = Diff(name, old_v, new_v)
    with _hash_pool() as pool:
        sides: list[tuple[set[str], Side]] = []
        for version in (old_v, new_v):
            if version is not None:
                sides.append(_version_side(reader(version)))
            else:
                root = _local(home, name)
                state = home.load_state(name)
                base = None
                if (state is not None and state.partitions is not None and state.version is not None
                        and state.remote in (None, r.url)):
                    base = reader(state.version)
                sides.append(_local_side(root, state, base, pool))
        (old_groups, old_items), (new_groups, new_items) = sides
        for group in sorted(old_groups | new_groups):
            for path, a, b in _merge(old_items(group), new_items(group)):
                if a is None:
                    out.added.append(FileChange(path, None, b[0]))  # type: ignore[index]
                elif b is None:
                    out.removed.append(FileChange(path, a[0], None))
                elif a[1:] != b[1:]:
                    out.changed.append(FileChange(path, a[0], b[0]))
                else:
                    out.unchanged += 1
    for changes in (out.added, out.removed, out.changed):
        _by_path(changes)
    return out


# ---------------------------------------------------------------- status


def status(name: str, *, config: Config | None = None, verify: bool = False) -> Status:
    """The local copy's base version, newer remote versions, and files added, removed or modified
    since its last push or pull (from the hash cache; `verify` re-hashes every file)."""
    ref = parse_ref_or_tag(name)
    if ref.version is not None or ref.tag is not None:
        at = ref.version if ref.version is not None else ref.tag
        raise DatasetError(f"status describes the local copy: use etc status {ref.name} (without @{at})")
    name = ref.name
    with Repository(_config(config)) as repo:
        return _status(repo, name, verify)


def _status(repo: Repository, name: str, verify: bool) -> Status:
    home = repo.home
    root = _local(home, name)
    state = home.load_state(name)
    out = Status(name, str(root), state.version if state else None, state.remote if state else None, None,
                 verified=verify)
    remote = repo.remote if repo.config.url else None
    if remote is not None:
        versions = remote.versions(name)
        out.remote_checked = True
        out.latest = versions[0] if versions else None
        if out.remote in (None, remote.url):  # a version of another remote says nothing about this one's
            out.newer = sorted(v for v in versions if out.version is None or v > out.version)
    # What the copy was at its last push or pull, group by group: path -> (size, content id).
    base_groups: set[str] = set()
    baseline: Callable[[str], Iterator[tuple[str, tuple[int, str]]]] = lambda g: iter(())
    if state is not None and state.dirs is not None:  # recorded by the last push or pull
        base_groups = set(state.groups())
        baseline = lambda g: ((rel, (rec.size, rec.sha256)) for rel, rec in state.records(g))  # noqa: E731
    elif state is not None and state.version is not None and remote is not None and state.remote == remote.url:
        # Registered over a pulled copy: no per-file record, compare with the base version.
        try:
            reader = remote.version(name, state.version)
            base_groups = set(reader.groups(state.partitions))
            baseline = lambda g: ((fe.path, (fe.size, fe.sha256)) for fe in _entries(reader, g))  # noqa: E731
        except NotFoundError:
            pass
    with _hash_pool() as pool:
        for group in sorted(base_groups | set(local_groups(_local_partitions(root)))):
            before = baseline(group) if group in base_groups else iter(())
            now = ((f.rel, (f.size, sha)) for f, sha in _local_ids(root, group, state, verify, pool))
            for path, a, b in _merge(before, now):
                if a is None:
                    out.added.append(FileChange(path, None, b[0]))  # type: ignore[index]
                elif b is None:
                    out.removed.append(FileChange(path, a[0], None))
                elif a[1] != b[1]:
                    out.modified.append(FileChange(path, a[0], b[0]))
    for changes in (out.added, out.removed, out.modified):
        _by_path(changes)
    return out


# ---------------------------------------------------------------- verify


def verify(ref: str, *, remote: bool = False, deep: bool = False, config: Config | None = None) -> Verification:
    """Check a copy against the manifest of its version.

    Local (default): every file of the version is present with the right size, mode and hash
    (every file is re-hashed), and no other file is there.  `remote`: every object the version
    names exists with the right size; `deep` also downloads them and checks their hashes.
    """
    parse_ref_or_tag(ref)  # bad input fails before any remote access
    with Repository(_config(config)) as repo:
        name, version = repo.resolve(ref)
        return _verify(repo, name, version, remote, deep)


def _verify(repo: Repository, name: str, version: int | None, remote: bool, deep: bool) -> Verification:
    home, cfg = repo.home, repo.config
    if remote:
        r = repo.remote
        version = version or r.latest(name)
        if version is None:
            raise NotFoundError(f"{name} is not on {r.url}: etc list -r shows what is there")
        return _verify_remote(r, r.version(name, version), deep, cfg.worker_count)
    root = _local(home, name)
    state = home.load_state(name)
    r = repo.remote
    version = version or _base_version(state, name, r, "etc verify {name}@N checks it against a remote version")
    return _verify_local(root, r.version(name, version), state.partitions if state else None)


def _verify_local(root: Path, reader: VersionReader, partitions: list[str] | None) -> Verification:
    """Every file of the version's groups (those of `partitions`, and outside data/) against the
    local copy, merged group by group; files of the right size are re-hashed a batch at a time."""
    expected_groups = set(reader.groups(partitions))
    out = Verification(reader.name, reader.version, False, False, 0, 0)
    to_hash: list[tuple[LocalFile, FileEntry]] = []

    def check(batch: list[tuple[LocalFile, FileEntry]]) -> None:
        for (f, fe), sha in zip(batch, _hash_all(root, [f for f, _ in batch], pool)):
            out.bytes += f.size
            if sha != fe.sha256:
                out.problems.append(Problem(f.rel, "hash", f"{f.rel} has other content than the version"))
            elif f.executable != fe.executable:
                out.problems.append(Problem(f.rel, "mode", f"{f.rel} is {'' if f.executable else 'not '}executable, "
                                                           f"the version's is {'' if fe.executable else 'not'}".rstrip()))
        batch.clear()

    with _hash_pool() as pool:
        for group in sorted(expected_groups | set(local_groups(_local_partitions(root)))):
            want = ((fe.path, fe) for fe in _entries(reader, group)) if group in expected_groups else iter(())
            for path, fe, f in _merge(want, ((f.rel, f) for f in _walk(root, group))):
                if fe is None:
                    out.problems.append(Problem(path, "unexpected", f"{path} is not in the version"))
                    continue
                out.checked += 1
                if f is None:
                    out.problems.append(Problem(path, "missing", f"{path} is missing"))
                elif f.size != fe.size:
                    out.problems.append(Problem(path, "size", f"{path} is {f.size} bytes, the version has {fe.size}"))
                else:
                    to_hash.append((f, fe))
                    if len(to_hash) >= BATCH:
                        check(to_hash)
        check(to_hash)
    out.problems.sort(key=lambda p: p.path)
    return out


def _verify_remote(r: Remote, reader: VersionReader, deep: bool, workers: int) -> Verification:
    """The version's objects against the remote's listing; `deep` reads each object once, hashing
    the files it holds.  What it needs about every object (listing, sizes, byte ranges) goes to a
    temporary database on disk, not memory; shards are read one at a time."""
    out = Verification(reader.name, reader.version, True, deep, 0, 0)
    with spill_db("listed(key TEXT PRIMARY KEY, size INT)", "need(obj TEXT PRIMARY KEY, size INT)",
                  "ranges(obj TEXT, offset INT, length INT, sha TEXT, path TEXT)", "chunks(obj TEXT, path TEXT)") as db:
        if r.storage.listable:
            db.executemany("INSERT OR REPLACE INTO listed VALUES (?, ?)",
                           ((info.key, info.size) for info in r.storage.list(OBJECTS)))
        for group in reader.groups():
            for shard in reader.shards(group):
                db.executemany("INSERT OR IGNORE INTO need VALUES (?, ?)", shard.objects.items())
                if deep:
                    db.executemany("INSERT INTO ranges VALUES (?, ?, ?, ?, ?)",
                                   ((fe.parts[0].obj, fe.parts[0].offset, fe.parts[0].length, fe.sha256, fe.path)
                                    for fe in shard.files if len(fe.parts) == 1))
                    db.executemany("INSERT INTO chunks VALUES (?, ?)",
                                   ((p.obj, fe.path) for fe in shard.files if len(fe.parts) > 1 for p in fe.parts))
        if deep:
            db.execute("CREATE INDEX ranges_obj ON ranges(obj)")
            db.execute("CREATE INDEX chunks_obj ON chunks(obj)")
        out.checked = db.execute("SELECT COUNT(*) FROM need").fetchone()[0]
        if not r.storage.listable:  # a static web server: one HEAD per object the version needs
            with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                last = ""
                while objs := [o for o, in db.execute("SELECT obj FROM need WHERE obj > ? ORDER BY obj LIMIT 1000",
                                                      (last,))]:
                    last = objs[-1]
                    keys = [object_key(obj) for obj in objs]
                    db.executemany("INSERT OR REPLACE INTO listed VALUES (?, ?)",
                                   ((k, n) for k, n in zip(keys, pool.map(r.storage.size, keys)) if n is not None))
        rows = db.execute("SELECT n.obj, n.size, l.size FROM need n LEFT JOIN listed l ON l.key = ? || n.obj "
                          "ORDER BY n.obj", (OBJECTS,))
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for batch in batches(rows, OBJECT_BATCH):
                intact = []
                for obj, size, have in batch:
                    key = object_key(obj)
                    if have is None:
                        out.problems.append(Problem(key, "missing", f"{key} is missing on {r.url}"))
                    elif have != size:
                        out.problems.append(Problem(key, "size", f"{key} is {have} bytes on {r.url}, the version says {size}"))
                    else:
                        intact.append(obj)
                if not deep or not intact:
                    continue
                # Per object: the files that are a byte range of it, and whether it is a chunk (its id is its sha256).
                todo = [(o, db.execute("SELECT offset, length, sha, path FROM ranges WHERE obj = ? ORDER BY path, rowid",
                                       (o,)).fetchall(),
                         db.execute("SELECT MAX(path) FROM chunks WHERE obj = ?", (o,)).fetchone()[0]) for o in intact]
                for found, nbytes in pool.map(lambda t: _check_object(r, t[0], t[1], t[2] is not None, t[2]), todo):
                    out.problems.extend(found)
                    out.bytes += nbytes
    out.problems.sort(key=lambda p: p.path)
    return out


def _check_object(r: Remote, obj: str, ranges: list[tuple[int, int, str, str]], is_chunk: bool,
                  chunk_of: str | None) -> tuple[list[Problem], int]:
    """Stream one object once, hashing it whole (a chunk) and each file's byte range in it."""
    key = object_key(obj)
    whole = hashlib.sha256() if is_chunk else None
    hashers = [(offset, length, hashlib.sha256(), sha, path) for offset, length, sha, path in ranges]
    pos = 0
    try:
        for block in r.storage.read(key):
            end = pos + len(block)
            if whole is not None:
                whole.update(block)
            for offset, length, h, _, _ in hashers:
                lo, hi = max(offset, pos), min(offset + length, end)
                if lo < hi:
                    h.update(block[lo - pos:hi - pos])
            pos = end
    except NotFoundError:  # deleted since the listing
        return [Problem(key, "missing", f"{key} is missing on {r.url}")], pos
    problems = []
    if whole is not None and whole.hexdigest() != obj:
        problems.append(Problem(key, "hash", f"{key} (a chunk of {chunk_of}) has other bytes than its id says"))
    for _, _, h, sha, path in hashers:
        if h.hexdigest() != sha:
            problems.append(Problem(key, "hash", f"{key} holds other bytes for {path} than the version says"))
    return problems, pos


__all__ = ["Diff", "FileChange", "Problem", "Status", "Verification", "diff", "status", "verify"]
