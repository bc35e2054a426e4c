"""Sharded version metadata, format `etcetera/2` (see docs/format.md).

A version is a small **root** document (at the manifest's key, created last and only if absent, so
a version still exists exactly when its root does) that lists the dataset's groups (each partition
`data/<p>`, and `.` for the files outside `data/`) with counts, sizes and the **shards** holding
their file entries.  A shard is an immutable object named by the sha256 of its bytes, holding at
most `SHARD_FILES` entries of one group in path order.

So a reader fetches only what it needs: `info -r` the root alone, a partial pull the root and its
partition's shards, a single-file read one shard.  A writer never holds more than one shard of
entries, and a partition that did not change keeps byte-identical shards, which are not uploaded
again.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import operator
import re
import zlib
from typing import Any, Callable, Iterable

from ._values import FrozenValue, Value, set_field as _set
from .compactjson import compact, pieces
from .dataset import partition_of
from .errors import FormatError, IntegrityError, InvalidNameError
from .manifest import (FileEntry, Manifest, _int, check_rel_path, file_doc, gunzip, load_gzip_json, load_json,
                       parse_file_entry, parse_objects)
from .names import check_name

FORMAT = "etcetera/2"
SHARD_FORMAT = "etcetera/2-shard"
SHARD_FILES = 10_000  # entries per shard: about 0.8 MB of gzip for small files
OUTSIDE = "."  # the group of files outside data/
_HEX = frozenset("0123456789abcdef")


def group_of(rel: str, *, folder: bool = False) -> str:
    """'data/train/x' -> 'data/train'; anything outside data/ -> '.'."""
    p = partition_of(rel, folder=folder)
    return f"data/{p}" if p is not None else OUTSIDE


def _gzip(chunks: Iterable[str]) -> bytes:
    # Deterministic (no name, mtime 0): equal content gives equal bytes, hence equal shard ids.
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = [z.compress(c.encode()) for c in chunks]
    out.append(z.flush())
    return b"".join(out)


def read_version(raw: bytes, where: str) -> "Manifest | Root":
    """The document at a version's key: an `etcetera/1` manifest (whole) or an `etcetera/2` root."""
    doc = load_gzip_json(raw, f"manifest {where}")
    if isinstance(doc, dict) and doc.get("format") == FORMAT:
        return Root.from_doc(doc, where)
    return Manifest.from_doc(doc, where)


class ShardRef(FrozenValue):
    """Where a shard is and what it must hold (checked when it is read)."""

    __slots__ = ("id", "size", "files", "bytes", "first", "last")
    id: str
    size: int  # bytes of the shard object
    files: int
    bytes: int  # total size of its files
    first: str  # first and last file path ('' when it holds only folders)
    last: str

    def __init__(self, id: str, size: int, files: int, bytes: int, first: str, last: str) -> None:
        _set(self, "id", id)
        _set(self, "size", size)
        _set(self, "files", files)
        _set(self, "bytes", bytes)
        _set(self, "first", first)
        _set(self, "last", last)


class Group(Value):
    """One group of a version (a partition `data/<p>`, or '.'): its counts and its shards."""

    __slots__ = ("name", "files", "bytes", "shards")
    name: str
    files: int
    bytes: int
    shards: list[ShardRef]

    def __init__(self, name: str, files: int = 0, bytes: int = 0, shards: list[ShardRef] | None = None) -> None:
        self.name, self.files, self.bytes = name, files, bytes
        self.shards = [] if shards is None else shards

    @property
    def partition(self) -> str | None:
        return self.name[5:] if self.name.startswith("data/") else None


