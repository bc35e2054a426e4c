"""How file contents become remote objects.

Small files are packed, grouped by partition, into a few objects sized so that every worker has
one to move; large files become one object, or several 16 MiB chunks moved in parallel.
Object ids are content-derived (see docs/format.md), so an unchanged file is never uploaded twice.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ._values import FrozenValue, Value, set_field as _set
from .dataset import partition_of
from .manifest import Part, chunk_list_id

MiB = 1 << 20
CHUNK = 16 * MiB  # files larger than this are split into chunk objects of this size
LARGE = 8 * MiB  # files at least this large get objects of their own
MIN_PACK, MAX_PACK = 1 * MiB, 32 * MiB


class NewFile(FrozenValue):
    """A file whose content the remote does not have yet."""

    __slots__ = ("path", "size", "sha256", "chunks", "group")
    path: str  # a str, not a Path: a push of 50,000 new files holds one each
    size: int
    sha256: str
    chunks: tuple[str, ...] | None  # chunk hashes for files larger than CHUNK
    group: str

    def __init__(self, path: str, size: int, sha256: str, chunks: tuple[str, ...] | None, group: str) -> None:
        _set(self, "path", path)
        _set(self, "size", size)
        _set(self, "sha256", sha256)
        _set(self, "chunks", chunks)
        _set(self, "group", group)


class Upload(Value):
    """One object to create: the concatenation of byte ranges of local files."""

    __slots__ = ("obj", "ranges", "size", "whole")
    obj: str
    ranges: list[tuple[str, int, int]]
    size: int
    whole: bool  # `obj` is the sha256 of these bytes (a chunk or a large file), not a pack id

    def __init__(self, obj: str, ranges: list[tuple[str, int, int]], size: int, whole: bool = False) -> None:
        self.obj, self.ranges, self.size, self.whole = obj, ranges, size, whole


def hash_file(path: Path, size: int) -> tuple[str, tuple[str, ...] | None]:
    """The file's content id, and its chunk ids when it is larger than CHUNK.

    A file of up to CHUNK bytes is identified by the sha256 of its bytes; a larger one by the
    sha256 of its chunk list (`chunk_list_id`), so its chunks can be hashed on every core at once.
    """
    if size > CHUNK:
        chunks = tuple(hash_range(path, offset, length) for offset, length in chunk_ranges(size))
        return chunk_list_id(chunks), chunks
    return hash_range(path, 0, size), None


def chunk_ranges(size: int) -> list[tuple[int, int]]:
    """(offset, length) of each chunk of a file of `size` bytes; none when it is not chunked."""
    return [(offset, min(CHUNK, size - offset)) for offset in range(0, size, CHUNK)] if size > CHUNK else []


def hash_range(path: Path | str, offset: int, length: int) -> str:
    """sha256 of `length` bytes of the file from `offset` (hashlib releases the GIL: threads scale)."""
    if offset == 0 and length <= MiB:
        # A small file in one read: the common case of datasets of many files, where the cost is
        # the system calls, not the hashing.
        fd = os.open(path, os.O_RDONLY)
        try:
            data = os.read(fd, length)
        finally:
            os.close(fd)
        if len(data) < length:
            raise OSError(f"{path} shrank while it was being read")
        return hashlib.sha256(data).hexdigest()
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        fh.seek(offset)
        while length > 0:
            block = fh.read(min(MiB, length))
            if not block:
                raise OSError(f"{path} shrank while it was being read")
            h.update(block)
            length -= len(block)
    return h.hexdigest()


def plan_uploads(new_files: list[NewFile], workers: int) -> tuple[dict[str, tuple[Part, ...]], list[Upload]]:
    """Parts for every new content hash, and the objects to upload to make them exist."""
    parts: dict[str, tuple[Part, ...]] = {}
    uploads: dict[str, Upload] = {}
    small: dict[str, list[NewFile]] = {}
    for f in new_files:
        if f.sha256 in parts or f.size == 0:
            parts.setdefault(f.sha256, ())
            continue
        if f.size > CHUNK:
            # Its id names its chunk list, so the chunks must be known (zip refuses a mismatch).
            chunk_parts = []
            for cid, (offset, length) in zip(f.chunks or (), chunk_ranges(f.size), strict=True):
                uploads.setdefault(cid, Upload(cid, [(f.path, offset, length)], length, whole=True))
                chunk_parts.append(Part(cid, 0, length))
            parts[f.sha256] = tuple(chunk_parts)
        elif f.size >= LARGE:
            uploads.setdefault(f.sha256, Upload(f.sha256, [(f.path, 0, f.size)], f.size, whole=True))
            parts[f.sha256] = (Part(f.sha256, 0, f.size),)
        else:
            parts[f.sha256] = ()  # placeholder, filled when packed
            small.setdefault(f.group, []).append(f)
    total_small = sum(f.size for group in small.values() for f in group)
    target = min(MAX_PACK, max(MIN_PACK, total_small // max(1, workers)))
    for group in sorted(small):
        batch: list[NewFile] = []
        batch_size = 0
        for f in small[group]:
            batch.append(f)
            batch_size += f.size
            if batch_size >= target:
                _pack(batch, parts, uploads)
                batch, batch_size = [], 0
        if batch:
            _pack(batch, parts, uploads)
    return parts, list(uploads.values())


def _pack(batch: list[NewFile], parts: dict[str, tuple[Part, ...]], uploads: dict[str, Upload]) -> None:
    ident = hashlib.sha256(b"etcetera-pack/1\n")
    for f in batch:
        ident.update(f"{f.sha256} {f.size}\n".encode())
    oid = ident.hexdigest()
    offset = 0
    ranges = []
    for f in batch:
        parts[f.sha256] = (Part(oid, offset, f.size),)
        ranges.append((f.path, 0, f.size))
        offset += f.size
    uploads[oid] = Upload(oid, ranges, offset)


def group_of(rel: str) -> str:
    """Packs never mix partitions, so a partial pull fetches only its own packs."""
    p = partition_of(rel)
    return f"data/{p}" if p is not None else "."
