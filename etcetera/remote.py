"""The remote format on top of a Storage: versions, manifests and objects (docs/format.md)."""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Iterable, Iterator

from . import catalog
from .catalog import Group, GroupWriter, Root, Shard, group_of, read_shard, read_version
from .errors import ConflictError, NotFoundError
from .manifest import FileEntry, Manifest
from .names import NAME_RE, parse_version
from .storage import BytesSource, Storage

log = logging.getLogger("etcetera")

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


class Remote:
    """Reads and publishes versions of datasets on one storage root."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.url = storage.url

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

    def _version_doc(self, name: str, version: int) -> tuple[bytes, Manifest | Root]:
        key = manifest_key(name, version)
        try:
            raw = self.storage.get(key)
        except NotFoundError:
            raise NotFoundError(f"{name}@{version} does not exist on {self.url}: `etc versions {name}` lists them") from None
        doc = read_version(raw, f"{name}@{version} on {self.url}")
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
            return self.shard(item[1], item[0], where)

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

    def shard(self, ref: catalog.ShardRef, group: str, where: str) -> catalog.Shard:
        """One metadata shard, verified against its reference."""
        try:
            raw = self.storage.get(object_key(ref.id))
        except NotFoundError:
            raise NotFoundError(f"{where}: metadata shard {ref.id[:12]} of {group} is missing: the remote is damaged") from None
        return read_shard(raw, ref, group, where)

    def version(self, name: str, version: int) -> "VersionReader":
        """A version's metadata, to be read group by group and shard by shard."""
        return VersionReader(self, name, version, self._version_doc(name, version)[1])

    @contextlib.contextmanager
    def shard_sink(self) -> Iterator[Callable[[str, bytes], None]]:
        """A `put(id, raw)` for metadata shards: uploaded in the background (an existing one has its
        age renewed), a bounded number at a time; every one is stored when the block ends."""
        pending: set[Future] = set()
        with ThreadPoolExecutor(self.storage.config.worker_count, "etc-meta") as pool:

            def put(sid: str, raw: bytes) -> None:
                while len(pending) >= 2 * self.storage.config.worker_count:  # bounded memory
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        pending.discard(f)
                        f.result()
                pending.add(pool.submit(self._put_object, sid, raw))

            yield put
            for f in pending:
                f.result()

    def create_root(self, root: Root) -> bytes:
        """Publish a staged root: the version exists from now on.  ConflictError when its number
        was taken meanwhile.  Returns the root's bytes."""
        raw = root.to_bytes()
        if not self.storage.put_if_absent(manifest_key(root.name, root.version), raw):
            raise ConflictError(
                f"{root.name}@{root.version} was published by someone else meanwhile on {self.url}: "
                f"pull it and push again, or push -f to publish yours as a newer version"
            )
        return raw

    def missing_shards(self, root: Root) -> bool:
        """Whether a shard the root names is gone (a gc that ran just before it was published)."""
        return any(not self.storage.exists(object_key(sid)) for sid in root.shard_ids())

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


class VersionReader:
    """One version's metadata read a group at a time and, within a group, a shard at a time in
    path order (a few shards fetched ahead), so a reader holds one group's few shards whatever the
    version's size.  An `etcetera/1` manifest is read whole and handed out the same way."""

    PREFETCH = 4

    def __init__(self, remote: Remote, name: str, version: int, doc: Manifest | Root) -> None:
        self.remote, self.name, self.version, self.doc = remote, name, version, doc
        self.where = f"{name}@{version} on {remote.url}"

    def partitions(self) -> list[str]:
        return self.doc.partitions()

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
