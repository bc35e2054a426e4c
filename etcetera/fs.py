"""Read datasets without pulling them: the `etc://` fsspec filesystem.

    fsspec.open("etc://birds@3/data/train/x.csv", config=etcetera.Config("s3://bucket"))
    pandas.read_csv("etc://birds/data/train/x.csv", storage_options={"config": cfg})

`etc://NAME[@VERSION]/PATH` names a file of a published version (NAME alone: the latest version,
resolved once per filesystem instance and carried along when the filesystem is pickled, so every
Dask or Ray worker reads the same version).  A look-up reads the version's root and only the
metadata shards that can hold the path (see `Remote.entry`); an open file fetches only the byte
ranges it reads, each verified against its hash before a caller sees it: a small file's whole
range once (it is the unit its hash covers), a large file's 16 MiB chunks: one ranged read each for
random access, and while reading sequentially READ_AHEAD chunks ahead, each in SPLIT parallel
ranged reads; an open file holds at most KEEP + READ_AHEAD chunks (1 + READ_AHEAD while reading
sequentially).  A damaged object raises `IntegrityError` naming
`name@version` and the file where the reader reaches it; nothing unverified is ever returned.

Nothing is written to the home unless the block cache is enabled (`cache=True`, `cache_size=`):
verified blocks under `<home>/.etc/cache/`, named by the sha256 of their bytes, verified again
when read back, bounded in size (least recently used go first), shared safely by processes.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator, Sequence

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem, make_instance

from .catalog import OUTSIDE, Root
from .config import Config, config_keys
from .errors import ConfigError, EtcError, IntegrityError, NotFoundError, RemoteError
from .manifest import FileEntry, Manifest, Part
from .names import parse_ref_or_tag
from .remote import Remote, object_key
from .tags import resolve as resolve_tag
from .storage import open_storage

log = logging.getLogger("etcetera")

DEFAULT_CACHE_SIZE = 1 << 30
READ_AHEAD = 2  # chunks fetched ahead of a sequential reader
SPLIT = 4  # ranged GETs in parallel per chunk fetched ahead (one connection rarely fills the link)
SPLIT_MIN = 1 << 20  # ... each of at least this many bytes
KEEP = 2  # verified blocks an open file keeps in memory
ATTEMPTS = 3
_CONFIG_KEYS = frozenset(k.name for k in config_keys())
# Options fsspec's own AbstractFileSystem understands; anything else unknown is an error.
_FSSPEC_OPTIONS = frozenset({"use_listings_cache", "listings_expiry_time", "max_paths", "asynchronous", "loop"})
# Distinguishes cached instances whose Configs differ only in secrets (repr masks them), without
# putting anything derived from a secret where it could be compared across processes.
_PROCESS_KEY = secrets.token_bytes(32)


class FileMissing(NotFoundError, FileNotFoundError):
    """No such dataset, version or path: both an etcetera and a Python not-found error."""


class ReadOnlyError(EtcError, PermissionError):
    """etc:// is read-only."""


def _read_only(path: str = "") -> ReadOnlyError:
    where = f" (etc://{path})" if path else ""
    return ReadOnlyError(f"etc:// is read-only{where}: change the dataset in the home and publish it with `etc push`")


def _identity(config: Config) -> str:
    doc = json.dumps(config.to_dict(secrets=True), sort_keys=True, default=str)
    return hmac.new(_PROCESS_KEY, doc.encode(), "sha256").hexdigest()[:32]


def _configure(options: dict[str, Any]) -> dict[str, Any]:
    """Fold Config keys given as storage options into one Config (else `Config.load()`), so the
    instance cache and pickles carry a Config, whose repr never shows a secret."""
    options = dict(options)
    options.pop("_identity", None)
    config = options.pop("config", None)
    keys = {k: options.pop(k) for k in list(options) if k in _CONFIG_KEYS}
    if isinstance(config, dict):
        config = Config.from_dict(config, source="storage option 'config'")
    if config is not None and not isinstance(config, Config):
        raise ConfigError(f"storage option 'config' must be an etcetera.Config or a dict, not {type(config).__name__}")
    if config is None:
        config = Config.from_dict(keys, source="etc:// storage options") if keys else Config.load()
    elif keys:
        config = config.replace(**keys)
    options["config"] = config
    options["_identity"] = _identity(config)
    return options


