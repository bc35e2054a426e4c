"""The parallel transfer engine: uploads objects, downloads byte ranges into files, verifies.

Every worker streams: memory stays at a few blocks per worker whatever the dataset size.
It works on a Storage rooted at the remote's objects (`Remote.objects`), whose keys are the
object ids.  Failed requests were already retried by the backend's client library for the
give-up budget; this engine retries only what a client library cannot: a download whose body
broke off or ended early, or whose bytes did not match their hash.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import stat
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple

from ._values import Value
from .errors import CutOffError, EtcError, IntegrityError, NotFoundError, TransientError
from .manifest import FileEntry
from .packing import Upload
from .progress import Progress
from .storage import FileRangesSource, Storage

log = logging.getLogger("etcetera")
COALESCE_GAP = 256 * 1024  # read through gaps smaller than this instead of a new request
MAX_RANGE = 64 << 20


def run_parallel(tasks: Iterable[Callable[[], None]], workers: int) -> None:
    """Run every task on a pool; the first failure cancels what has not started and is raised."""
    tasks = list(tasks)
    if not tasks:
        return
    if workers <= 1 or len(tasks) == 1:
        for task in tasks:
            task()
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(tasks)), thread_name_prefix="etc") as pool:
        futures = [pool.submit(task) for task in tasks]
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for f in pending:
            f.cancel()
        for f in futures:
            if f.done() and not f.cancelled() and f.exception() is not None:
                raise f.exception()  # type: ignore[misc]


class _Transient(Exception):
    """A download that broke off or did not verify: worth reading again."""


class _Corrupt(Exception):
    """Bytes that arrived whole but do not match their hash."""


class _Truncated(_Transient):
    """The object ended before the requested range did: a cut response, or a truncated object."""

    label = ""


def _retrying(what: str, budget: float, fn: Callable[[], None]) -> None:
    """Run `fn`, retrying `_Transient` failures with jittered exponential backoff until `budget`
    seconds after the first one; then a `CutOffError` (a `TransientError`) saying once what failed."""
    give_up: float | None = None
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except _Transient as exc:
            now = time.monotonic()
            give_up = now + budget if give_up is None else give_up
            delay = random.uniform(0, min(2.0, 0.1 * 2**attempt))
            if now + delay > give_up:
                raise CutOffError(f"{what}: {exc} (still so after {attempt} reads in {budget:g} s): "
                                  f"check the network, or raise give_up_seconds") from None
            log.debug("retrying %s (%s)", what, exc)
            time.sleep(delay)


def upload(storage: Storage, uploads: list[Upload], workers: int, progress: Progress,
           found: list[Upload] | None = None) -> int:
    """Create every object that does not exist yet on `storage` (the remote's objects); return
    the bytes actually sent.
    Uploads skipped because their object already exists are appended to `found`."""
    sent = [0]

    def task(up: Upload) -> Callable[[], None]:
        def run() -> None:
            # A chunk's id is its sha256: a store that can verify the upload against it does.
            source = FileRangesSource(up.ranges, sha256=up.obj if up.whole else None)
            if up.whole:
                # A large file or chunk may well exist (another version or dataset holds the same
                # bytes): ask before sending it.  A pack's id names its exact files, so it exists
                # only after an interrupted push: it is created in one conditional request.
                created = not storage.exists(up.obj)
                if created:
                    storage.put(up.obj, source)
            else:
                created = storage.create(up.obj, source)
            if created:
                sent[0] += up.size
            elif found is not None:
                found.append(up)
            progress.update(up.size)

        return run

    # Biggest first, so a large chunk does not start last and leave the other workers idle.
    run_parallel((task(u) for u in sorted(uploads, key=lambda u: -u.size)), workers)
    return sent[0]


def renew(storage: Storage, uploads: list[Upload], workers: int) -> list[Upload]:
    """Renew the age of existing objects a push is about to reference (see gc); return those
    that vanished meanwhile and must be uploaded again."""
    gone: list[Upload] = []

    def task(up: Upload) -> Callable[[], None]:
        def run() -> None:
            if not storage.touch(up.obj):
                gone.append(up)

        return run

    run_parallel((task(u) for u in uploads), workers)
    return gone


class _Target(NamedTuple):
    path: str
    offset: int  # of the segment in the file
    mode: int  # the file's permissions
    whole: bool  # the segment is the whole file: its writer also sets its mode and takes its stat


class _Segment(Value):
    """A byte range of an object to download, and the files it is written to."""

    __slots__ = ("offset", "length", "targets", "expect", "label")
    offset: int  # in the object
    length: int
    targets: list[_Target]  # identical files share a segment
    expect: str  # sha256 of these bytes
    label: str  # the file's path in the dataset, for messages

    def __init__(self, offset: int, length: int, targets: list[_Target], expect: str, label: str) -> None:
        self.offset, self.length, self.targets, self.expect, self.label = offset, length, targets, expect, label


def file_mode(executable: bool) -> int:
    """The permissions of a pulled file (whatever the umask)."""
    return 0o755 if executable else 0o644


def download(storage: Storage, files: list[FileEntry], root: Path, dataset: str,
             workers: int, progress: Progress, stats: dict[str, os.stat_result] | None = None) -> None:
    """Write every file of `files` under `root` from `storage` (the remote's objects), verifying
    each byte range against its hash.

    With `stats`, a file written by one ranged read (all but the chunked ones) is also given its
    mode (`file_mode`) by the worker that wrote it, which puts its final stat in `stats` under its
    path (f"{root}/{f.path}"): pulling many small files then costs no chmod and stat by path after.
    Other files are left for the caller to set and stat."""
    by_object: dict[str, list[_Segment]] = {}
    seen: dict[tuple[str, int, int], _Segment] = {}

    def add(obj: str, offset: int, length: int, target: _Target, expect: str, label: str) -> None:
        seg = seen.get((obj, offset, length))
        if seg is None:
            seg = seen[(obj, offset, length)] = _Segment(offset, length, [], expect, label)
            by_object.setdefault(obj, []).append(seg)
        seg.targets.append(target)

    folders: set[str] = set()
    for f in files:
        target = f"{root}/{f.path}"  # a str: a batch holds thousands, and a Path costs ten times more memory
        parent = target.rpartition("/")[0]
        if parent not in folders:
            os.makedirs(parent, exist_ok=True)
            folders.add(parent)
        if not f.parts:  # an empty file: nothing to fetch
            open(target, "wb").close()
            continue
        # Files are created by the workers that fill them (see _RangeTask), so creating
        # thousands of small files overlaps the transfers instead of preceding them.
        mode = file_mode(f.executable)
        if len(f.parts) == 1:
            p = f.parts[0]
            add(p.obj, p.offset, p.length, _Target(target, 0, mode, stats is not None), f.sha256, f.path)
        else:
            pos = 0
            for p in f.parts:
                add(p.obj, 0, p.length, _Target(target, pos, mode, False), p.obj, f.path)
                pos += p.length
    tasks = []
    for obj, segments in by_object.items():
        segments.sort(key=lambda s: s.offset)
        batch: list[_Segment] = []
        for seg in segments:
            if batch and (seg.offset - (batch[-1].offset + batch[-1].length) > COALESCE_GAP
                          or seg.offset + seg.length - batch[0].offset > MAX_RANGE):
                tasks.append(_RangeTask(storage, obj, batch, dataset, progress, stats))
                batch = []
            batch.append(seg)
        if batch:
            tasks.append(_RangeTask(storage, obj, batch, dataset, progress, stats))
    tasks.sort(key=lambda t: -t.length)
    run_parallel(tasks, workers)


class _RangeTask:
    """One ranged read of an object, scattered into the files it holds, each verified."""

    def __init__(self, storage: Storage, obj: str, batch: list[_Segment], dataset: str, progress: Progress,
                 stats: dict[str, os.stat_result] | None = None):
        self.storage, self.obj, self.batch, self.dataset, self.progress = storage, obj, batch, dataset, progress
        self.stats = stats
        self.start = batch[0].offset
        self.length = batch[-1].offset + batch[-1].length - self.start

    def __call__(self) -> None:
        corrupt = [0]

        def once() -> None:
            try:
                self._attempt()
            except _Corrupt as exc:
                corrupt[0] += 1
                if corrupt[0] >= 2:  # the same bytes twice: the stored object itself is bad
                    raise IntegrityError(
                        f"{self.dataset}: {exc.args[0]} failed verification (sha256 mismatch in remote "
                        f"object {self.obj[:12]}): the remote copy is corrupt; nothing local was changed"
                    ) from None
                raise _Transient(f"{exc.args[0]} did not verify (sha256 mismatch)") from None
            except _Truncated as exc:
                size = _stored_size(self.storage, self.obj)
                if size is not None and size < self.start + self.length:  # not the network: the object
                    raise IntegrityError(
                        f"{self.dataset}: {exc.label} failed verification (remote object {self.obj[:12]} is "
                        f"truncated: {size} bytes, the manifest needs {self.start + self.length}): the remote "
                        f"copy is corrupt; nothing local was changed"
                    ) from None
                raise

        _retrying(f"cannot download {self.dataset}: {self.batch[0].label} from {self.storage.url}",
                  self.storage.config.give_up, once)

    def _attempt(self) -> None:
        credited = 0
        try:
            stream = iter(self.storage.read(self.obj, self.start, self.length))
            buf = memoryview(b"")
            pos = self.start  # object offset of buf[0]
            for seg in self.batch:
                if seg.length <= SMALL_SEGMENT:
                    while pos + len(buf) <= seg.offset:  # a gap between coalesced segments
                        pos += len(buf)
                        buf = memoryview(_next_block(stream, self.obj, seg.label))
                    if pos <= seg.offset and seg.offset + seg.length <= pos + len(buf):
                        # The whole segment is in the block at hand: verified, then each file written
                        # in one go, one writer at a time (see _SMALL_WRITES).
                        start = seg.offset - pos
                        piece = buf[start:start + seg.length]
                        if hashlib.sha256(piece).hexdigest() != seg.expect:
                            raise _Corrupt(seg.label)
                        with _SMALL_WRITES:
                            for t in seg.targets:
                                self._write(t, piece)
                        buf, pos = buf[start + seg.length:], seg.offset + seg.length
                        self.progress.update(seg.length)
                        credited += seg.length
                        continue
                hasher = hashlib.sha256()
                fds = [(os.open(t.path, os.O_WRONLY | os.O_CREAT, t.mode), t.offset) for t in seg.targets]
                try:
                    written = 0
                    while written < seg.length:
                        if not buf:
                            buf = memoryview(_next_block(stream, self.obj, seg.label))
                        if pos < seg.offset:  # a gap between coalesced segments
                            skip = min(len(buf), seg.offset - pos)
                            buf, pos = buf[skip:], pos + skip
                            continue
                        piece = buf[: seg.length - written]
                        hasher.update(piece)
                        for fd, off in fds:
                            os.pwrite(fd, piece, off + written)
                        written += len(piece)
                        buf, pos = buf[len(piece):], pos + len(piece)
                    if hasher.hexdigest() != seg.expect:
                        raise _Corrupt(seg.label)
                    for (fd, _), t in zip(fds, seg.targets):
                        self._finish(t, fd)
                finally:
                    for fd, _ in fds:
                        os.close(fd)
                self.progress.update(seg.length)
                credited += seg.length
        except NotFoundError:
            raise NotFoundError(
                f"{self.dataset}: object {self.obj[:12]} holding {self.batch[0].label} is missing on "
                f"{self.storage.url}: the remote is damaged"
            ) from None
        except CutOffError:
            self.progress.update(-credited)
            raise _Transient("the connection dropped mid-transfer") from None
        except TransientError as exc:  # the backend already retried it for the whole budget
            self.progress.update(-credited)
            raise TransientError(f"{self.dataset}: {exc}") from None
        except BaseException:
            self.progress.update(-credited)
            raise


    def _write(self, t: _Target, data: memoryview) -> None:
        """Write a verified segment held in memory into its file."""
        fd = os.open(t.path, os.O_WRONLY | os.O_CREAT, t.mode)
        try:
            view = data
            while view:
                view = view[os.pwrite(fd, view, t.offset + len(data) - len(view)):]
            self._finish(t, fd)
        finally:
            os.close(fd)

    def _finish(self, t: _Target, fd: int) -> None:
        """A file written whole is written for good: set its mode, keep its final stat."""
        if t.whole:
            st = os.fstat(fd)
            if stat.S_IMODE(st.st_mode) != t.mode:  # a umask other than 022, or a retry
                os.fchmod(fd, t.mode)
            self.stats[t.path] = st  # type: ignore[index]


# Segments up to this size that arrive in one block are written by one worker at a time: each
# costs a few syscalls, and many threads trading the GIL at every one of them (thousands of small
# files) spent more CPU switching than writing (4x the futex calls, pulling 2000 x 4 KiB).
SMALL_SEGMENT = 256 * 1024
_SMALL_WRITES = threading.Lock()


def _stored_size(storage: Storage, obj: str) -> int | None:
    """The size of the stored object, or None when the remote cannot tell."""
    try:
        return next((info.size for info in storage.list(obj) if info.key == obj), None)
    except EtcError:
        return None


def _next_block(stream: Iterator[bytes], obj: str, label: str) -> bytes:
    """The next block of a download; a response that ends short is `_Truncated` (for the file
    `label`)."""
    try:
        return next(stream)
    except StopIteration:
        exc = _Truncated(f"object {obj[:12]} ended early (truncated response)")
        exc.label = label
        raise exc from None
