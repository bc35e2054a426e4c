"""The remote format on top of a Storage: versions, manifests and objects (docs/format.md)."""

from __future__ import annotations

import contextlib
import logging
import random
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Iterable, Iterator, MutableMapping, TypeVar

from . import catalog
from . import index as _index
from .catalog import Group, GroupWriter, Root, Shard, group_of, read_shard, read_version
from .errors import ConflictError, CutOffError, EtcError, IntegrityError, InvalidNameError, NotFoundError, RemoteError
from .manifest import FileEntry, Manifest
from .names import NAME_RE, check_tag, parse_version
from .storage import BytesSource, ObjectInfo, Source, Storage

log = logging.getLogger("etcetera")
T = TypeVar("T")
# Shards already read, by id (immutable and verified against it): parsed whole, or decoded for look-ups.
ShardCache = MutableMapping[str, "catalog.Shard | catalog.ShardLookup"]

DATASETS = "datasets/"
OBJECTS = "objects/"
TAGS = "tags"  # datasets/<name>/tags/<TAG>/<seq>.json: see tags.py


def object_key(obj: str) -> str:
    return f"{OBJECTS}{obj}"


def manifest_key(name: str, version: int) -> str:
    return f"{DATASETS}{name}/{version:010d}.json.gz"


def index_key(name: str | None = None) -> str:
    """Where the index of dataset `name` is, or (no name) the remote-wide one (docs/format.md, Index)."""
    return f"{DATASETS}{name}/{_index.INDEX}" if name else f"{DATASETS}{_index.INDEX}"


def parse_tag_key(key: str) -> tuple[str, str, int] | None:
    """(name, tag, event number) for a key `datasets/<name>/tags/<TAG>/<seq>.json`, else None."""
    parts = key.split("/")
    if len(parts) != 5 or parts[0] != DATASETS[:-1] or parts[2] != TAGS or not parts[4].endswith(".json") \
            or not NAME_RE.fullmatch(parts[1]):
        return None
    seq = parse_version(parts[4][:-5])
    try:
        check_tag(parts[3])
    except InvalidNameError:
        return None
    return (parts[1], parts[3], seq) if seq is not None else None


def parse_manifest_key(key: str) -> tuple[str, int] | None:
    """(name, version) for a key `datasets/<name>/<version>.json.gz`, else None.  Tag events are
    skipped; anything else under datasets/ (a stray upload, '²³.json.gz') is ignored, never
    fatal, and shown with -v."""
    parts = key.split("/")
    if len(parts) == 3 and parts[0] == DATASETS[:-1] and parts[2].endswith(".json.gz") \
            and NAME_RE.fullmatch(parts[1]):
        version = parse_version(parts[2][:-8])
        if version is not None:
            return parts[1], version
    if len(parts) > 3 and parts[0] == DATASETS[:-1] and parts[2] == TAGS:
        return None  # a tag event (tags.py): expected, not worth a line
    if parts[-1] == _index.INDEX and len(parts) in (2, 3):
        return None  # an index (index.py)
    log.debug("ignoring %s on the remote: not a dataset version's manifest", key)
    return None


