"""`file://` remote: a plain folder (local disk, NFS, a mounted share).  Needs no account."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlparse

from ..errors import ConfigError, NotFoundError, RemoteError
from ..names import escapes
from .base import FileRangesSource, ObjectInfo, Source, Storage

BLOCK = 1 << 20


class FileStorage(Storage):
    scheme = "file"

    def __init__(self, url, config) -> None:
        super().__init__(url, config)
        parsed = urlparse(url)
        if parsed.netloc not in ("", "localhost"):
            raise ConfigError(f"file remote {url!r} must be file:///absolute/path")
        self.root = Path(unquote(parsed.path))
        if not self.root.is_absolute():
            raise ConfigError(f"file remote {url!r} must be file:///absolute/path")

    def _path(self, key: str) -> Path:
        if escapes(key):
            raise RemoteError(f"refusing unsafe object key {key!r} on {self.url}")
        return self.root.joinpath(*key.split("/"))

    def _tmp(self, path: Path) -> Path:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RemoteError(f"cannot write to {self.url}: {exc.strerror} ({path.parent})") from None
        return path.parent / f".tmp-{os.urandom(16).hex()}"

    def _write(self, tmp: Path, source: Source) -> None:
        with open(tmp, "wb") as out:
            if isinstance(source, FileRangesSource):
                for src, offset, length in source.ranges:
                    with open(src, "rb") as fh:
                        _copy_range(fh.fileno(), out.fileno(), offset, length)
            else:
                with source.reader() as reader:
                    while block := reader.read(BLOCK):
                        out.write(block)

    def put(self, key: str, source: Source) -> None:
        path = self._path(key)
        tmp = self._tmp(path)
        try:
            self._write(tmp, source)
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise RemoteError(f"cannot write {key} to {self.url}: {exc.strerror or exc}") from None

    def put_if_absent(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        tmp = self._tmp(path)
        try:
            tmp.write_bytes(data)
            os.link(tmp, path)  # atomic: fails if path exists
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            raise RemoteError(f"cannot write {key} to {self.url}: {exc.strerror or exc}") from None
        finally:
            tmp.unlink(missing_ok=True)

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        path = self._path(key)
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            raise NotFoundError(f"{key} not found on {self.url}") from None
        except OSError as exc:
            raise RemoteError(f"cannot read {key} from {self.url}: {exc.strerror}") from None
        with fh:
            fh.seek(start)
            remaining = length
            while remaining is None or remaining > 0:
                block = fh.read(BLOCK if remaining is None else min(BLOCK, remaining))
                if not block:
                    break
                if remaining is not None:
                    remaining -= len(block)
                yield block

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def touch(self, key: str) -> bool:
        try:
            os.utime(self._path(key))
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise RemoteError(f"cannot touch {key} on {self.url}: {exc.strerror}") from None

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # Walk only the deepest folder the prefix names, then filter by the full prefix.
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = self.root.joinpath(*folder.split("/")) if folder else self.root
        for dirpath, dirnames, filenames in os.walk(base):
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            rel = "" if rel == "." else rel + "/"
            for name in filenames:
                if name.startswith(".tmp-"):
                    continue
                key = rel + name
                if key.startswith(prefix):
                    try:
                        st = os.stat(os.path.join(dirpath, name))
                    except FileNotFoundError:
                        continue
                    yield ObjectInfo(key, st.st_size, st.st_mtime)

    def list_top_level(self) -> Iterator[ObjectInfo]:
        """Files directly in the root folder: one directory read, not a walk of every object."""
        try:
            entries = list(os.scandir(self.root))
        except OSError:  # no root folder yet (or unreadable): no objects, as `list` says
            return
        for entry in entries:
            if entry.name.startswith(".tmp-") or entry.is_dir():
                continue
            try:
                st = os.stat(entry.path)
            except FileNotFoundError:
                continue
            yield ObjectInfo(entry.name, st.st_size, st.st_mtime)

    def leftovers(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """The `.tmp-*` files of writes killed before their rename."""
        base = self.root.joinpath(*prefix.rstrip("/").split("/")) if prefix.strip("/") else self.root
        for dirpath, _, filenames in os.walk(base):
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            rel = "" if rel == "." else rel + "/"
            for name in filenames:
                if name.startswith(".tmp-"):
                    try:
                        st = os.stat(os.path.join(dirpath, name))
                    except FileNotFoundError:
                        continue
                    yield ObjectInfo(rel + name, st.st_size, st.st_mtime)

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise RemoteError(f"cannot delete {key} on {self.url}: {exc.strerror}") from None


def _copy_range(src_fd: int, dst_fd: int, offset: int, length: int) -> None:
    """Kernel-side copy where the OS offers it, else a plain read/write loop."""
    while length > 0:
        try:
            n = os.copy_file_range(src_fd, dst_fd, min(length, 1 << 30), offset)
        except (AttributeError, OSError):
            n = -1
        if n <= 0:
            break
        offset += n
        length -= n
    while length > 0:
        block = os.pread(src_fd, min(BLOCK, length), offset)
        if not block:
            raise OSError(f"source file shrank while copying (fd {src_fd})")
        os.write(dst_fd, block)
        offset += len(block)
        length -= len(block)
