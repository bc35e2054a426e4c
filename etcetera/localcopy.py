"""Copy a dataset folder into the home, hashing every byte on its way through.

`register` used to copy the folder (shutil.copytree) and let the next push read every byte again to
hash it.  Here each file is read once: the bytes written to the copy are the bytes hashed, so the
content ids recorded for the copy are exact even if the source changes meanwhile, and the push
that follows reads the copy only to upload what the remote lacks.  The copy is a real copy (never
a hard link), so later edits of the source never reach it.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

from .dataset import LocalFile, walk_files
from .home import RecordsWriter, make_record
from .manifest import EMPTY_SHA256, chunk_list_id
from .packing import CHUNK, MiB

RUN_BYTES = 8 * MiB  # small files are copied in runs of about this size, one pool task each
RUN_FILES = 256
# Runs of files smaller than this on average are copied by the thread that walks the folder: each
# such file costs a few syscalls and little hashing, and handing it to another thread costs more CPU
# (GIL hand-offs) than it saves (2000 x 4 KiB: the same wall time, 1.6-2x the CPU).
SMALL_FILE = 64 * 1024


def hash_workers() -> int:
    """Threads for hashing and copying: hashlib and file I/O release the GIL, the disk is the limit."""
    return max(2, min(8, os.cpu_count() or 2))


def copy_file(src: str, dst: str) -> tuple[LocalFile, str, tuple[str, ...] | None]:
    """Copy `src` to the new file `dst` with its mode and times; return the copy's stat and its
    content id (with chunk ids above CHUNK bytes, as `packing.hash_file` computes them)."""
    fin = os.open(src, os.O_RDONLY)
    try:
        st = os.fstat(fin)
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, st.st_mode & 0o777)
        try:
            # A small file (most of a dataset of many files) is one read and one write: asking for a
            # byte more than its size shows the end was reached without another read.
            block = os.read(fin, min(MiB, st.st_size + 1))
            _write_all(fout, block)
            if len(block) == st.st_size:
                chunks = [hashlib.sha256(block).hexdigest()]
            else:
                chunks = _copy_rest(fin, fout, block)
            os.utime(fout, ns=(st.st_atime_ns, st.st_mtime_ns))
            out = os.fstat(fout)
        finally:
            os.close(fout)
    finally:
        os.close(fin)
    copied = LocalFile("", out.st_size, out.st_mtime_ns, out.st_ino, bool(out.st_mode & 0o100))
    if out.st_size == 0:
        return copied, EMPTY_SHA256, None
    if out.st_size > CHUNK:
        return copied, chunk_list_id(tuple(chunks)), tuple(chunks)
    return copied, chunks[0], None


def _write_all(fd: int, block: bytes) -> None:
    view = memoryview(block)
    while view:
        view = view[os.write(fd, view):]


def _copy_rest(fin: int, fout: int, first: bytes) -> list[str]:
    """Copy what follows `first` (already written) to the end of `fin`; return the chunk ids of
    the whole file, a chunk being CHUNK bytes."""
    chunks: list[str] = []
    h = hashlib.sha256(first)
    in_chunk = len(first)
    while True:
        if in_chunk == CHUNK:
            chunks.append(h.hexdigest())
            h, in_chunk = hashlib.sha256(), 0
        block = os.read(fin, min(MiB, CHUNK - in_chunk))
        if not block:
            break
        _write_all(fout, block)
        h.update(block)
        in_chunk += len(block)
    if in_chunk or not chunks:
        chunks.append(h.hexdigest())
    return chunks


def copy_chunk(fin: int, fout: int, offset: int, length: int, path: str) -> str:
    """Copy `length` bytes at `offset` between two open files; return their sha256."""
    h = hashlib.sha256()
    end = offset + length
    while offset < end:
        block = os.pread(fin, min(MiB, end - offset), offset)
        if not block:
            raise OSError(f"{path} shrank while it was being copied")
        view = memoryview(block)
        pos = offset
        while view:
            n = os.pwrite(fout, view, pos)
            view, pos = view[n:], pos + n
        h.update(block)
        offset += len(block)
    return h.hexdigest()


class _ChunkedCopy:
    """A file larger than CHUNK copied one chunk per pool task (each hashed on its own core), then
    given its mode and times; `result()` waits for it like a future of a run."""

    def __init__(self, pool: ThreadPoolExecutor, rel: str, src: str, dst: str, size: int) -> None:
        self.rel = rel
        self.fin = os.open(src, os.O_RDONLY)
        try:
            self.st = os.fstat(self.fin)
            self.fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self.st.st_mode & 0o777)
        except BaseException:
            os.close(self.fin)
            raise
        self.chunks = [pool.submit(copy_chunk, self.fin, self.fout, offset, min(CHUNK, size - offset), src)
                       for offset in range(0, size, CHUNK)]

    def result(self) -> list[tuple[str, LocalFile, str, tuple[str, ...] | None]]:
        try:
            chunks = tuple(f.result() for f in self.chunks)
            os.utime(self.fout, ns=(self.st.st_atime_ns, self.st.st_mtime_ns))
            out = os.fstat(self.fout)
        finally:
            self.cancel()
        copied = LocalFile("", out.st_size, out.st_mtime_ns, out.st_ino, bool(out.st_mode & 0o100))
        return [(self.rel, copied, chunk_list_id(chunks), chunks)]

    def cancel(self) -> None:
        for f in self.chunks:
            f.cancel()
        for f in self.chunks:
            if not f.cancelled():
                f.exception()  # wait: no task may use the descriptors once they are closed
        if self.fin >= 0:
            os.close(self.fin)
            os.close(self.fout)
            self.fin = self.fout = -1


def copy_tree(src: Path, dest: Path, records: RecordsWriter) -> None:
    """Copy the dataset folder `src` (already validated) into the empty folder `dest`, adding the
    copy's records (stat and content id of every file) to `records`, in path order per group."""
    empty_dirs: list[str] = []
    made: set[str] = set()

    def runs() -> Iterator[tuple[list[str], int] | LocalFile]:
        run: list[str] = []
        size = 0
        for f in walk_files(src, "", empty_dirs):
            parent = os.path.dirname(f.rel)
            if parent and parent not in made:
                os.makedirs(dest / parent, exist_ok=True)
                made.add(parent)
            if f.size > CHUNK:
                yield f
                continue
            run.append(f.rel)
            size += f.size
            if size >= RUN_BYTES or len(run) >= RUN_FILES:
                yield run, size
                run, size = [], 0
        if run:
            yield run, size

    def copy_run(run: list[str]) -> list[tuple[str, LocalFile, str, tuple[str, ...] | None]]:
        return [(rel, *copy_file(f"{src}/{rel}", f"{dest}/{rel}")) for rel in run]

    workers = hash_workers()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="etc-copy") as pool:
        pending: deque[Future | _ChunkedCopy] = deque()

        def drain(keep: int) -> None:
            while len(pending) > keep:
                for rel, f, sha, chunks in pending.popleft().result():
                    records.add(rel, make_record(f, sha, chunks))

        try:
            for run in runs():  # a bounded window of runs in flight: memory does not grow with the file count
                if isinstance(run, LocalFile):
                    pending.append(_ChunkedCopy(pool, run.rel, f"{src}/{run.rel}", f"{dest}/{run.rel}", run.size))
                elif run[1] < len(run[0]) * SMALL_FILE:
                    drain(0)  # records are added in path order
                    for rel, f, sha, chunks in copy_run(run[0]):
                        records.add(rel, make_record(f, sha, chunks))
                else:
                    pending.append(pool.submit(copy_run, run[0]))
                drain(2 * workers)
            drain(0)
        finally:
            for fut in pending:
                fut.cancel()
    for d in empty_dirs:
        os.makedirs(dest / d, exist_ok=True)
    os.makedirs(dest / "data", exist_ok=True)
