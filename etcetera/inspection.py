"""Read-only looks at datasets: `diff` two versions, the `status` of a local copy, `verify` a copy.

Nothing here writes to the home or the remote.  Diff and status read manifests (metadata) and
the local hash cache, hashing a local file only when its stats changed; verify hashes every
local file, or checks the remote's objects (and, with deep, their bytes).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import Config
from .dataset import LocalFile, partition_of, scan_files
from .errors import DatasetError, NotFoundError
from .home import Home, State
from .manifest import FileEntry, Manifest
from .names import parse_ref_or_tag
from .packing import CHUNK, chunk_list_id, hash_file
from .remote import OBJECTS, Remote, object_key
from .repository import Repository

# path -> (size, content id, executable)
Content = dict[str, tuple[int, str, bool]]


@dataclass(frozen=True)
class FileChange:
    """One file that differs: added (old_size None), removed (new_size None) or changed."""

    path: str
    old_size: int | None
    new_size: int | None


@dataclass
class Diff:
    """What changed from `old` to `new`; a version of None is the local copy."""

    name: str
    old_version: int | None
    new_version: int | None
    added: list[FileChange] = field(default_factory=list)
    removed: list[FileChange] = field(default_factory=list)
    changed: list[FileChange] = field(default_factory=list)
    unchanged: int = 0

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


@dataclass
class Status:
    """Where a local copy stands: its base version, the remote's newer ones, and local edits."""

    name: str
    path: str
    version: int | None  # the remote version the copy is based on; None: never pushed or pulled
    remote: str | None  # the remote that version came from
    latest: int | None  # the configured remote's newest version; None when it has none or was not asked
    newer: list[int] = field(default_factory=list)  # remote versions after `version`, oldest first
    remote_checked: bool = False  # False when no remote is configured
    added: list[FileChange] = field(default_factory=list)
    removed: list[FileChange] = field(default_factory=list)
    modified: list[FileChange] = field(default_factory=list)
    verified: bool = False  # every file re-hashed, rather than trusting unchanged stats

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


@dataclass(frozen=True)
class Problem:
    """One thing wrong: `issue` is missing, size, hash, mode or unexpected; `path` a dataset
    path (local) or an object key (remote)."""

    path: str
    issue: str
    detail: str


@dataclass
class Verification:
    """The result of checking a local copy, or a remote version's objects, against a manifest."""

    name: str
    version: int
    remote: bool
    deep: bool
    checked: int  # files (local) or objects (remote) checked
    bytes: int  # bytes read to check them
    problems: list[Problem] = field(default_factory=list)

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
                "problems": [asdict(p) for p in self.problems]}


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


# ---------------------------------------------------------------- local hashes


def _content_ids(root: Path, files: list[LocalFile], state: State | None, rehash: bool) -> dict[str, str]:
    """Content id of every file: from the state's cache where its stats are unchanged (unless
    `rehash`), else by reading it."""
    out: dict[str, str] = {}
    todo: list[LocalFile] = []
    for f in files:
        cached = None if rehash or state is None else state.cached_hash(f)
        # A large file's cached id is only usable when it names its chunk list (as the push's cache check).
        if cached is not None and (f.size <= CHUNK or (cached[1] and cached[0] == chunk_list_id(cached[1]))):
            out[f.rel] = cached[0]
        else:
            todo.append(f)
    if todo:
        # As many threads as a push hashes with: hashlib releases the GIL, the disk is the limit.
        with ThreadPoolExecutor(max_workers=max(1, min(max(2, min(8, os.cpu_count() or 2)), len(todo)))) as pool:
            for f, (sha, _) in zip(todo, pool.map(lambda f: hash_file(root / f.rel, f.size), todo)):
                out[f.rel] = sha
    return out


def _in_partitions(path: str, partitions: list[str] | None) -> bool:
    return partitions is None or partition_of(path) in (None, *partitions)


def _local_content(root: Path, state: State | None, base: Manifest | None) -> Content:
    """The local copy as a push would publish it: its files, plus, for a partial copy, the base
    version's files of the partitions that were not pulled."""
    files, _ = scan_files(root)
    ids = _content_ids(root, files, state, False)
    content: Content = {f.rel: (f.size, ids[f.rel], f.executable) for f in files}
    if state is not None and state.partitions is not None and base is not None:
        data = root / "data"
        have = {e.name for e in os.scandir(data) if e.is_dir(follow_symlinks=False)} if data.is_dir() else set()
        for fe in base.files:
            p = partition_of(fe.path)
            if p is not None and p not in have:
                content.setdefault(fe.path, (fe.size, fe.sha256, fe.executable))
    return content


def _manifest_content(m: Manifest) -> Content:
    return {fe.path: (fe.size, fe.sha256, fe.executable) for fe in m.files}