class Root(Value):
    """A version's root document (format etcetera/2): its groups and where their shards are."""

    __slots__ = ("name", "version", "groups", "parent", "created", "author", "tool")
    name: str
    version: int
    groups: list[Group]
    parent: int | None
    created: str
    author: str
    tool: str

    def __init__(self, name: str, version: int, groups: list[Group], parent: int | None = None, created: str = "",
                 author: str = "", tool: str = "") -> None:
        self.name, self.version, self.groups = name, version, groups
        self.parent, self.created, self.author, self.tool = parent, created, author, tool

    def partitions(self) -> list[str]:
        return sorted(g.partition for g in self.groups if g.partition is not None)

    def select(self, partitions: Iterable[str] | None) -> list[Group]:
        """The groups a pull of `partitions` (None: all) needs: those partitions and the files outside data/."""
        if partitions is None:
            return list(self.groups)
        wanted = set(partitions)
        return [g for g in self.groups if g.partition is None or g.partition in wanted]

    @property
    def files(self) -> int:
        return sum(g.files for g in self.groups)

    @property
    def bytes(self) -> int:
        return sum(g.bytes for g in self.groups)

    def shard_ids(self) -> list[str]:
        return [s.id for g in self.groups for s in g.shards]

    def to_bytes(self) -> bytes:
        doc = {
            "format": FORMAT, "name": self.name, "version": self.version, "parent": self.parent,
            "created": self.created, "author": self.author, "tool": self.tool,
            "groups": [{"name": g.name, "files": g.files, "bytes": g.bytes,
                        "shards": [[s.id, s.size, s.files, s.bytes, s.first, s.last] for s in g.shards]}
                       for g in self.groups],
        }
        return _gzip([compact(doc)])

    @classmethod
    def from_doc(cls, doc: dict, where: str) -> "Root":
        """Validate a parsed root document; FormatError names `where` and the rule broken."""
        try:
            return _parse_root(doc)
        except (KeyError, TypeError, ValueError, AttributeError, InvalidNameError) as exc:
            raise FormatError(f"manifest {where} is invalid ({exc}): refusing to use it") from None


def _check_group_name(name: Any) -> str:
    if name == OUTSIDE:
        return name
    if not isinstance(name, str) or not name.startswith("data/"):
        raise ValueError(f"bad group {name!r}")
    check_name(name[5:], "partition name")
    return name


def _hex64(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= _HEX:
        raise ValueError(f"bad shard id {value!r}")
    return value


def _parse_root(doc: dict) -> Root:
    if doc.get("format") != FORMAT:
        raise ValueError(f"unknown format {doc.get('format')!r}")
    groups: list[Group] = []
    seen: set[str] = set()
    for item in doc["groups"]:
        name = _check_group_name(item["name"])
        if name in seen:
            raise ValueError(f"duplicate group {name!r}")
        seen.add(name)
        shards = []
        previous = ""
        for sid, size, files, nbytes, first, last in item["shards"]:
            ref = ShardRef(_hex64(sid), _int(size, "shard size"), _int(files, "shard files"),
                           _int(nbytes, "shard bytes"), str(first), str(last))
            if ref.files and (ref.first > ref.last or (previous and ref.first <= previous)):
                raise ValueError(f"shards of {name!r} overlap or are out of order")
            if ref.files:
                previous = ref.last
            shards.append(ref)
        group = Group(name, _int(item["files"], "files"), _int(item["bytes"], "bytes"), shards)
        if group.files != sum(s.files for s in shards) or group.bytes != sum(s.bytes for s in shards):
            raise ValueError(f"counts of {name!r} do not add up over its shards")
        groups.append(group)
    parent = doc.get("parent")
    return Root(check_name(doc["name"]), _int(doc["version"], "version"), groups,
                None if parent is None else _int(parent, "parent"), str(doc.get("created", "")),
                str(doc.get("author", "")), str(doc.get("tool", "")))


class Shard(Value):
    """A metadata shard's content: file entries of one group in path order, its empty folders
    and the sizes of the objects its entries refer to."""

    __slots__ = ("files", "dirs", "objects")
    files: list[FileEntry]
    dirs: list[str]
    objects: dict[str, int]

    def __init__(self, files: list[FileEntry], dirs: list[str], objects: dict[str, int]) -> None:
        self.files, self.dirs, self.objects = files, dirs, objects

    def to_bytes(self, group: str) -> bytes:
        head = {"format": SHARD_FORMAT, "group": group, "objects": self.objects, "dirs": self.dirs, "files": []}
        return _gzip(pieces(head, "files", self.files, file_doc))

    def find(self, path: str) -> FileEntry | None:
        """The entry of file `path`, or None."""
        i = bisect.bisect_left(self.files, path, key=lambda f: f.path)
        return self.files[i] if i < len(self.files) and self.files[i].path == path else None


def _verified_bytes(raw: bytes, ref: ShardRef, group: str, where: str) -> bytes:
    """The shard's JSON, once its bytes are checked to be its id."""
    if len(raw) != ref.size or hashlib.sha256(raw).hexdigest() != ref.id:
        raise IntegrityError(f"{where}: metadata shard {ref.id[:12]} of {group} failed verification "
                             f"({len(raw)} bytes, sha256 mismatch or truncated): the remote copy is corrupt")
    return gunzip(raw, f"shard {ref.id[:12]} of {where}")


def _invalid(ref: ShardRef, where: str, exc: Exception) -> FormatError:
    return FormatError(f"shard {ref.id[:12]} of {where} is invalid ({exc}): refusing to use it")


_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, InvalidNameError)


