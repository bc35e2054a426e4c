"""The version manifest: the one document that makes a version exist (see docs/format.md).

Stored gzip-compressed JSON at `datasets/<name>/<version:010d>.json.gz`, created last and only
if absent, so a version is either complete or invisible.  Parsing validates everything a
hostile remote could use: paths, sizes, object ids and ranges.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import zlib
from typing import Any

from ._values import FrozenValue, Value, set_field as _set
from .compactjson import pieces
from .dataset import partition_of
from .errors import FormatError, InvalidNameError
from .names import check_name, check_rel_path

FORMAT = "etcetera/1"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
_HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_MANIFEST_BYTES = 1 << 30


def chunk_list_id(chunks: tuple[str, ...] | list[str]) -> str:
    """The content id of a chunked file: sha256 of `etcetera-chunks/1` and its chunk ids, one per line."""
    h = hashlib.sha256(b"etcetera-chunks/1\n")
    for cid in chunks:
        h.update(cid.encode() + b"\n")
    return h.hexdigest()


class Part(FrozenValue):
    """Bytes [offset, offset+length) of object `obj`.  A file with several parts is chunked:
    each part is a whole object whose id is the sha256 of its bytes, and the file's id is
    `chunk_list_id` of those ids."""

    __slots__ = ("obj", "offset", "length")
    obj: str
    offset: int
    length: int

    def __init__(self, obj: str, offset: int, length: int) -> None:
        _set(self, "obj", obj)
        _set(self, "offset", offset)
        _set(self, "length", length)


class FileEntry(FrozenValue):
    """One file of a version: its path, size, content id, mode and the object ranges holding it."""

    __slots__ = ("path", "size", "sha256", "executable", "parts")
    path: str
    size: int
    sha256: str
    executable: bool
    parts: tuple[Part, ...]

    def __init__(self, path: str, size: int, sha256: str, executable: bool = False, parts: tuple[Part, ...] = ()
                 ) -> None:
        _set(self, "path", path)
        _set(self, "size", size)
        _set(self, "sha256", sha256)
        _set(self, "executable", executable)
        _set(self, "parts", parts)

    def content_key(self) -> tuple:
        return (self.path, self.sha256, self.executable)


class Manifest(Value):
    """A version's files, empty folders and objects (`dirs` and `objects` default to new empty ones)."""

    __slots__ = ("name", "version", "files", "dirs", "objects", "parent", "created", "author", "tool",
                 "partition_names")
    name: str
    version: int
    files: list[FileEntry]
    dirs: list[str]
    objects: dict[str, int]
    parent: int | None
    created: str
    author: str
    tool: str
    # Set when the manifest was read partially (format etcetera/2): every partition of the version,
    # although `files` and `dirs` hold only those that were read.
    partition_names: list[str] | None

    def __init__(self, name: str, version: int, files: list[FileEntry], dirs: list[str] | None = None,
                 objects: dict[str, int] | None = None, parent: int | None = None, created: str = "",
                 author: str = "", tool: str = "", partition_names: list[str] | None = None) -> None:
        self.name, self.version, self.files = name, version, files
        self.dirs = [] if dirs is None else dirs
        self.objects = {} if objects is None else objects
        self.parent, self.created, self.author, self.tool = parent, created, author, tool
        self.partition_names = partition_names

    def partitions(self) -> list[str]:
        """Partition names, from files and from empty partition folders."""
        if self.partition_names is not None:
            return list(self.partition_names)
        found = {p for f in self.files if (p := partition_of(f.path))}
        found.update(p for d in self.dirs if (p := partition_of(d, folder=True)))
        return sorted(found)

    def content(self) -> set[tuple]:
        """What makes two versions equal: paths, hashes, modes and empty dirs."""
        return {f.content_key() for f in self.files} | {("dir", d) for d in self.dirs}

    def to_bytes(self) -> bytes:
        head = {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "parent": self.parent,
            "created": self.created,
            "author": self.author,
            "tool": self.tool,
            "objects": self.objects,
            "dirs": self.dirs,
            "files": [],
        }
        # Compressed as it is encoded (see compactjson); the bytes equal gzip.compress(text, 6, mtime=0).
        z = zlib.compressobj(6, zlib.DEFLATED, 31)
        out = [z.compress(piece.encode()) for piece in pieces(head, "files", self.files, file_doc)]
        out.append(z.flush())
        return b"".join(out)

    @classmethod
    def from_bytes(cls, raw: bytes, where: str) -> "Manifest":
        """Parse and validate; FormatError names `where` and the rule broken."""
        return cls.from_doc(load_gzip_json(raw, f"manifest {where}"), where)

    @classmethod
    def from_doc(cls, doc: Any, where: str) -> "Manifest":
        try:
            return _parse(doc)
        except (KeyError, TypeError, ValueError, AttributeError, InvalidNameError) as exc:
            raise FormatError(f"manifest {where} is invalid ({exc}): refusing to use it") from None