class Under(Storage):
    """The keys of a Storage below `prefix`, as a Storage of their own: `Remote.objects` hands the
    transfer engine the objects by their ids, so it need not know the remote's key layout."""

    def __init__(self, base: Storage, prefix: str) -> None:
        super().__init__(base.url, base.config)  # messages name the remote itself
        self.base, self.prefix = base, prefix

    def put(self, key: str, source: Source) -> None:
        self.base.put(self.prefix + key, source)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        return self.base.put_if_absent(self.prefix + key, data)

    def create(self, key: str, source: Source) -> bool:
        return self.base.create(self.prefix + key, source)

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        return self.base.read(self.prefix + key, start, length)

    def get(self, key: str) -> bytes:
        return self.base.get(self.prefix + key)

    def exists(self, key: str) -> bool:
        return self.base.exists(self.prefix + key)

    def touch(self, key: str) -> bool:
        return self.base.touch(self.prefix + key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        skip = len(self.prefix)
        return (ObjectInfo(i.key[skip:], i.size, i.mtime) for i in self.base.list(self.prefix + prefix))

    def delete(self, key: str) -> None:
        self.base.delete(self.prefix + key)


class Remote:
    """Reads and publishes versions of datasets on one storage root."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.url = storage.url
        self.objects: Storage = Under(storage, OBJECTS)  # keyed by object id, for the transfer engine

    def versions(self, name: str) -> list[int]:
        """Published versions of `name`, newest first: listed, or on a remote that cannot list
        (HTTPS) from its index, checked for newer versions than the index knows."""
        if not self.storage.listable:
            return self._indexed_versions(name)
        found = []
        for info in self.storage.list(f"{DATASETS}{name}/"):
            parsed = parse_manifest_key(info.key)
            if parsed is not None and parsed[0] == name:
                found.append(parsed[1])
        return sorted(found, reverse=True)

    def latest(self, name: str) -> int | None:
        versions = self.versions(name)
        return versions[0] if versions else None

    def names(self) -> dict[str, int]:
        """Every dataset with its latest version (on a remote that cannot list: every dataset its
        index names, each checked for versions newer than the index knows)."""
        if not self.storage.listable:
            return self._indexed_names()
        latest: dict[str, int] = {}
        for info in self.storage.list(DATASETS):
            parsed = parse_manifest_key(info.key)
            if parsed is not None:
                latest[parsed[0]] = max(latest.get(parsed[0], 0), parsed[1])
        return dict(sorted(latest.items()))

    # ------------------------------------------------------------ the index (docs/format.md, Index)

    def dataset_index(self, name: str) -> _index.DatasetIndex | None:
        """What the index of `name` says (None: the remote has none for it)."""
        key = index_key(name)
        try:
            raw = self._get(key, key, lambda raw: raw)
        except NotFoundError:
            return None
        return _index.read_dataset_index(raw, name, f"{key} on {self.url}")

    def has_version(self, name: str, version: int) -> bool:
        """Whether `name@version` exists, by reading its root (so that a server answering every
        path with a page is an error rather than an endless run of versions)."""
        try:
            self._version_doc(name, version)
            return True
        except NotFoundError:
            return False

    def _indexed_versions(self, name: str) -> list[int]:
        indexed = self.dataset_index(name)
        versions = list(indexed.versions) if indexed else []
        # Versions are numbered in sequence: any newer than the index knows follow its newest.
        newest = versions[-1] if versions else 0
        while self.has_version(name, newest + 1):
            newest += 1
            versions.append(newest)
        return sorted(versions, reverse=True)

    def _indexed_names(self) -> dict[str, int]:
        key = index_key()
        try:
            raw = self._get(key, key, lambda raw: raw)
        except NotFoundError:
            raise NotFoundError(f"{self.url} has no index of its datasets ({key}), which a reader that cannot "
                                f"list needs: any push (or `etc gc`) on the writable remote it mirrors writes "
                                f"one; copy it here") from None
        latest = _index.read_datasets(raw, f"{key} on {self.url}")

        def newest(item: tuple[str, int]) -> int:
            name, version = item
            while self.has_version(name, version + 1):
                version += 1
            return version

        items = list(latest.items())
        with ThreadPoolExecutor(max(1, min(len(items), self.storage.config.worker_count)), "etc-index") as pool:
            return dict(zip(latest, pool.map(newest, items)))

    def write_index(self, changed: str | None = None) -> None:
        """Bring the index up to date from one listing of datasets/: the remote-wide index, the
        index of `changed`, and that of every dataset that has none or a version or tag event
        newer than its index.  Nothing on a remote that cannot list (read-only mirrors)."""
        if self.storage.read_only or not self.storage.listable:
            return
        found: dict[str, _index.DatasetIndex] = {}
        newest: dict[str, float | None] = {}
        indexed: dict[str, float | None] = {}
        for info in self.storage.list(DATASETS):
            parts = info.key.split("/")
            if len(parts) == 3 and parts[2] == _index.INDEX:
                indexed[parts[1]] = info.mtime
                continue
            version = parse_manifest_key(info.key)
            tag = parse_tag_key(info.key) if version is None else None
            if version is None and tag is None:
                continue
            name = (version or tag)[0]  # type: ignore[index]
            entry = found.setdefault(name, _index.DatasetIndex(name))
            if version is not None:
                entry.versions.append(version[1])
            else:
                entry.tags[tag[1]] = max(entry.tags.get(tag[1], 0), tag[2])  # type: ignore[index]
            old = newest.get(name, 0.0)
            newest[name] = None if info.mtime is None or old is None else max(old, info.mtime)
        live = {n: d for n, d in found.items() if d.versions}

        def stale(name: str) -> bool:
            have, last = indexed.get(name), newest.get(name)
            return name == changed or have is None or last is None or last >= have

        todo = [d for n, d in live.items() if stale(n)]

        def put(d: _index.DatasetIndex) -> None:
            self.storage.put(index_key(d.name), BytesSource(d.to_bytes()))

        if todo:
            with ThreadPoolExecutor(min(len(todo), self.storage.config.worker_count), "etc-index") as pool:
                list(pool.map(put, todo))
        latest = {n: max(d.versions) for n, d in live.items()}
        self.storage.put(index_key(), BytesSource(_index.datasets_bytes(latest)))

    def refresh_index(self, name: str) -> None:
        """`write_index` after a push or a tag of `name`: a failure is a warning, since what was
        published stands and readers that cannot list still find it by probing."""
        try:
            self.write_index(name)
        except EtcError as exc:
            log.warning("%s: the index for HTTPS readers was not updated (%s): the next push or `etc gc` "
                        "updates it", self.url, exc)

    def require_writable(self, what: str) -> None:
        """Refuse `what` (push, tag, gc) on a read-only remote before anything is done."""
        if self.storage.read_only:
            raise self.storage.refuse_write(what)

    def _get(self, key: str, where: str, check: Callable[[bytes], T]) -> T:
        """Read a metadata object and pass it through `check`.  The client libraries retry
        requests, not bodies cut off half-way: those are read again, and so, once, are bytes
        that fail their hash, within the remote's give-up budget.  Errors name `where`."""
        give_up = time.monotonic() + self.storage.config.give_up
        attempt = 0
        while True:
            attempt += 1
            try:
                return check(self.storage.get(key))
            except (CutOffError, IntegrityError) as exc:
                delay = random.uniform(0, min(1.0, 0.1 * 2**attempt))
                if time.monotonic() + delay > give_up or (isinstance(exc, IntegrityError) and attempt > 1):
                    if isinstance(exc, IntegrityError):
                        raise
                    raise CutOffError(f"{where}: {exc}") from None
                log.debug("reading %s again (%s)", key, exc)
                time.sleep(delay)
            except NotFoundError:
                raise
            except RemoteError as exc:
                if where in str(exc):
                    raise
                raise type(exc)(f"{where}: {exc}") from None

    def _version_doc(self, name: str, version: int) -> tuple[bytes, Manifest | Root]:
        key = manifest_key(name, version)
        where = f"{name}@{version} on {self.url}"
        try:
            raw = self._get(key, f"{name}@{version}", lambda raw: raw)
        except NotFoundError:
            raise NotFoundError(f"{name}@{version} does not exist on {self.url}: `etc versions {name}` lists them") from None
        doc = read_version(raw, where)
        if doc.name != name or doc.version != version:
            raise NotFoundError(f"manifest {key} on {self.url} describes {doc.name}@{doc.version}, not {name}@{version}")
        return raw, doc

    def manifest_bytes(self, name: str, version: int) -> bytes:
        """The published document that makes `name@version` exist, as stored."""
        return self._version_doc(name, version)[0]

    def manifest(self, name: str, version: int, partitions: Iterable[str] | None = None) -> Manifest:
        """The version's files and folders: all of them, or (format etcetera/2) only those of
        `partitions` and outside data/, reading no other partition's metadata.  Either way
        `partitions()` of the result names every partition of the version."""
        _, doc = self._version_doc(name, version)
        if isinstance(doc, Manifest):
            return doc
        groups = doc.select(partitions)
        shards = self._shards(doc, [(g.name, ref) for g in groups for ref in g.shards])
        files = [f for sh in shards for f in sh.files]
        files.sort(key=lambda f: f.path)
        objects = {o: n for sh in shards for o, n in sh.objects.items()}
        return Manifest(name=name, version=version, files=files, dirs=sorted(d for sh in shards for d in sh.dirs),
                        objects=objects, parent=doc.parent, created=doc.created, author=doc.author, tool=doc.tool,
                        partition_names=doc.partitions())

    def head(self, name: str, version: int) -> Manifest | Root:
        """The document that makes `name@version` exist: an `etcetera/2` root (counts and shard
        references, no file entries) or a whole `etcetera/1` manifest.  Pass it to `entries` and
        `entry` so that many look-ups in one version read it once."""
        return self._version_doc(name, version)[1]

    def entry(self, name: str, version: int, path: str, *, head: Manifest | Root | None = None,
              cache: ShardCache | None = None) -> FileEntry | None:
        """The file `path` of `name@version` (None if the version has no such file), reading the
        root (unless `head` is given) and at most one shard: the one of the path's group whose
        first/last paths enclose it, verified and decoded but parsed only as far as that entry.
        `cache` maps shard ids to shards already read (shards are immutable and verified against
        their id, so it is valid across versions)."""
        doc = head if head is not None else self.head(name, version)
        if isinstance(doc, Manifest):
            return next((f for f in doc.files if f.path == path), None)
        group = group_of(path)
        for g in doc.groups:
            if g.name == group:
                for ref in g.shards:
                    if ref.files and ref.first <= path <= ref.last:
                        return self._fetch_shard(doc, group, ref, cache, lookup=True).find(path)
        return None

    def entries(self, name: str, version: int, prefix: str = "", *, head: Manifest | Root | None = None,
                cache: ShardCache | None = None, groups: Iterable[str] | None = None
                ) -> tuple[list[FileEntry], list[str]]:
        """The files and empty folders of `name@version` at or below `prefix` ('' for all), sorted
        by path, only of `groups` when given (e.g. ['.']: the files outside data/).  An
        `etcetera/1` manifest is read whole; an `etcetera/2` version reads only the shards whose
        first/last paths can hold such a path, and (for the empty folders) the last shard of each
        group concerned, where the writer puts them (GroupWriter.finish).  `cache` as for `entry`."""
        doc = head if head is not None else self.head(name, version)
        prefix = prefix.strip("/")
        below = prefix + "/" if prefix else ""
        only = None if groups is None else set(groups)

        def wanted(p: str, folder: bool = False) -> bool:
            return (not prefix or p == prefix or p.startswith(below)) \
                and (only is None or group_of(p, folder=folder) in only)

        if isinstance(doc, Manifest):
            return [f for f in doc.files if wanted(f.path)], sorted(d for d in doc.dirs if wanted(d, True))

        def concerned(g: catalog.Group) -> bool:
            if only is not None and g.name not in only:
                return False
            if not prefix:
                return True
            if g.name == catalog.OUTSIDE:
                return prefix.split("/")[0] != "data"
            return wanted(g.name) or prefix.startswith(g.name + "/")

        refs = []
        for g in filter(concerned, doc.groups):
            for i, r in enumerate(g.shards):
                # Every path of this shard is in [first, last]: it may hold one at or below prefix
                # unless that range ends before `prefix` or starts after every path below it.
                holds = r.files and (not prefix or (r.last >= prefix and r.first[:len(below)] <= below))
                if holds or i == len(g.shards) - 1:
                    refs.append((g.name, r))
        files: list[FileEntry] = []
        dirs: list[str] = []
        for shard in self._shards(doc, refs, cache):
            files.extend(f for f in shard.files if wanted(f.path))
            dirs.extend(d for d in shard.dirs if wanted(d, True))
        files.sort(key=lambda f: f.path)
        return files, sorted(set(dirs))

    def _shards(self, doc: Root, refs: list[tuple[str, catalog.ShardRef]],
                cache: ShardCache | None = None) -> list[catalog.Shard]:
        """The verified shards `refs` ((group, reference) pairs) of the version `doc`, in order,
        fetched in parallel; `cache` (by shard id: shards are immutable) is consulted and filled."""
        if len(refs) > 1:
            with ThreadPoolExecutor(min(len(refs), self.storage.config.worker_count), "etc-meta") as pool:
                return list(pool.map(lambda item: self._fetch_shard(doc, *item, cache), refs))
        return [self._fetch_shard(doc, *r, cache) for r in refs]

    def _fetch_shard(self, doc: Root, group: str, ref: catalog.ShardRef,
                     cache: ShardCache | None = None,
                     lookup: bool = False) -> catalog.Shard | catalog.ShardLookup:
        """One verified shard of the version `doc`, parsed whole, or with `lookup` only decoded (a
        `ShardLookup`, for finding a few paths); from and into `cache` when given."""
        hit = cache.get(ref.id) if cache is not None else None
        if hit is not None and (lookup or isinstance(hit, catalog.Shard)):
            return hit
        if hit is not None:
            shard = hit.parse()
        else:
            where = f"{doc.name}@{doc.version} on {self.url}"
            shard = self._read_shard(ref, group, where, catalog.open_shard if lookup else read_shard)
        if cache is not None:
            cache[ref.id] = shard
        return shard

    def shard(self, ref: catalog.ShardRef, group: str, where: str) -> catalog.Shard:
        """One metadata shard, verified against its reference (cut-off reads are read again)."""
        return self._read_shard(ref, group, where, read_shard)

    def _read_shard(self, ref: catalog.ShardRef, group: str, where: str,
                    read: Callable[[bytes, catalog.ShardRef, str, str], T]) -> T:
        """Fetch a metadata shard and verify it with `read` (read_shard or catalog.open_shard); errors
        name `where` ('name@version on url'), a missing shard as damage to the remote."""
        try:
            return self._get(object_key(ref.id), where.split(" on ")[0], lambda raw: read(raw, ref, group, where))
        except NotFoundError:
            raise NotFoundError(f"{where}: metadata shard {ref.id[:12]} of {group} is missing: the remote is damaged") from None

    def version(self, name: str, version: int) -> "VersionReader":
        """A version's metadata, to be read group by group and shard by shard."""
        return VersionReader(self, name, version, self._version_doc(name, version)[1])

    @contextlib.contextmanager
    def shard_sink(self, present: Iterable[str] = ()) -> Iterator["ShardSink"]:
        """A `put(id, raw)` for metadata shards, uploaded in the background a bounded number at a
        time; every one is stored when the block ends.  `present`: ids of shards that likely exist
        already (the base version's), renewed rather than created."""
        with ThreadPoolExecutor(self.storage.config.worker_count, "etc-meta") as pool:
            sink = ShardSink(self.storage, pool, set(present))
            yield sink
            sink.wait(0)

    def create_root(self, root: Root) -> bytes:
        """Publish a staged root: the version exists from now on.  ConflictError when its number
        was taken meanwhile.  Returns the root's bytes."""
        raw = root.to_bytes()
        if not self.storage.put_if_absent(manifest_key(root.name, root.version), raw):
            raise ConflictError(
                f"{root.name}@{root.version} was published by someone else meanwhile on {self.url}: "
                f"pull it and push again, or push -f to publish yours as a newer version"
            )
        self.refresh_index(root.name)
        return raw

    def missing_shards(self, root: Root, among: Iterable[str] | None = None) -> bool:
        """Whether a shard the root names (of those `among`, when given) is gone: a gc that ran
        just before the root was published may have deleted one that existed before the push."""
        wanted = None if among is None else set(among)
        return any(not self.storage.exists(object_key(sid)) for sid in root.shard_ids()
                   if wanted is None or sid in wanted)

    def summary(self, name: str, version: int) -> tuple[Manifest | Root, dict[str, tuple[int, int]]]:
        """(the version's head document, {partition or '.': (files, bytes)}) from the root alone
        where the format allows (etcetera/2); an etcetera/1 manifest is read whole."""
        _, doc = self._version_doc(name, version)
        if isinstance(doc, Root):
            return doc, {g.partition or catalog.OUTSIDE: (g.files, g.bytes) for g in doc.groups}
        counts: dict[str, tuple[int, int]] = {p: (0, 0) for p in doc.partitions()}
        for f in doc.files:
            key = group_of(f.path)
            key = key[5:] if key != catalog.OUTSIDE else key
            n, b = counts.get(key, (0, 0))
            counts[key] = (n + 1, b + f.size)
        return doc, counts

    def referenced(self, name: str, version: int) -> set[str]:
        """Every object the version needs: data objects and, in etcetera/2, its metadata shards."""
        return set(self.referenced_ids(name, version))

    def referenced_ids(self, name: str, version: int) -> Iterator[str]:
        """The ids of `referenced`, read shard by shard (an id may come more than once)."""
        _, doc = self._version_doc(name, version)
        if isinstance(doc, Manifest):
            yield from doc.objects
            return
        yield from doc.shard_ids()
        reader = VersionReader(self, name, version, doc)
        for group in reader.groups():
            for shard in reader.shards(group):
                yield from shard.objects

    def stage(self, manifest: Manifest, shard_files: int = catalog.SHARD_FILES) -> bytes:
        """Upload the version's metadata shards (format etcetera/2; content-addressed, so an
        unchanged partition's shards already exist) and return the root that `publish` creates."""
        groups: dict[str, GroupWriter] = {}
        with self.shard_sink() as put:

            def writer(group: str) -> GroupWriter:
                if group not in groups:
                    groups[group] = GroupWriter(group, manifest.objects.__getitem__, put, shard_files)
                return groups[group]

            for f in manifest.files:
                writer(group_of(f.path)).add(f)
            for d in manifest.dirs:
                writer(group_of(d, folder=True)).add_dir(d)
            finished = [groups[g].finish() for g in sorted(groups)]
        return Root(manifest.name, manifest.version, finished, manifest.parent, manifest.created,
                    manifest.author, manifest.tool).to_bytes()

    def publish(self, manifest: Manifest | Root, raw: bytes | None = None) -> bytes:
        """Make a version exist, atomically and only if nobody took that number first; `raw` is
        what `stage(manifest)` returned (staged here when not given), and a `Root` is one whose
        shards are already uploaded.  Returns the root's bytes."""
        if isinstance(manifest, Root):
            return self.create_root(manifest)
        raw = self.stage(manifest) if raw is None else raw
        root = read_version(raw, f"{manifest.name}@{manifest.version}")
        assert isinstance(root, Root), "stage() writes etcetera/2 roots"
        self.create_root(root)
        # A gc that judged a reused shard an orphan just before `stage` renewed it may have deleted
        # it since: now that the root protects them, re-create any that is gone.
        if self.missing_shards(root):
            self.stage(manifest)
        return raw


class ShardSink:
    """Stores metadata shards from a pool, at most two per worker in flight (bounded memory).

    A shard that already exists (an unchanged partition, an interrupted push) has its age renewed,
    so that `etc gc` keeps it until the root that names it exists (see gc.py); `renewed` holds
    those, the only shards a gc running meanwhile could have judged orphans.  A new shard is one
    conditional create."""

    def __init__(self, storage: Storage, pool: ThreadPoolExecutor, present: set[str]) -> None:
        self.storage, self.pool, self.present = storage, pool, present
        self.limit = 2 * storage.config.worker_count
        self.pending: set[Future] = set()
        self.renewed: set[str] = set()

    def __call__(self, sid: str, raw: bytes) -> None:
        self.wait(self.limit - 1)
        self.pending.add(self.pool.submit(self._store, sid, raw))

    def wait(self, keep: int) -> None:
        """Wait until at most `keep` shards are in flight; raise the first failure."""
        while len(self.pending) > keep:
            done, _ = wait(self.pending, return_when=FIRST_COMPLETED)
            for f in done:
                self.pending.discard(f)
                f.result()

    def _store(self, sid: str, raw: bytes) -> None:
        key = object_key(sid)
        source = BytesSource(raw, sha256=sid)  # a shard's id is its bytes' sha256
        if sid not in self.present and self.storage.create(key, source):
            return
        if self.storage.touch(key):
            self.renewed.add(sid)
        else:
            self.storage.put(key, source)  # absent after all, or deleted since the create found it


class VersionReader:
    """One version's metadata read a group at a time and, within a group, a shard at a time in
    path order (a few shards fetched ahead), so a reader holds one group's few shards whatever the
    version's size.  An `etcetera/1` manifest is read whole and handed out the same way."""

    PREFETCH = 1  # shards read ahead: each is ~10k parsed entries, the bulk of a pull's memory

    def __init__(self, remote: Remote, name: str, version: int, doc: Manifest | Root) -> None:
        self.remote, self.name, self.version, self.doc = remote, name, version, doc
        self.where = f"{name}@{version} on {remote.url}"

    def partitions(self) -> list[str]:
        return self.doc.partitions()

    def shard_ids(self) -> list[str]:
        """The ids of the version's metadata shards (none in etcetera/1)."""
        return self.doc.shard_ids() if isinstance(self.doc, Root) else []

    def groups(self, partitions: Iterable[str] | None = None) -> list[str]:
        """The names of the groups a pull of `partitions` (None: all) reads, in order."""
        if isinstance(self.doc, Root):
            return [g.name for g in self.doc.select(partitions)]
        wanted = None if partitions is None else set(partitions)
        found = {group_of(f.path) for f in self.doc.files} | {group_of(d, folder=True) for d in self.doc.dirs}
        return sorted(g for g in found if wanted is None or g == catalog.OUTSIDE or g[5:] in wanted)

    def group(self, name: str) -> Group | None:
        """The root's entry for a group (etcetera/2 only), or None."""
        if isinstance(self.doc, Root):
            return next((g for g in self.doc.groups if g.name == name), None)
        return None

    def counts(self, groups: Iterable[str]) -> tuple[int, int]:
        """(files, bytes) of these groups."""
        wanted = set(groups)
        if isinstance(self.doc, Root):
            picked = [g for g in self.doc.groups if g.name in wanted]
            return sum(g.files for g in picked), sum(g.bytes for g in picked)
        picked_files = [f for f in self.doc.files if group_of(f.path) in wanted]
        return len(picked_files), sum(f.size for f in picked_files)

    def shards(self, group: str) -> Iterator[Shard]:
        """The group's shards in path order, each verified, a few fetched ahead in parallel."""
        if not isinstance(self.doc, Root):
            files = sorted((f for f in self.doc.files if group_of(f.path) == group), key=lambda f: f.path)
            dirs = [d for d in self.doc.dirs if group_of(d, folder=True) == group]
            if files or dirs:
                yield Shard(files, dirs, self.doc.objects)
            return
        g = self.group(group)
        refs = g.shards if g else []
        if len(refs) <= 1:
            for ref in refs:
                yield self.remote.shard(ref, group, self.where)
            return
        with ThreadPoolExecutor(self.PREFETCH, "etc-meta") as pool:
            ahead: list[Future] = []
            todo = iter(refs)
            for ref in todo:
                ahead.append(pool.submit(self.remote.shard, ref, group, self.where))
                if len(ahead) >= self.PREFETCH:
                    break
            while ahead:
                shard = ahead.pop(0).result()
                ref = next(todo, None)
                if ref is not None:
                    ahead.append(pool.submit(self.remote.shard, ref, group, self.where))
                yield shard

    def entries(self, group: str) -> "GroupEntries":
        return GroupEntries(self.shards(group))


class GroupEntries:
    """A group's file entries in path order, read shard by shard as a merge with another
    path-ordered stream asks for them.  `dirs` fills as shards are read (complete after `drain`)."""

    def __init__(self, shards: Iterator[Shard]) -> None:
        self._shards = shards
        self._files: list[FileEntry] = []
        self._objects: dict[str, int] = {}
        self._i = 0
        self.dirs: list[str] = []

    def _more(self) -> bool:
        while self._i >= len(self._files):
            shard = next(self._shards, None)
            if shard is None:
                return False
            self._files, self._objects, self._i = shard.files, shard.objects, 0
            self.dirs.extend(shard.dirs)
        return True

    def upto(self, path: str, sizes: dict[str, int] | None = None) -> list[FileEntry]:
        """The next entries whose path is at most `path`; the sizes of the objects they reference
        go into `sizes`."""
        out: list[FileEntry] = []
        while self._more() and self._files[self._i].path <= path:
            entry = self._files[self._i]
            out.append(entry)
            if sizes is not None:
                for p in entry.parts:
                    sizes[p.obj] = self._objects[p.obj]
            self._i += 1
        return out

    def upto_count(self, n: int) -> list[FileEntry]:
        """The next (at most) `n` entries; [] at the end."""
        out: list[FileEntry] = []
        while len(out) < n and self._more():
            take = self._files[self._i:self._i + n - len(out)]
            out.extend(take)
            self._i += len(take)
        return out

    def get(self, path: str) -> FileEntry | None:
        """The entry at `path`, skipping those before it (paths asked for must not decrease)."""
        while self._more() and self._files[self._i].path < path:
            self._i += 1
        if self._more() and self._files[self._i].path == path:
            return self._files[self._i]
        return None

    def drain(self) -> int:
        """Read to the end; return how many entries were left."""
        left = 0
        while self._more():
            left += len(self._files) - self._i
            self._i = len(self._files)
        return left