def read_shard(raw: bytes, ref: ShardRef, group: str, where: str) -> Shard:
    """Verify a downloaded shard against its reference and parse it.  A shard whose bytes are not
    its id is IntegrityError; one that is but breaks a rule (a hand-made hostile root) FormatError."""
    doc = load_json(_verified_bytes(raw, ref, group, where), f"shard {ref.id[:12]} of {where}")
    try:
        return _parse_shard(doc, ref, group)
    except _SHAPE_ERRORS as exc:
        raise _invalid(ref, where, exc) from None


def open_shard(raw: bytes, ref: ShardRef, group: str, where: str) -> "ShardLookup":
    """Verify a downloaded shard like `read_shard`, for looking up a few paths in it: each look-up
    then decodes and parses one entry, not the shard's SHARD_FILES (see ShardLookup)."""
    data = _verified_bytes(raw, ref, group, where)
    try:
        try:
            return ShardLookup.scan(data.decode(), ref, group, where)
        except ValueError:  # not as GroupWriter writes it (or not valid): decoded whole, and checked so, instead
            pass
        doc = load_json(data, f"shard {ref.id[:12]} of {where}")
        return ShardLookup(ref, group, where, doc["files"], doc.get("objects") or {}, doc.get("dirs") or [], doc)
    except _SHAPE_ERRORS as exc:
        raise _invalid(ref, where, exc) from None


class _Unusual(ValueError):
    """A shard not laid out as GroupWriter writes it."""


_DECODER = json.JSONDecoder()
# A file entry as file_doc and compactjson write it, its path free of JSON escapes: (path, size).
_ENTRY_START = '{"path":"'
_ENTRY = re.compile(r'\{"path":"([^"\\]*)","size":(\d+),')