class _Configured(type(AbstractFileSystem)):  # type: ignore[misc]
    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return super().__call__(*args, **_configure(kwargs))


def _rebuild(cls: type, args: tuple, kwargs: dict, pins: dict[str, int]) -> "EtcFileSystem":
    fs = make_instance(cls, args, kwargs)
    for name, version in pins.items():
        fs._pins.setdefault(name, version)
    return fs


class _LRU(OrderedDict):
    """A small thread-safe mapping that forgets its least recently used items beyond `limit`."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.lock = threading.Lock()

    def get(self, key: Any, default: Any = None) -> Any:
        with self.lock:
            if key not in self:
                return default
            self.move_to_end(key)
            return super().__getitem__(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        with self.lock:
            super().__setitem__(key, value)
            self.move_to_end(key)
            while len(self) > self.limit:
                self.popitem(last=False)


class BlockCache:
    """Verified blocks on local disk, named by the sha256 of their bytes (a small file's content
    or a chunk), so a block is checked again when read back.  Writes go to a temporary file
    renamed into place, so processes sharing the folder never see a partial block; beyond
    `limit` bytes the least recently used (oldest mtime; a hit renews it) are deleted."""

    def __init__(self, root: Path, limit: int = DEFAULT_CACHE_SIZE) -> None:
        self.root = Path(root)
        self.limit = limit
        self.hits = 0

    def _path(self, sha: str) -> Path:
        return self.root / sha[:2] / sha

    def get(self, sha: str) -> bytes | None:
        path = self._path(sha)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != sha:
            log.debug("cache: dropping damaged block %s", sha[:12])
            path.unlink(missing_ok=True)
            return None
        try:
            os.utime(path)
        except OSError:
            pass
        self.hits += 1
        return data

    def put(self, sha: str, pieces: Sequence[bytes]) -> None:
        """Store a verified block given as the pieces it arrived in."""
        if sum(map(len, pieces)) > self.limit:
            return
        path = self._path(sha)
        tmp = self.root / f".tmp-{uuid.uuid4().hex}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.writelines(pieces)
            os.replace(tmp, path)
        except OSError as exc:  # a full or read-only disk costs speed, not correctness
            log.debug("cache: cannot store block %s (%s)", sha[:12], exc)
            tmp.unlink(missing_ok=True)
            return
        self.evict()

    def files(self) -> Iterator[os.DirEntry]:
        try:
            subdirs = [d for d in os.scandir(self.root) if d.is_dir()]
        except OSError:
            return
        for d in subdirs:
            try:
                yield from os.scandir(d.path)
            except OSError:
                continue

    def evict(self) -> None:
        """Delete least recently used blocks until the cache holds at most `limit` bytes."""
        blocks = []
        for entry in self.files():
            try:
                st = entry.stat()
            except OSError:
                continue
            blocks.append((st.st_mtime, st.st_size, entry.path))
        total = sum(size for _, size, _ in blocks)
        blocks.sort()
        for _, size, path in blocks:
            if total <= self.limit:
                break
            try:
                os.unlink(path)
            except OSError:
                pass
            total -= size
        now = time.time()
        for stale in self.root.glob(".tmp-*"):  # left by a killed process
            try:
                if now - stale.stat().st_mtime > 3600:
                    stale.unlink()
            except OSError:
                pass


class EtcFileSystem(AbstractFileSystem, metaclass=_Configured):
    """Read-only fsspec filesystem over the published versions of an etcetera remote.

    Storage options: `config` (an `etcetera.Config`), or Config keys (`url`, `endpoint_url`, ...),
    else `Config.load()`; `cache=True` and/or `cache_size=BYTES` for the local block cache.
    """

    protocol = "etc"
    root_marker = ""

    def __init__(self, config: Config, cache: bool = False, cache_size: int | None = None,
                 _identity: str = "", **options: Any) -> None:
        unknown = sorted(set(options) - _FSSPEC_OPTIONS)
        if unknown:
            raise ConfigError(f"unknown etc:// storage option {unknown[0]!r}: use 'config', Config keys "
                              f"({', '.join(sorted(_CONFIG_KEYS))}), 'cache' or 'cache_size'")
        if cache_size is not None and (not isinstance(cache_size, int) or cache_size <= 0):
            raise ConfigError(f"storage option 'cache_size' must be a positive number of bytes, not {cache_size!r}")
        super().__init__(**options)
        self.config = config
        self.cache = BlockCache(config.home_path / ".etc" / "cache", cache_size or DEFAULT_CACHE_SIZE) \
            if cache or cache_size else None
        self._lock = threading.Lock()
        self._remote: Remote | None = None
        self._pins: dict[str, int] = {}
        self._heads = _LRU(8)
        self._shards = _LRU(8)

    # ------------------------------------------------------------------ plumbing

    def __repr__(self) -> str:
        return f"EtcFileSystem({self.config.url!r})"

    def __reduce__(self) -> tuple:
        # Clients are not pickled: a worker re-creates its own on first use.  The resolved
        # latest versions travel, so a worker reads what the client listed.
        return _rebuild, (type(self), self.storage_args, self.storage_options, dict(self._pins))

    @property
    def remote(self) -> Remote:
        """The remote, with its storage client opened on first use."""
        with self._lock:
            if self._remote is None:
                self._remote = self._open_remote()
            return self._remote

    def _open_remote(self) -> Remote:
        return Remote(open_storage(self.config))

    def _split(self, path: str) -> tuple[str, str, int, str]:
        """(ref as written, name, version, path inside the version) of a path below a dataset."""
        path = self._strip_protocol(path).strip("/")
        ref, _, rel = path.partition("/")
        try:
            parsed = parse_ref_or_tag(ref)
        except EtcError:
            raise FileMissing(f"{ref!r} is not a dataset reference: use etc://NAME[@VERSION]/PATH") from None
        name, version = parsed.name, parsed.version
        if parsed.tag is not None:  # pinned like NAME alone: a tag moved meanwhile is not followed
            version = self._pins.get(str(parsed))
            if version is None:
                try:
                    resolved = resolve_tag(self.remote, parsed)
                except NotFoundError as exc:
                    raise FileMissing(str(exc)) from None
                assert resolved is not None
                version = self._pins.setdefault(str(parsed), resolved)
        if version is None:
            version = self._pins.get(name)
            if version is None:
                latest = self.remote.latest(name)
                if latest is None:
                    raise FileMissing(f"{name} does not exist on {self.remote.url}: `etc list -r` lists the datasets")
                version = self._pins.setdefault(name, latest)
        return ref, name, version, rel

    def _head(self, name: str, version: int) -> Manifest | Root:
        doc = self._heads.get((name, version))
        if doc is None:
            try:
                doc = self.remote.head(name, version)
            except NotFoundError as exc:
                raise FileMissing(str(exc)) from None
            self._heads[(name, version)] = doc
        return doc

    def _entry(self, name: str, version: int, rel: str) -> FileEntry | None:
        return self.remote.entry(name, version, rel, head=self._head(name, version), cache=self._shards)

    def _entries(self, name: str, version: int, rel: str, groups: list[str] | None = None
                 ) -> tuple[list[FileEntry], list[str]]:
        return self.remote.entries(name, version, rel, head=self._head(name, version), cache=self._shards,
                                   groups=groups)

    @staticmethod
    def _file_info(name: str, f: FileEntry) -> dict[str, Any]:
        return {"name": name, "size": f.size, "type": "file", "sha256": f.sha256, "executable": f.executable}

    @staticmethod
    def _dir_info(name: str) -> dict[str, Any]:
        return {"name": name, "size": 0, "type": "directory"}

    # ------------------------------------------------------------------ reading the tree

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list:
        """The entries of a folder (a file lists itself); `etc://` lists the remote's datasets."""
        path = self._strip_protocol(path).strip("/")
        if not path:
            out = [{**self._dir_info(n), "version": v} for n, v in self.remote.names().items()]
        else:
            out = self._ls(path)
        return out if detail else [o["name"] for o in out]

    def _ls(self, path: str) -> list[dict[str, Any]]:
        ref, name, version, rel = self._split(path)
        head = self._head(name, version)
        base = f"{ref}/{rel}" if rel else ref
        if rel == "data":
            return [self._dir_info(f"{base}/{p}") for p in head.partitions()]
        if not rel:
            files, dirs = self._entries(name, version, "", groups=[OUTSIDE])
            children = _children("", files, dirs)
            children.setdefault("data", None)
        else:
            files, dirs = self._entries(name, version, rel)
            if files and files[0].path == rel:
                return [self._file_info(base, files[0])]
            children = _children(rel, files, dirs)
            if not children and rel not in dirs and not self._is_partition(head, rel):
                raise FileMissing(f"{name}@{version} has no {rel} on {self.remote.url}")
        return [self._dir_info(f"{base}/{c}") if f is None else self._file_info(f"{base}/{c}", f)
                for c, f in sorted(children.items())]

    @staticmethod
    def _is_partition(head: Manifest | Root, rel: str) -> bool:
        return rel.startswith("data/") and rel.count("/") == 1 and rel[5:] in head.partitions()

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path).strip("/")
        if not path:
            return self._dir_info("")
        ref, name, version, rel = self._split(path)
        head = self._head(name, version)
        if not rel or rel == "data" or self._is_partition(head, rel):
            return {**self._dir_info(path), **({"version": version} if not rel else {})}
        entry = self._entry(name, version, rel)
        if entry is not None:
            return self._file_info(path, entry)
        files, dirs = self._entries(name, version, rel)
        if files or dirs:
            return self._dir_info(path)
        raise FileMissing(f"{name}@{version} has no {rel} on {self.remote.url}")

    def exists(self, path: str, **kwargs: Any) -> bool:
        """Whether the path exists; a remote that cannot be read is an error, not False."""
        try:
            self.info(path)
            return True
        except FileNotFoundError:
            return False

    def find(self, path: str, maxdepth: int | None = None, withdirs: bool = False, detail: bool = False,
             **kwargs: Any) -> Any:
        """Every file below `path` (and with `withdirs` every folder) from the version's metadata
        alone: one read of the shards that can hold them, not one listing per folder."""
        path = self._strip_protocol(path).strip("/")
        if not path:
            return super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail, **kwargs)
        try:
            ref, name, version, rel = self._split(path)
            head = self._head(name, version)
        except FileNotFoundError:
            return {} if detail else []
        files, dirs = self._entries(name, version, rel)
        base = f"{ref}/{rel}" if rel else ref
        out: dict[str, dict[str, Any]] = {}
        if rel and files and files[0].path == rel:
            out[base] = self._file_info(base, files[0])
        elif not rel or rel == "data" or self._is_partition(head, rel) or files or dirs:
            cut = len(rel) + 1 if rel else 0
            folders = {d[cut:] for d in dirs if d != rel}
            if not rel:
                folders.update(f"data/{p}" for p in head.partitions())
            elif rel == "data":
                folders.update(head.partitions())
            for f in files:
                sub = f.path[cut:]
                if maxdepth is None or sub.count("/") < maxdepth:
                    out[f"{base}/{sub}"] = self._file_info(f"{base}/{sub}", f)
                folders.add(sub.rpartition("/")[0])
            if withdirs:
                out[base] = self._dir_info(base)
                for folder in filter(None, folders):
                    parts = folder.split("/")
                    for i in range(1, min(len(parts), maxdepth or len(parts)) + 1):
                        d = f"{base}/{'/'.join(parts[:i])}"
                        out[d] = self._dir_info(d)
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names

    def invalidate_cache(self, path: str | None = None) -> None:
        """Forget which version NAME alone means (for `path`'s dataset, or all), so the next
        access resolves the latest again.  Published versions never change: nothing else to forget."""
        name = self._strip_protocol(path or "").strip("/").partition("/")[0].partition("@")[0]
        if name:
            for pinned in [p for p in self._pins if p == name or p.startswith(name + "@")]:
                del self._pins[pinned]
        else:
            self._pins.clear()
        super().invalidate_cache(path)

    def ukey(self, path: str) -> str:
        """The file's content id (sha256): equal across versions exactly when the bytes are."""
        return self.info(path)["sha256"]

    # ------------------------------------------------------------------ reading bytes

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None, autocommit: bool = True,
              cache_options: dict | None = None, **kwargs: Any) -> "EtcFile":
        if mode != "rb":
            raise _read_only(self._strip_protocol(path))
        path = self._strip_protocol(path).strip("/")
        ref, name, version, rel = self._split(path)
        entry = self._entry(name, version, rel) if rel else None
        if entry is None:
            if self.isdir(path):
                raise IsADirectoryError(f"etc://{path} is a folder: open a file in it")
            raise FileMissing(f"{name}@{version} has no file {rel or '(no path given)'} on {self.remote.url}")
        return EtcFile(self, path, entry, f"{name}@{version}", block_size=block_size)

    def fetch_block(self, label: str, entry: FileEntry, index: int, ranges: Executor | None = None) -> "Block":
        """Block `index` of a file (its whole range when it has one part, else its index-th 16 MiB
        chunk), verified against its hash; from the block cache when enabled.  One ranged read, or
        with `ranges` (a pool, for read-ahead) SPLIT ranged reads of it in parallel."""
        if len(entry.parts) == 1:
            part, expect = entry.parts[0], entry.sha256
        else:
            part = entry.parts[index]
            expect = part.obj
        if self.cache is not None:
            hit = self.cache.get(expect)
            if hit is not None and len(hit) == part.length:
                return Block([hit])
        storage = self.remote.storage
        problem = ""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                pieces, got, digest = self._read_part(part, ranges)
            except NotFoundError:
                raise NotFoundError(f"{label}: object {part.obj[:12]} holding {entry.path} is missing on "
                                    f"{storage.url}: the remote is damaged") from None
            except RemoteError:
                if attempt == ATTEMPTS:
                    raise
                time.sleep(0.1 * 2**attempt)
                continue
            if got != part.length:
                problem = (f"remote object {part.obj[:12]} is truncated: {got} of {part.length} "
                           f"bytes at offset {part.offset}")
            elif digest != expect:
                problem = f"sha256 mismatch in remote object {part.obj[:12]}"
            else:
                block = Block(pieces)
                if self.cache is not None:
                    self.cache.put(expect, block.pieces)
                return block
            if attempt >= 2:  # the same bad bytes twice: the stored object itself is damaged
                break
            log.debug("retrying %s of %s: %s", entry.path, label, problem)
        raise IntegrityError(f"{label}: {entry.path} failed verification ({problem}): the remote copy is "
                             f"corrupt; no byte of it was returned")

    def _read_part(self, part: Part, ranges: Executor | None = None) -> tuple[list[bytes], int, str]:
        """The bytes of `part` as they arrived (kept, not copied into one buffer), how many arrived
        (fewer when the object is shorter than the version says), and their sha256.  With `ranges`,
        in SPLIT ranged reads on that pool, hashed once all arrived; else in one, hashed block by
        block while each is still in the CPU's cache."""
        digest = hashlib.sha256()
        if ranges is None or part.length < 2 * SPLIT_MIN:
            pieces, got = self._read_range(part.obj, part.offset, part.length, digest)
            return pieces, got, digest.hexdigest()
        step = -(-part.length // SPLIT)
        spans = [(part.offset + at, min(step, part.length - at)) for at in range(0, part.length, step)]
        pieces, got = [], 0
        for some, n in ranges.map(lambda span: self._read_range(part.obj, *span), spans):
            pieces += some
            got += n
        for piece in pieces:
            digest.update(piece)
        return pieces, got, digest.hexdigest()

    def _read_range(self, obj: str, offset: int, length: int, digest: Any = None) -> tuple[list[bytes], int]:
        """Bytes [offset, offset+length) of object `obj` as they arrive, and how many did."""
        pieces: list[bytes] = []
        got = 0
        for piece in self.remote.storage.read(object_key(obj), offset, length):
            if got + len(piece) > length:
                piece = piece[:length - got]
            if digest is not None:
                digest.update(piece)
            pieces.append(piece)
            got += len(piece)
        return pieces, got

    # ------------------------------------------------------------------ read-only

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise _read_only()

    mkdir = makedirs = rmdir = rm = rm_file = _rm = touch = _refuse
    pipe = pipe_file = put = put_file = cp_file = copy = mv = _refuse


def _children(rel: str, files: list[FileEntry], dirs: list[str]) -> dict[str, FileEntry | None]:
    """The immediate children of folder `rel`: {name: its entry, or None for a folder}."""
    cut = len(rel) + 1 if rel else 0
    out: dict[str, FileEntry | None] = {}
    for f in files:
        head, sep, _ = f.path[cut:].partition("/")
        out[head] = None if sep else f
    for d in dirs:
        if d != rel:
            out.setdefault(d[cut:].partition("/")[0], None)
    return out


class Block:
    """A verified block of a file, held as the pieces its bytes arrived in: a read that covers
    exactly one piece returns it without a copy (a sequential reader's 1 MiB reads usually do)."""

    __slots__ = ("pieces", "starts", "size")

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.starts = []
        pos = 0
        for piece in pieces:
            self.starts.append(pos)
            pos += len(piece)
        self.size = pos

    def __len__(self) -> int:
        return self.size

    def slices(self, start: int, end: int) -> Iterator[bytes | memoryview]:
        """Bytes [start, end) of the block, piece by piece: whole pieces as they are, parts of them as views."""
        i = max(bisect.bisect_right(self.starts, start) - 1, 0)
        while i < len(self.pieces) and self.starts[i] < end:
            piece, at = self.pieces[i], self.starts[i]
            lo, hi = max(start - at, 0), min(end - at, len(piece))
            yield piece if (lo, hi) == (0, len(piece)) else memoryview(piece)[lo:hi]
            i += 1


class EtcFile(AbstractBufferedFile):
    """A read-only, seekable file of a published version that fetches only what is read: its
    verified blocks (the whole small file, or the 16 MiB chunks a read touches), keeping the
    last few in memory and fetching the next ones ahead while reading sequentially."""

    def __init__(self, fs: EtcFileSystem, path: str, entry: FileEntry, label: str,
                 block_size: int | None = None) -> None:
        self.entry, self.label = entry, label
        self._starts = []
        pos = 0
        for p in entry.parts if len(entry.parts) > 1 else entry.parts[:1]:
            self._starts.append(pos)
            pos += p.length
        self._mem: OrderedDict[int, Block] = OrderedDict()
        self._ahead: dict[int, Future] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._ranges: ThreadPoolExecutor | None = None
        self._last_end: int | None = None
        super().__init__(fs, path, mode="rb", block_size=block_size, cache_type="none", size=entry.size)

    def _index(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, offset) - 1

    def _block(self, i: int) -> Block:
        data = self._mem.get(i)
        if data is not None:
            self._mem.move_to_end(i)
            return data
        future = self._ahead.pop(i, None)
        data = future.result() if future is not None else self.fs.fetch_block(self.label, self.entry, i)
        self._mem[i] = data
        while len(self._mem) > KEEP:
            self._mem.popitem(last=False)
        return data

    def _schedule(self, indices: range) -> None:
        """Fetch these blocks in the background (those not already here or on their way)."""
        for i in indices:
            if i not in self._mem and i not in self._ahead:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="etc-ahead")
                    self._ranges = ThreadPoolExecutor(READ_AHEAD * SPLIT, thread_name_prefix="etc-ahead-range")
                self._ahead[i] = self._pool.submit(self.fs.fetch_block, self.label, self.entry, i, self._ranges)

    def _fetch_range(self, start: int, end: int) -> bytes:
        end = min(end, self.size)
        if start >= end:
            return b""
        first, last = self._index(start), self._index(end - 1)
        for i in [i for i in self._ahead if i < first or i > last + READ_AHEAD]:  # the reader moved away
            self._ahead.pop(i).cancel()
        sequential = start == self._last_end
        if sequential:  # blocks behind a sequential reader are done with
            for i in [i for i in self._mem if i < first]:
                del self._mem[i]
        if last > first:  # a range over several chunks: fetch them in parallel
            self._schedule(range(first + 1, last + 1))
        pieces: list[bytes | memoryview] = []
        for i in range(first, last + 1):
            pieces += self._block(i).slices(start - self._starts[i], end - self._starts[i])
        self._last_end = end
        if sequential:
            self._schedule(range(last + 1, min(last + 1 + READ_AHEAD, len(self._starts))))
        if len(pieces) == 1 and isinstance(pieces[0], bytes):
            return pieces[0]
        return b"".join(pieces)

    def close(self) -> None:
        for future in self._ahead.values():
            future.cancel()
        self._ahead.clear()
        for pool in (self._pool, self._ranges):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._ranges = None
        self._mem.clear()
        super().close()