def _compare(old: Content, new: Content) -> tuple[list[FileChange], list[FileChange], list[FileChange], int]:
    added = [FileChange(p, None, new[p][0]) for p in sorted(new.keys() - old.keys())]
    removed = [FileChange(p, old[p][0], None) for p in sorted(old.keys() - new.keys())]
    changed = [FileChange(p, old[p][0], new[p][0]) for p in sorted(old.keys() & new.keys())
               if old[p][1:] != new[p][1:]]
    unchanged = len(old.keys() & new.keys()) - len(changed)
    return added, removed, changed, unchanged


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
    sides: list[Content] = []
    manifests: dict[int, Manifest] = {}
    for version in (old_v, new_v):
        if version is not None:
            manifests[version] = manifests.get(version) or r.manifest(name, version)
            sides.append(_manifest_content(manifests[version]))
        else:
            root = _local(home, name)
            state = home.load_state(name)
            base = None
            if (state is not None and state.partitions is not None and state.version is not None
                    and state.remote in (None, r.url)):
                base = manifests.get(state.version) or r.manifest(name, state.version)
            sides.append(_local_content(root, state, base))
    added, removed, changed, unchanged = _compare(sides[0], sides[1])
    return Diff(name, old_v, new_v, added, removed, changed, unchanged)


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
    baseline: dict[str, tuple[int, str]] = {}
    if state is not None and state.dirs is not None:  # recorded by the last push or pull
        baseline = {rel: (entry.size, entry.sha256) for rel, entry in state.files.items()}
    elif state is not None and state.version is not None and remote is not None and state.remote == remote.url:
        # Registered over a pulled copy: no per-file record, compare with the base version.
        try:
            base = remote.manifest(name, state.version)
            baseline = {fe.path: (fe.size, fe.sha256) for fe in base.files
                        if _in_partitions(fe.path, state.partitions)}
        except NotFoundError:
            pass
    files, _ = scan_files(root)
    ids = _content_ids(root, files, state, verify)
    now = {f.rel: (f.size, ids[f.rel]) for f in files}
    out.added = [FileChange(p, None, now[p][0]) for p in sorted(now.keys() - baseline.keys())]
    out.removed = [FileChange(p, baseline[p][0], None) for p in sorted(baseline.keys() - now.keys())]
    out.modified = [FileChange(p, baseline[p][0], now[p][0]) for p in sorted(now.keys() & baseline.keys())
                    if now[p][1] != baseline[p][1]]
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
        return _verify_remote(r, r.manifest(name, version), deep, cfg.worker_count)
    root = _local(home, name)
    state = home.load_state(name)
    r = repo.remote
    version = version or _base_version(state, name, r, "etc verify {name}@N checks it against a remote version")
    manifest = r.manifest(name, version)
    return _verify_local(root, manifest, state.partitions if state else None)


def _verify_local(root: Path, manifest: Manifest, partitions: list[str] | None) -> Verification:
    expected = {fe.path: fe for fe in manifest.files if _in_partitions(fe.path, partitions)}
    files, _ = scan_files(root)
    present = {f.rel: f for f in files}
    problems: list[Problem] = []
    to_hash: list[tuple[LocalFile, FileEntry]] = []
    for path, fe in sorted(expected.items()):
        f = present.get(path)
        if f is None:
            problems.append(Problem(path, "missing", f"{path} is missing"))
        elif f.size != fe.size:
            problems.append(Problem(path, "size", f"{path} is {f.size} bytes, the version has {fe.size}"))
        else:
            to_hash.append((f, fe))
    ids = _content_ids(root, [f for f, _ in to_hash], None, True)
    for f, fe in to_hash:
        if ids[f.rel] != fe.sha256:
            problems.append(Problem(f.rel, "hash", f"{f.rel} has other content than the version"))
        elif f.executable != fe.executable:
            problems.append(Problem(f.rel, "mode", f"{f.rel} is {'' if f.executable else 'not '}executable, "
                                                   f"the version's is {'' if fe.executable else 'not'}".rstrip()))
    for path in sorted(present.keys() - expected.keys()):
        problems.append(Problem(path, "unexpected", f"{path} is not in the version"))
    problems.sort(key=lambda p: p.path)
    return Verification(manifest.name, manifest.version, False, False, len(expected),
                        sum(f.size for f, _ in to_hash), problems)


def _verify_remote(r: Remote, manifest: Manifest, deep: bool, workers: int) -> Verification:
    if r.storage.listable:
        listed = {info.key: info.size for info in r.storage.list(OBJECTS)}
    else:  # a static web server: one HEAD per object
        keys = [object_key(obj) for obj in manifest.objects]
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(keys)))) as pool:
            listed = {k: n for k, n in zip(keys, pool.map(r.storage.size, keys)) if n is not None}
    problems: list[Problem] = []
    intact: list[str] = []
    for obj, size in sorted(manifest.objects.items()):
        key = object_key(obj)
        have = listed.get(key)
        if have is None:
            problems.append(Problem(key, "missing", f"{key} is missing on {r.url}"))
        elif have != size:
            problems.append(Problem(key, "size", f"{key} is {have} bytes on {r.url}, the version says {size}"))
        else:
            intact.append(obj)
    read = 0
    if deep and intact:
        # Per object: the files that are a byte range of it, and whether it is a chunk (its id is its sha256).
        ranges: dict[str, list[tuple[int, int, str, str]]] = {}
        chunks: dict[str, str] = {}
        for fe in manifest.files:
            if len(fe.parts) == 1:
                p = fe.parts[0]
                ranges.setdefault(p.obj, []).append((p.offset, p.length, fe.sha256, fe.path))
            for p in fe.parts if len(fe.parts) > 1 else ():
                chunks[p.obj] = fe.path
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(intact)))) as pool:
            for found, nbytes in pool.map(lambda o: _check_object(r, o, ranges.get(o, []), o in chunks,
                                                                   chunks.get(o)), intact):
                problems.extend(found)
                read += nbytes
    problems.sort(key=lambda p: p.path)
    return Verification(manifest.name, manifest.version, True, deep, len(manifest.objects), read, problems)


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