class ShardLookup:
    """A verified shard whose entries are decoded and parsed one at a time, when looked up.

    The checks that span the whole shard and cost little (its group, its paths strictly in order
    and as the root lists them, their count and total size) are made at once; those of an entry
    (as `read_shard` makes them: its path, hash, parts and their objects, its group, no folder or
    file of the shard below it nor a file as its folder) when `find` returns it.  A shard laid out
    as GroupWriter writes it is not even decoded whole (`scan`): its paths and sizes are read with
    one regular expression, and an entry is decoded from its place in the text when looked up."""

    def __init__(self, ref: ShardRef, group: str, where: str, items: Any, objects: Any, dirs: Any,
                 doc: Any = None, paths: list[str] | None = None, size: int | None = None, text: str = "",
                 start: int = 0) -> None:
        if not isinstance(items, list) or not isinstance(objects, dict) or not isinstance(dirs, list):
            raise ValueError("files, objects or dirs are not of their types")
        if doc is not None:
            if doc.get("format") != SHARD_FORMAT or doc.get("group") != group:
                raise ValueError(f"not a shard of {group!r}")
            paths = list(map(operator.itemgetter("path"), items))  # map and itemgetter: no Python loop
            size = sum(map(operator.itemgetter("size"), items))
        assert paths is not None
        if not set(map(type, paths)) <= {str}:
            raise ValueError("a path is not a string")
        if not all(map(str.__lt__, paths, itertools.islice(paths, 1, None))):
            raise ValueError("its paths are out of order or repeated")
        if len(paths) != ref.files or size != ref.bytes or (paths and (paths[0] != ref.first or paths[-1] != ref.last)):
            raise ValueError("its files are not the ones the root lists")
        self.ref, self.group, self.where = ref, group, where
        self._items, self._paths, self._objects, self._dirs = items, paths, objects, dirs
        self._doc, self._text, self._start = doc, text, start

    @classmethod
    def scan(cls, text: str, ref: ShardRef, group: str, where: str) -> "ShardLookup":
        """A look-up of a shard's JSON `text` as GroupWriter writes it (else `_Unusual`): the
        objects and folders decoded, the entries only found."""
        head = f'{{"format":"{SHARD_FORMAT}","group":{compact(group)},"objects":'
        if not text.startswith(head) or not text.endswith("]}"):
            raise _Unusual()
        objects, at = _DECODER.raw_decode(text, len(head))
        if not text.startswith(',"dirs":', at):
            raise _Unusual()
        dirs, at = _DECODER.raw_decode(text, at + 8)
        if not text.startswith(',"files":[', at):
            raise _Unusual()
        start = at + 10
        found = _ENTRY.findall(text, start)
        if len(found) != text.count(_ENTRY_START, start):  # an entry written otherwise, or a path with escapes
            raise _Unusual()
        return cls(ref, group, where, [], objects, dirs, paths=list(map(operator.itemgetter(0), found)),
                   size=sum(map(int, map(operator.itemgetter(1), found))), text=text, start=start)

    def _index(self, path: str) -> int | None:
        i = bisect.bisect_left(self._paths, path)
        return i if i < len(self._paths) and self._paths[i] == path else None

    def _item(self, i: int) -> Any:
        if self._doc is not None:
            return self._items[i]
        at = self._text.find(f'{_ENTRY_START}{self._paths[i]}","size":', self._start)  # paths are unique
        item = _DECODER.raw_decode(self._text, at)[0] if at >= 0 else None
        if not isinstance(item, dict) or item.get("path") != self._paths[i]:
            raise ValueError(f"the entry of {self._paths[i]!r} is not where it was found")
        return item

    def find(self, path: str) -> FileEntry | None:
        """The entry of file `path`, validated, or None when the shard has no such file."""
        i = self._index(path)
        if i is None:
            return None
        try:
            item = self._item(i)
            parts = item["parts"]
            if not isinstance(parts, list):
                raise ValueError(f"parts of {path!r} are not a list")
            wanted = {p[0] for p in parts if isinstance(p, list) and p and isinstance(p[0], str)}
            objects = parse_objects({o: self._objects[o] for o in wanted if o in self._objects})
            entry = parse_file_entry(item, objects)
            if group_of(entry.path) != self.group or entry.path.count("/") < (2 if self.group != OUTSIDE else 0):
                raise ValueError(f"{entry.path!r} does not belong to {self.group!r}")
            below = path + "/"
            j = bisect.bisect_left(self._paths, below)
            if (j < len(self._paths) and self._paths[j].startswith(below)) \
                    or any(d == path or d.startswith(below) for d in self._dirs):
                raise ValueError(f"something below {path!r} needs it to be a folder, but it is a file")
            parts_of = path.split("/")
            for n in range(1, len(parts_of)):
                if self._index("/".join(parts_of[:n])) is not None:
                    raise ValueError(f"{path!r} needs {'/'.join(parts_of[:n])!r} to be a folder, but it is a file")
        except _SHAPE_ERRORS as exc:
            raise _invalid(self.ref, self.where, exc) from None
        return entry

    def parse(self) -> Shard:
        """The whole shard, every entry parsed and checked (as `read_shard` returns it)."""
        doc = self._doc if self._doc is not None else load_json(self._text, f"shard {self.ref.id[:12]} of {self.where}")
        try:
            return _parse_shard(doc, self.ref, self.group)
        except _SHAPE_ERRORS as exc:
            raise _invalid(self.ref, self.where, exc) from None


