"""The one interface every remote implements.

A Storage is rooted at a URL (`file:///srv/ds`, `s3://bucket/prefix`, `gs://bucket/prefix`);
keys are '/'-separated paths below that root.  Backends raise `NotFoundError` for a
missing key; `TransientError` for a failure that may pass (throttling, 5xx, refused, reset or
timed-out connections) and still failed after their client library's own retries, which last
at most `config.give_up` seconds per request; `CutOffError` (a `TransientError`) when a body
being streamed by `read` breaks off, which no client library retries; and `RemoteError`
otherwise.  Each is one line naming the remote and what to check, never a secret.
"""

from __future__ import annotations

import io
import os
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, BinaryIO, Iterator, Sequence

from .._values import FrozenValue, set_field as _set
from ..errors import RemoteError

if TYPE_CHECKING:
    from ..config import Config


class ObjectInfo(FrozenValue):
    """An object as a listing shows it."""

    __slots__ = ("key", "size", "mtime")
    key: str
    size: int
    mtime: float | None  # last modified, seconds since the epoch, when the backend knows it

    def __init__(self, key: str, size: int, mtime: float | None = None) -> None:
        _set(self, "key", key)
        _set(self, "size", size)
        _set(self, "mtime", mtime)


class Source:
    """Bytes to upload, known in size and readable any number of times (for retries and parts).
    `sha256`, when set, is the hex sha256 of those bytes (an object whose id is its content's
    sha256): a backend that can have the store verify the upload against it sends it along."""

    size: int
    sha256: str | None = None

    def reader(self, start: int = 0, length: int | None = None) -> BinaryIO:
        """A seekable file object over bytes [start, start+length) of the source."""
        raise NotImplementedError


class BytesSource(Source):
    def __init__(self, data: bytes, sha256: str | None = None) -> None:
        self.data = data
        self.size = len(data)
        self.sha256 = sha256

    def reader(self, start: int = 0, length: int | None = None) -> BinaryIO:
        end = self.size if length is None else start + length
        return io.BytesIO(memoryview(self.data)[start:end])


class FileRangesSource(Source):
    """The concatenation of byte ranges of local files: a pack or a chunk, streamed, never in memory."""

    def __init__(self, ranges: Sequence[tuple[str | os.PathLike, int, int]], sha256: str | None = None) -> None:
        self.ranges = [(os.fspath(p), off, n) for p, off, n in ranges]
        self.size = sum(n for _, _, n in self.ranges)
        self.sha256 = sha256

    def reader(self, start: int = 0, length: int | None = None) -> BinaryIO:
        length = self.size - start if length is None else length
        return _RangesReader(self.ranges, start, length)


class _RangesReader(io.RawIOBase):
    """Seekable reader over a window of concatenated file ranges.  Reads go straight into the
    caller's buffer (`preadv`), one descriptor open at a time, and a sequential read resumes at the
    range where the last one stopped: a pack of many small files costs an open and a read per file."""

    def __init__(self, ranges: list[tuple[str, int, int]], start: int, length: int) -> None:
        self._ranges = ranges
        self._start = start
        self._len = length
        self._pos = 0
        self._fd = -1
        self._fd_path: str | None = None
        self._index = self._cursor = 0  # the range the last read ended in, and its offset in the concatenation

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._len}[whence]
        self._pos = max(0, min(self._len, base + offset))
        return self._pos

    def readinto(self, buf) -> int:  # type: ignore[override]
        want = min(len(buf), self._len - self._pos)
        if want <= 0:
            return 0
        absolute = self._start + self._pos
        if absolute < self._cursor:
            self._index = self._cursor = 0
        view = memoryview(buf).cast("B")
        done = 0
        ranges, i, cursor = self._ranges, self._index, self._cursor
        while done < want:
            path, off, n = ranges[i]
            if absolute >= cursor + n:
                cursor += n
                i += 1
                continue
            inner = absolute - cursor
            take = min(n - inner, want - done)
            if self._fd_path != path:
                self._close_fd()
                self._fd = os.open(path, os.O_RDONLY)
                self._fd_path = path
            if os.preadv(self._fd, [view[done: done + take]], off + inner) != take:
                raise OSError(f"{path} changed while it was being uploaded")
            done += take
            absolute += take
        self._index, self._cursor = i, cursor
        self._pos += done
        return done

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd, self._fd_path = -1, None

    def close(self) -> None:
        self._close_fd()
        super().close()


class Storage(ABC):
    """A remote root.  Implementations must be safe to call from many threads at once."""

    scheme: str = ""
    listable: bool = True  # `list` works; False on static web servers, whose readers use the index
    read_only: bool = False  # every write raises `refuse_write`'s error (HTTPS mirrors)

    def __init__(self, url: str, config: "Config") -> None:
        self.url = url.rstrip("/")
        self.config = config

    @abstractmethod
    def put(self, key: str, source: Source) -> None:
        """Create or replace `key` with the bytes of `source`, atomically (never half visible)."""

    @abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create `key` only if it does not exist; return False (and change nothing) if it does."""

    def create(self, key: str, source: Source) -> bool:
        """Create `key` from `source` unless it exists; False (nothing written) when it does.  For
        content-addressed objects, whose key fixes their bytes.  By default a check, then a put;
        a store with conditional writes does it in one request."""
        if self.exists(key):
            return False
        self.put(key, source)
        return True

    @abstractmethod
    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Stream bytes [start, start+length) of `key` in blocks.  NotFoundError if absent."""

    def get(self, key: str) -> bytes:
        """The whole object in memory (manifests, small things)."""
        return b"".join(self.read(key))

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether `key` exists."""

    @abstractmethod
    def touch(self, key: str) -> bool:
        """Make `key`'s modification time now, without changing its bytes (so `etc gc`'s grace
        period starts again for an object a push is about to reference); False if it is absent."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every key starting with `prefix` (a plain string prefix, not a folder), any order."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove `key`; removing a missing key is not an error."""

    def size(self, key: str) -> int | None:
        """The stored size of `key`, or None when it is absent (by default from a listing)."""
        return next((info.size for info in self.list(key) if info.key == key), None)

    def refuse_write(self, what: str) -> RemoteError:
        """The one-line error for a write (`what`: 'push', 'tag', 'write KEY') on a read-only remote."""
        return RemoteError(f"cannot {what}: {self.url} is a read-only {self.scheme.upper()} remote (a mirror "
                           f"served as static files): set url to the writable remote it mirrors (its file://, "
                           f"s3:// or gs:// url) and {what.split()[0]} there")

    def list_top_level(self) -> Iterator[ObjectInfo]:
        """Objects directly at the root, in no sub-folder (where 0.0.x kept its `<name>.tgz`).
        By default a filtered full listing; backends with delimited listings override it."""
        return (info for info in self.list("") if "/" not in info.key)

    def leftovers(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Partial writes that an interrupted upload left under `prefix`: never visible through
        `list`, but they take space; `delete(info.key)` removes one.  None by default."""
        return iter(())

    def close(self) -> None:
        """Release the connections and sockets the client holds; the Storage is not used after.
        Nothing to release by default."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
