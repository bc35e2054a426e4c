"""The remote format on top of a Storage: versions, manifests and objects (docs/format.md)."""

from __future__ import annotations

import logging
import random
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Iterable, Iterator, TypeVar

from . import catalog
from .catalog import GroupWriter, Root, group_of, read_shard, read_version
from .errors import ConflictError, CutOffError, IntegrityError, NotFoundError, RemoteError
from .manifest import Manifest
from .names import NAME_RE, parse_version
from .storage import BytesSource, ObjectInfo, Source, Storage

log = logging.getLogger("etcetera")
T = TypeVar("T")

DATASETS = "datasets/"
OBJECTS = "objects/"


def object_key(obj: str) -> str:
    return f"{OBJECTS}{obj}"


def manifest_key(name: str, version: int) -> str:
    return f"{DATASETS}{name}/{version:010d}.json.gz"


def parse_manifest_key(key: str) -> tuple[str, int] | None:
    """(name, version) for a key `datasets/<name>/<version>.json.gz`, else None.  Anything else
    under datasets/ (a stray upload, '²³.json.gz') is ignored, never fatal, and shown with -v."""
    parts = key.split("/")
    if len(parts) == 3 and parts[0] == DATASETS[:-1] and parts[2].endswith(".json.gz") \
            and NAME_RE.fullmatch(parts[1]):
        version = parse_version(parts[2][:-8])
        if version is not None:
            return parts[1], version
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
        """Published versions of `name`, newest first."""
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
        """Every dataset with its latest version."""
        latest: dict[str, int] = {}
        for info in self.storage.list(DATASETS):
            parsed = parse_manifest_key(info.key)
            if parsed is not None:
                latest[parsed[0]] = max(latest.get(parsed[0], 0), parsed[1])
        return dict(sorted(latest.items()))

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
        where = f"{name}@{version} on {self.url}"
        refs = [(g.name, ref) for g in groups for ref in g.shards]

        def fetch(item: tuple[str, catalog.ShardRef]) -> catalog.Shard:
            group, ref = item
            try:
                return self._get(object_key(ref.id), f"{name}@{version}", lambda raw: read_shard(raw, ref, group, where))
            except NotFoundError:
                raise NotFoundError(f"{where}: metadata shard {ref.id[:12]} of {group} is missing: the remote is damaged") from None

        if len(refs) > 1:
            with ThreadPoolExecutor(min(len(refs), self.storage.config.worker_count), "etc-meta") as pool:
                shards = list(pool.map(fetch, refs))
        else:
            shards = [fetch(r) for r in refs]
        files = [f for sh in shards for f in sh.files]
        files.sort(key=lambda f: f.path)
        objects = {o: n for sh in shards for o, n in sh.objects.items()}
        return Manifest(name=name, version=version, files=files, dirs=sorted(d for sh in shards for d in sh.dirs),
                        objects=objects, parent=doc.parent, created=doc.created, author=doc.author, tool=doc.tool,
                        partition_names=doc.partitions())

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
        _, doc = self._version_doc(name, version)
        if isinstance(doc, Manifest):
            return set(doc.objects)
        return set(self.manifest(name, version).objects) | set(doc.shard_ids())

    def stage(self, manifest: Manifest, shard_files: int = catalog.SHARD_FILES) -> bytes:
        """Upload the version's metadata shards (format etcetera/2; content-addressed, so an
        unchanged partition's shards already exist) and return the root that `publish` creates."""
        groups: dict[str, GroupWriter] = {}
        pending: set[Future] = set()
        with ThreadPoolExecutor(self.storage.config.worker_count, "etc-meta") as pool:

            def put(sid: str, raw: bytes) -> None:
                while len(pending) >= 2 * self.storage.config.worker_count:  # bounded memory
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        pending.discard(f)
                        f.result()
                pending.add(pool.submit(self._put_object, sid, raw))

            def writer(group: str) -> GroupWriter:
                if group not in groups:
                    groups[group] = GroupWriter(group, manifest.objects.__getitem__, put, shard_files)
                return groups[group]

            for f in manifest.files:
                writer(group_of(f.path)).add(f)
            for d in manifest.dirs:
                writer(group_of(d, folder=True)).add_dir(d)
            finished = [groups[g].finish() for g in sorted(groups)]
            for f in pending:
                f.result()
        return Root(manifest.name, manifest.version, finished, manifest.parent, manifest.created,
                    manifest.author, manifest.tool).to_bytes()

    def publish(self, manifest: Manifest, raw: bytes | None = None) -> bytes:
        """Make a version exist, atomically and only if nobody took that number first; `raw` is
        what `stage(manifest)` returned (staged here when not given).  Returns the root's bytes."""
        raw = self.stage(manifest) if raw is None else raw
        if not self.storage.put_if_absent(manifest_key(manifest.name, manifest.version), raw):
            raise ConflictError(
                f"{manifest.name}@{manifest.version} was published by someone else meanwhile on {self.url}: "
                f"pull it and push again, or push -f to publish yours as a newer version"
            )
        # A gc that judged a reused shard an orphan just before `stage` renewed it may have deleted
        # it since: now that the root protects them, re-create any that is gone.
        doc = read_version(raw, f"{manifest.name}@{manifest.version}")
        if any(not self.storage.exists(object_key(sid)) for sid in doc.shard_ids()):
            self.stage(manifest)
        return raw

    def _put_object(self, oid: str, raw: bytes) -> None:
        # A shard already there (an unchanged partition, or an interrupted push) gets its age
        # renewed, so that `etc gc` keeps it until the root that names it exists (see gc.py).
        key = object_key(oid)
        if not self.storage.touch(key):
            self.storage.put(key, BytesSource(raw))