def _parse_shard(doc: dict, ref: ShardRef, group: str) -> Shard:
    if doc.get("format") != SHARD_FORMAT or doc.get("group") != group:
        raise ValueError(f"not a shard of {group!r}")
    objects = parse_objects(doc.get("objects"))
    files: list[FileEntry] = []
    previous = ""
    for item in doc["files"]:
        entry = parse_file_entry(item, objects)
        if group_of(entry.path) != group or entry.path.count("/") < (2 if group != OUTSIDE else 0):
            raise ValueError(f"{entry.path!r} does not belong to {group!r}")
        if entry.path <= previous:
            raise ValueError(f"{entry.path!r} is out of order or repeated")
        previous = entry.path
        files.append(entry)
    dirs = [check_rel_path(d) for d in doc.get("dirs") or []]
    for d in dirs:
        if group_of(d, folder=True) != group:
            raise ValueError(f"folder {d!r} does not belong to {group!r}")
    if len(files) != ref.files or sum(f.size for f in files) != ref.bytes \
            or (files and (files[0].path != ref.first or files[-1].path != ref.last)):
        raise ValueError("its files are not the ones the root lists")
    paths = {f.path for f in files}
    for p in [*paths, *dirs]:  # a file cannot also be a folder (within a shard; across shards the pull fails)
        parts = p.split("/")
        for i in range(1, len(parts) + (p in dirs)):
            if "/".join(parts[:i]) in paths:
                raise ValueError(f"{p!r} needs {'/'.join(parts[:i])!r} to be a folder, but it is a file")
    return Shard(files, dirs, objects)


class GroupWriter:
    """Cuts one group's entries (given in path order) into shards and hands each to `put` as soon
    as it is full, so memory holds one shard whatever the group's size."""

    def __init__(self, group: str, object_size: Callable[[str], int], put: Callable[[str, bytes], None],
                 per_shard: int = SHARD_FILES) -> None:
        self.group = Group(group)
        self._object_size, self._put, self._per_shard = object_size, put, per_shard
        self._files: list[FileEntry] = []
        self._dirs: list[str] = []

    def add(self, entry: FileEntry) -> None:
        self._files.append(entry)
        if len(self._files) >= self._per_shard:
            self._flush()

    def add_dir(self, path: str) -> None:
        self._dirs.append(path)

    def _flush(self) -> None:
        if not self._files and not self._dirs:
            return
        objects = {p.obj: self._object_size(p.obj) for f in self._files for p in f.parts}
        raw = Shard(self._files, self._dirs, dict(sorted(objects.items()))).to_bytes(self.group.name)
        sid = hashlib.sha256(raw).hexdigest()
        nbytes = sum(f.size for f in self._files)
        first, last = (self._files[0].path, self._files[-1].path) if self._files else ("", "")
        self.group.shards.append(ShardRef(sid, len(raw), len(self._files), nbytes, first, last))
        self.group.files += len(self._files)
        self.group.bytes += nbytes
        self._put(sid, raw)
        self._files, self._dirs = [], []

    def finish(self) -> Group:
        self._flush()
        return self.group