def load_gzip_json(raw: bytes, what: str) -> Any:
    """A gzip-compressed JSON document; FormatError (naming `what`) when it is not one."""
    return load_json(gunzip(raw, what), what)


def gunzip(raw: bytes, what: str) -> bytes:
    """The bytes gzip-compressed in `raw` (at most MAX_MANIFEST_BYTES); FormatError naming `what` if it is not gzip."""
    try:
        data = gzip.decompress(raw)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise FormatError(f"{what} is unreadable ({exc}): the remote is damaged") from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise FormatError(f"{what} is unreadable (too large): the remote is damaged")
    return data


def load_json(data: bytes | str, what: str) -> Any:
    """A JSON document; FormatError (naming `what`) when it is not one."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurd nesting
        raise FormatError(f"{what} is unreadable ({exc}): the remote is damaged") from None


def file_doc(f: FileEntry) -> dict:
    return {
        "path": f.path,
        "size": f.size,
        "sha256": f.sha256,
        **({"x": True} if f.executable else {}),
        "parts": [[p.obj, p.offset, p.length] for p in f.parts],
    }


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer")
    return value


def parse_objects(raw: Any) -> dict[str, int]:
    """The `objects` map {id: size}, validated."""
    objects = {}
    for oid, size in dict(raw or {}).items():
        if not _HEX64.fullmatch(oid):
            raise ValueError(f"bad object id {oid!r}")
        objects[oid] = _int(size, "object size")
    return objects


def parse_file_entry(item: dict, objects: dict[str, int]) -> FileEntry:
    """One file's entry, validated against the objects it may reference (a hostile remote's
    paths, sizes, hashes and ranges are all refused here)."""
    path = check_rel_path(item["path"])
    size = _int(item["size"], "size")
    sha = item["sha256"]
    if not isinstance(sha, str) or not _HEX64.fullmatch(sha):
        raise ValueError(f"bad sha256 for {path!r}")
    parts = []
    for obj, offset, length in item["parts"]:
        if obj not in objects:
            raise ValueError(f"{path!r} refers to unlisted object {obj!r}")
        _int(offset, "offset"), _int(length, "length")
        if offset + length > objects[obj]:
            raise ValueError(f"{path!r} reads past the end of object {obj}")
        parts.append(Part(obj, offset, length))
    if sum(p.length for p in parts) != size:
        raise ValueError(f"parts of {path!r} do not add up to its size")
    if len(parts) > 1 and any(p.offset != 0 or p.length != objects[p.obj] for p in parts):
        raise ValueError(f"chunks of {path!r} must be whole objects")
    if len(parts) > 1 and sha != chunk_list_id([p.obj for p in parts]):
        raise ValueError(f"sha256 of {path!r} is not the id of its chunk list")
    return FileEntry(path, size, sha, bool(item.get("x", False)), tuple(parts))


def _parse(doc: dict) -> Manifest:
    if doc.get("format") != FORMAT:
        raise ValueError(f"unknown format {doc.get('format')!r} (this etcetera reads {FORMAT}; upgrade it)")
    name = check_name(doc["name"])
    version = _int(doc["version"], "version")
    objects = parse_objects(doc.get("objects"))
    files = []
    seen: set[str] = set()
    for item in doc["files"]:
        entry = parse_file_entry(item, objects)
        if entry.path in seen:
            raise ValueError(f"duplicate path {entry.path!r}")
        seen.add(entry.path)
        files.append(entry)
    dirs = [check_rel_path(d) for d in doc.get("dirs") or []]
    dir_set = set(dirs)
    for p in list(seen) + dirs:  # a file cannot also be a folder
        parts = p.split("/")
        for i in range(1, len(parts) + (p in dir_set)):
            if "/".join(parts[:i]) in seen:
                raise ValueError(f"{p!r} needs {'/'.join(parts[:i])!r} to be a folder, but it is a file")
    for p in list(seen) + dirs:
        if p.split("/")[0] == "data" and p.count("/") < 2 and p not in dirs:
            raise ValueError(f"{p!r}: data/ may hold only partition folders")
    parent = doc.get("parent")
    return Manifest(
        name=name,
        version=version,
        files=files,
        dirs=dirs,
        objects=objects,
        parent=None if parent is None else _int(parent, "parent"),
        created=str(doc.get("created", "")),
        author=str(doc.get("author", "")),
        tool=str(doc.get("tool", "")),
    )
