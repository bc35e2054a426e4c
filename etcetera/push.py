"""Push: publish a local dataset as a new version of it on the remote.

The steps, in order: recover a publish that a killed push left pending; stop early when the
copy is the latest version already; check that the copy is based on the latest version (a
conflict otherwise, unless forced); upload the new content and renew the age of reused
objects; publish the manifest, which makes the version exist.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue
import shutil
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Literal, NamedTuple, TypeVar

from . import recheck
from ._values import Value
from .catalog import SHARD_FILES, Group, GroupWriter, Root
from .dataset import LocalFile, batched, local_groups, validate_dataset_dir, walk_group
from .errors import ConflictError, DatasetError, NotFoundError
from .home import FileRecord, Home, Pending, RecordsWriter, State, cached, make_record
from .localcopy import hash_workers
from .manifest import EMPTY_SHA256, FileEntry, Part
from .names import check_name
from .packing import CHUNK, NewFile, Upload, chunk_list_id, chunk_ranges, hash_range, plan_uploads
from .progress import Progress
from .recheck import Counted, check_groups
from .remote import Remote, ShardSink, VersionReader
from .transfer import renew, upload
from .version import __version__, author

if TYPE_CHECKING:
    import subprocess

log = logging.getLogger("etcetera")


class PushReport(Value):
    """What a push did: the version it published (or found up to date) and the bytes it sent."""

    __slots__ = ("name", "version", "uploaded_bytes", "total_bytes", "files", "up_to_date", "seconds")
    name: str
    version: int
    uploaded_bytes: int
    total_bytes: int
    files: int
    up_to_date: bool
    seconds: float

    def __init__(self, name: str, version: int, uploaded_bytes: int, total_bytes: int, files: int,
                 up_to_date: bool, seconds: float) -> None:
        self.name, self.version, self.uploaded_bytes, self.total_bytes = name, version, uploaded_bytes, total_bytes
        self.files, self.up_to_date, self.seconds = files, up_to_date, seconds

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def require_local(home: Home, name: str) -> None:
    """DatasetError unless `name` is in the home, or was pushed from a folder that is still there:
    checked before the remote is opened."""
    if not home.path(check_name(name)).exists() and last_source(home, name) is None:
        raise DatasetError(f"{name} is not in {home.root}: etc register DIR {name} first")


def last_source(home: Home, name: str) -> Path | None:
    """The folder `name` was last pushed from (`push --from`), when it has no copy in the home
    and that folder is still a dataset: what a plain `push NAME` then publishes again."""
    state = home.sources().load_state(name) if (home.meta / "sources").is_dir() else None
    if state is None or state.source is None or home.path(name).exists():
        return None
    folder = Path(state.source)
    return folder if (folder / "data").is_dir() else None


BATCH_SHARDS = 1  # a push handles a group's files this many shards' worth at a time (memory is one batch's)


def push(home: Home, remote: Remote, name: str, *, workers: int, force: bool = False,
         quiet: bool | None = None, shard_files: int = SHARD_FILES,
         source: str | os.PathLike | None = None) -> PushReport:
    """Publish the local dataset `name` as a new version of it on `remote`; with `source`, publish
    the dataset folder `source` straight away instead, without copying it into the home.

    The dataset is streamed group by group (each partition, then within it batches of
    `BATCH_SHARDS * shard_files` files in path order) through scan, hash, pack, upload and shard
    writing, merged with the state's records and the base version's shards, which are path-ordered
    too: memory holds one batch, whatever the number of files.

    From a `source` folder the home keeps only a state (`Home.sources`): the content ids of the
    folder's files by stat, so an unchanged folder is not read again, and the version it became,
    which later pushes of `name` from any folder build on (the home copy's version the first
    time).  The folder is only read; a file that changes while it is uploaded fails the push.
    Without `source` and without a home copy, the folder `name` was last pushed from is published."""
    started = time.monotonic()
    if source is None:
        require_local(home, name)
        source = last_source(home, name)
    home.clean_leftovers()
    with home.lock(name):
        if source is None:
            store, path = home, home.path(name)
            groups = local_groups(validate_dataset_dir(path))
            state = home.load_state(name) or State()
        else:
            store, path = home.sources(), Path(source).expanduser().absolute()
            groups = local_groups(validate_dataset_dir(path))
            state = _source_state(home, store, name, path)
        latest = remote.latest(name)
        _recover_pending(remote, name, state, latest)
        if latest is not None and latest == state.version and state.remote == remote.url:
            counted = _unchanged(path, groups, state)
            if counted is not None:
                # Nothing changed since this copy was pushed or pulled as the latest version.
                return PushReport(name, latest, 0, counted[1], counted[0], True, time.monotonic() - started)
        latest_doc = remote.version(name, latest) if latest else None
        base_doc = latest_doc
        if state.version and state.version != latest and state.remote == remote.url:
            try:
                base_doc = remote.version(name, state.version)
            except NotFoundError:
                pass
        carried = []
        if state.partitions is not None and base_doc is not None:
            # A partial copy: partitions that were not pulled travel on unchanged from its base.
            carried = [g for g in base_doc.groups() if g != "." and g not in groups]
        job = _Job(store, remote, name, path, state, latest_doc, base_doc, workers, quiet, shard_files)
        if latest is not None and state.version != latest and not force:
            # Publishing would be a conflict, unless the copy already is the latest version:
            # find out without uploading anything.
            out = job.run(groups, carried, dry=True)
            if out.same:
                _remember(store, name, state, out, latest, remote.url)
                return PushReport(name, latest, 0, out.bytes, out.files, True, time.monotonic() - started)
            out.records.close()
            shutil.rmtree(out.records.folder, ignore_errors=True)
            _check_conflict(remote, name, state, latest, force)
        out = job.run(groups, carried, dry=False)
        if out.same:
            _remember(store, name, state, out, latest, remote.url)
            return PushReport(name, latest, 0, out.bytes, out.files, True, time.monotonic() - started)
        version, root = _publish(store, remote, name, state, out, latest, force)
        if remote.missing_shards(root, among=out.renewed):
            # A gc that judged a reused shard an orphan just before this push renewed it may have
            # deleted it since: now that the root protects them, the same pass puts them back.
            job.run(groups, carried, dry=False).records.close()
        sent = out.sent
        if out.found:
            # A gc that looked at one of them just before its renewal may have deleted it since:
            # re-create any that is gone, now that the manifest protects it.
            sent += upload(remote.objects, out.found, workers, Progress(0, "", False))
        state.pending = None
        _remember(store, name, state, out, version, remote.url)
        log.info("pushed %s@%s: %d files, %d bytes uploaded", name, version, out.files, sent)
        return PushReport(name, version, sent, out.bytes, out.files, False, time.monotonic() - started)


def _source_state(home: Home, store: Home, name: str, path: Path) -> State:
    """The state of pushes of `name` from folders: its records hold only while the folder is the
    one they were taken from; the version it builds on is the last one published from any folder
    (else the home copy's)."""
    state = store.load_state(name)
    if state is None:
        old = home.load_state(name)
        state = State(version=old.version, remote=old.remote) if old else State()
    elif state.source != str(path):
        state = State(version=state.version, remote=state.remote, pending=state.pending)
    state.source = str(path)
    return state


def _recover_pending(remote: Remote, name: str, state: State, latest: int | None) -> None:
    """Adopt `latest` as this copy's version when the last push of this copy published it, then
    died before recording it (the manifest's bytes are the ones it was about to publish)."""
    pending = state.pending
    if pending and latest is not None and pending.version == latest and pending.remote == remote.url:
        if hashlib.sha256(remote.manifest_bytes(name, latest)).hexdigest() == pending.manifest_sha256:
            state.version, state.remote = latest, remote.url
    state.pending = None


def _unchanged(path: Path, groups: list[str], state: State) -> tuple[int, int] | None:
    """(files, bytes) when the folder is exactly as the state records it (same paths, stats, modes
    and empty folders), so its content is the recorded version's; else None.  A merge of the
    path-ordered scan with the path-ordered stored records, one group at a time, that compares
    text instead of building records: this is all an unchanged re-push costs.  Almost all of it
    is the kernel's stat of each file, so a big check is spread over processes (`_shares`)."""
    if state.dirs is None or set(state.groups()) - set(groups):
        return None
    shares = _shares(groups, state)
    counted = _check(path, groups, state) if shares is None else _check_shared(path, shares, state)
    if counted is None:
        return None
    files, nbytes, dirs = counted
    return (files, nbytes) if sorted(dirs) == state.dirs else None


# The records' size from which the check is spread over processes: ~130 bytes a file, so ~65k
# files.  Measured on 2 cores (1 KiB files, 10 partitions): a child costs ~28 ms to start and answer,
# so sharing breaks even at ~12k files; at 60k it takes 0.165 s instead of 0.274 s, at 400k 0.94
# instead of 1.81.  With the other core busy it costs about that start more than the serial check.
SHARED_CHECK_BYTES = 8 << 20
SHARED_CHECK_PROCESSES = 4  # at most, this process included


def _cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _shares(groups: list[str], state: State) -> list[list[str]] | None:
    """The groups split between this process (the first share) and children, balanced by the
    size of their records files; None to check them all here: a small state (a few stats to
    know), a single group, a single CPU, or records held in memory."""
    if len(groups) < 2 or state.records_file(groups[0]) is None:
        return None
    cpus = _cpus()
    if cpus < 2:
        return None
    sizes = {}
    for group in groups:
        try:
            sizes[group] = os.stat(state.records_file(group)).st_size  # type: ignore[arg-type]
        except FileNotFoundError:
            sizes[group] = 0
    if sum(sizes.values()) < SHARED_CHECK_BYTES:
        return None
    shares: list[list[str]] = [[] for _ in range(min(cpus, len(groups), SHARED_CHECK_PROCESSES))]
    loads = [0] * len(shares)
    for group in sorted(groups, key=sizes.__getitem__, reverse=True):
        i = loads.index(min(loads))
        shares[i].append(group)
        loads[i] += sizes[group]
    return [sorted(share) for share in shares if share]


def _check(path: Path, groups: list[str], state: State) -> Counted | None:
    """`check_group` over these groups in this process: their totals and empty folders, or None."""
    return check_groups(str(path), ((group, state.record_lines(group)) for group in groups))


def _check_shared(path: Path, shares: list[list[str]], state: State) -> Counted | None:
    """`_check` of the first share here while child processes (`recheck` run as a script) check the
    others.  A child that fails to start or to answer has its share checked here after."""
    children = [(share, _start_check(path, share, state)) for share in shares[1:]]
    try:
        counted = _check(path, shares[0], state)
        if counted is None:
            return None
        files, nbytes, dirs = counted
        for share, child in children:
            answer = _answer(child)
            if answer is False:
                answer = _check(path, share, state)
            if answer is None:
                return None
            files += answer[0]
            nbytes += answer[1]
            dirs.extend(answer[2])
        return files, nbytes, dirs
    finally:
        for _, child in children:
            if child is not None and child.returncode is None:  # not needed any more: this share changed
                child.kill()
                child.wait()
                if child.stdout is not None:
                    child.stdout.close()


def _start_check(path: Path, groups: list[str], state: State) -> subprocess.Popen | None:
    """A child process checking these groups (`recheck.check_files`), or None if none could start.
    A fresh interpreter, not a fork: the caller may have threads (connection pools, progress)."""
    import subprocess

    if getattr(sys, "frozen", False) or not sys.executable:
        return None  # no interpreter to run a script with
    job = {"path": str(path), "groups": [[g, str(state.records_file(g))] for g in groups]}
    child = None
    try:
        child = subprocess.Popen([sys.executable, "-I", "-S", recheck.__file__], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert child.stdin is not None
        child.stdin.write(json.dumps(job).encode())
        child.stdin.close()
        return child
    except OSError as exc:
        log.debug("up-to-date check: no child process (%s); checked here instead", exc)
        if child is not None:
            child.kill()
            child.wait()
        return None


def _answer(child: subprocess.Popen | None) -> Counted | None | Literal[False]:
    """What a child checking a share found (None: a change), or False when it has no answer."""
    if child is None:
        return False
    assert child.stdout is not None
    with child.stdout:
        out = child.stdout.read()
    child.wait()
    try:
        answer = json.loads(out) if child.returncode == 0 else False
    except ValueError:
        answer = False
    if answer is None:
        return None
    if isinstance(answer, list) and len(answer) == 3 and all(isinstance(n, int) for n in answer[:2]) \
            and isinstance(answer[2], list) and all(isinstance(d, str) for d in answer[2]):
        return answer[0], answer[1], answer[2]
    log.debug("up-to-date check: the child process failed (exit status %s); checked here instead", child.returncode)
    return False


class _Outcome:
    """What a streamed pass over the dataset produced."""

    def __init__(self, records: RecordsWriter) -> None:
        self.groups: list[Group] = []  # the new version's groups (their shards are uploaded unless dry)
        self.same = True  # the content (paths, hashes, modes, empty folders) is the latest version's
        self.files = 0
        self.bytes = 0
        self.dirs: list[str] = []  # the local copy's empty folders
        self.records = records  # the state's new records (stat and content id of every local file)
        self.sent = 0
        self.found: list[Upload] = []  # objects that were already on the remote
        self.renewed: set[str] = set()  # metadata shards that were already on the remote


class _Scanned(NamedTuple):
    """A batch of one group's files in path order, with their content ids (`batch` None: the
    group's end; `dirs` is then complete)."""

    group: str
    batch: list[LocalFile] | None
    hashes: list[tuple[str, tuple[str, ...] | None]]
    dirs: list[str]


class _Job:
    """One push's pass over the dataset, group by group and batch by batch."""

    def __init__(self, home: Home, remote: Remote, name: str, path: Path, state: State,
                 latest: VersionReader | None, base: VersionReader | None, workers: int,
                 quiet: bool | None, shard_files: int) -> None:
        self.home, self.remote, self.name, self.path, self.state = home, remote, name, path, state
        self.latest, self.base, self.workers, self.quiet, self.shard_files = latest, base, workers, quiet, shard_files

    def run(self, groups: list[str], carried: list[str], *, dry: bool) -> _Outcome:
        out = _Outcome(self.home.new_records(self.name))
        latest_groups = set(self.latest.groups()) if self.latest else set()
        hash_pool = ThreadPoolExecutor(max_workers=hash_workers(), thread_name_prefix="etc-hash")
        present = [sid for v in (self.latest, self.base) if v is not None for sid in v.shard_ids()]
        order = sorted(set(groups) | set(carried))
        with hash_pool, self.remote.shard_sink(present) as put, contextlib.ExitStack() as stack, \
                Progress(0 if dry else None, f"push {self.name}", None if self.quiet is None else not self.quiet) as bar:
            # One scan across the groups: the next group's first batch is scanned and hashed while
            # this group's last one uploads.
            scan = stack.enter_context(contextlib.closing(
                _ahead(self._scan([g for g in order if g not in carried], hash_pool))))
            uploads = stack.enter_context(_Uploads(self.remote, self.workers, self.path, out, bar))
            for group in order:
                if group in carried:
                    done = self._carry(group, put, dry)
                    out.same = out.same and self.base is self.latest
                    latest_groups.discard(group)
                    if done is not None:
                        out.files += done.files
                        out.bytes += done.bytes
                else:
                    done = self._group(group, scan, out, put, uploads, dry)
                    if done is not None:
                        latest_groups.discard(group)
                if done is not None and not dry:
                    out.groups.append(done)
            uploads.settle(keep=0)
        out.same = out.same and not latest_groups and self.latest is not None
        out.renewed = put.renewed
        out.dirs.sort()
        return out

    def _carry(self, group: str, put: ShardSink, dry: bool) -> Group | None:
        """A partition of the base version that this partial copy does not have: the same shards
        (rewritten from an `etcetera/1` base)."""
        assert self.base is not None
        ready = self.base.group(group)
        if ready is not None or dry:
            return ready
        sizes: dict[str, int] = {}
        writer = GroupWriter(group, sizes.__getitem__, put, self.shard_files)
        entries = self.base.entries(group)
        for fe in entries.upto("\U0010ffff", sizes):
            writer.add(fe)
        for d in entries.dirs:
            writer.add_dir(d)
        return writer.finish()

    def _scan(self, groups: list[str], pool: ThreadPoolExecutor) -> Iterator[_Scanned]:
        """Every batch of these groups' files, in order, with their content ids; after each group's
        last batch, its end, which carries the group's empty folders."""
        batch_size = BATCH_SHARDS * self.shard_files  # whole shards: the writer is empty after each batch
        for group in groups:
            records = _Records(self.state.records(group), _Records(self.state.hashes(group)))
            dirs: list[str] = []
            for batch in batched(walk_group(self.path, group, dirs), batch_size):
                yield _Scanned(group, batch, _hash_batch(self.path, batch, records, pool), dirs)
            yield _Scanned(group, None, [], dirs)

    def _group(self, group: str, scan: Iterator[_Scanned], out: _Outcome, put: ShardSink,
               uploads: "_Uploads", dry: bool) -> Group | None:
        """Hash, pack, upload and describe one local group (its batches, the next ones of `scan`);
        compare it with the latest version's."""
        sizes: dict[str, int] = {}
        writer = GroupWriter(group, sizes.__getitem__, put, self.shard_files)
        latest = self.latest.entries(group) if self.latest else None
        base = self.base.entries(group) if self.base and self.base is not self.latest else None
        nonempty = False
        while True:
            scanned = next(scan)
            assert scanned.group == group
            if scanned.batch is None:
                dirs = scanned.dirs
                break
            batch, hashes = scanned.batch, scanned.hashes
            sizes.clear()
            last = batch[-1].rel
            known: dict[str, tuple[Part, ...]] = {}
            from_latest = latest.upto(last, sizes) if latest else []
            for source in (base.upto(last, sizes) if base else [], from_latest):
                for fe in source:
                    known[fe.sha256] = fe.parts
            if out.same:
                out.same = len(from_latest) == len(batch) and all(
                    fe.path == f.rel and fe.sha256 == h[0] and fe.executable == f.executable
                    for fe, f, h in zip(from_latest, batch, hashes))
            fresh = [NewFile(f"{self.path}/{f.rel}", f.size, *h, group) for f, h in zip(batch, hashes)
                     if f.size > 0 and h[0] not in known]
            if not dry:
                parts, objects = plan_uploads(fresh, self.workers)
                for u in objects:
                    sizes[u.obj] = u.size
                known.update(parts)
                # The batch's entries are described while its objects upload: where each file's bytes
                # go is known from the plan.
                uploads.submit(objects, batch, fresh)
            for f, (sha, chunks) in zip(batch, hashes):
                out.records.add(f.rel, make_record(f, sha, chunks), group)
                out.files += 1
                out.bytes += f.size
                if not dry:
                    writer.add(FileEntry(f.rel, f.size, sha, f.executable, known[sha] if f.size else ()))
            uploads.settle(keep=1)
            nonempty = True
        if latest is not None and out.same:
            out.same = latest.drain() == 0 and sorted(latest.dirs) == sorted(dirs)
        out.dirs.extend(dirs)
        if not nonempty and not dirs:
            return None
        if dry:
            return Group(group)
        for d in dirs:
            writer.add_dir(d)
        return writer.finish()


class _Uploads:
    """A push's batches of new objects, uploaded one batch after the other (each by the transfer
    engine's workers) while the push describes the next.  Settling a batch waits for it and checks
    that none of its files changed meanwhile; the latest one is kept in flight, so the next batch is
    described, and a group's last shard written, while it uploads: two batches at most are held."""

    def __init__(self, remote: Remote, workers: int, root: Path, out: _Outcome, bar: Progress) -> None:
        self.remote, self.workers, self.root, self.out, self.bar = remote, workers, root, out, bar
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="etc-upload")
        self.pending: deque[tuple[Future, list[LocalFile], list[NewFile]]] = deque()

    def __enter__(self) -> "_Uploads":
        return self

    def __exit__(self, kind: type | None, *_: object) -> None:
        if kind is not None:
            for future, _batch, _fresh in self.pending:
                future.cancel()  # a failed push starts no more uploads
        self.pool.shutdown(wait=True)

    def submit(self, objects: list[Upload], batch: list[LocalFile], fresh: list[NewFile]) -> None:
        """Upload `objects`, which hold the bytes of `fresh`, new files of the listed `batch`."""
        self.pending.append((self.pool.submit(self._upload, objects), batch, fresh))

    def settle(self, keep: int) -> None:
        """Wait for all but the `keep` latest batches; raise if one failed or a file of it changed."""
        while len(self.pending) > keep:
            done, batch, fresh = self.pending.popleft()
            done.result()
            _check_unchanged(self.root, batch, fresh)

    def _upload(self, objects: list[Upload]) -> None:
        """Upload a batch's new objects; renew the age of those already there."""
        out, objs = self.out, self.remote.objects
        found: list[Upload] = []
        self.bar.grow(sum(u.size for u in objects))
        out.sent += upload(objs, objects, self.workers, self.bar, found)
        if found:
            # Objects already on the remote that no version this push builds on names (leftovers of
            # an interrupted push, or another dataset's): a gc may judge them orphans right now.
            # Renewing their age before the manifest names them makes such a gc keep them; any it
            # already deleted are uploaded again.
            out.sent += upload(objs, renew(objs, found, self.workers), self.workers, Progress(0, "", False))
            out.found.extend(found)


class _Records:
    """The state's records of one group, looked up in path order (a merge with the scan); where
    they have nothing for a file that still holds, the `fallback` (register's hash cache)."""

    def __init__(self, records: Iterator[tuple[str, FileRecord]], fallback: "_Records | None" = None) -> None:
        self._it = records
        self._head = next(records, None)
        self._fallback = fallback

    def get(self, rel: str) -> FileRecord | None:
        while self._head is not None and self._head[0] < rel:
            self._head = next(self._it, None)
        return self._head[1] if self._head is not None and self._head[0] == rel else None

    def cached(self, f: LocalFile) -> tuple[str, tuple[str, ...] | None] | None:
        """The content id recorded for `f` if `f` is unchanged since (see `home.cached`)."""
        hit = cached(self.get(f.rel), f)
        if hit is None and self._fallback is not None:
            hit = self._fallback.cached(f)
        return hit


def _check_unchanged(root: Path, batch: list[LocalFile], uploaded: list[NewFile]) -> None:
    """DatasetError when a file whose bytes were just uploaded changed since it was listed (its
    size, mtime or inode): the object may hold bytes other than the ones hashed."""
    if not uploaded:
        return
    paths = {f.path for f in uploaded}
    for f in batch:
        p = f"{root}/{f.rel}"
        if p not in paths:
            continue
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            st = None
        if st is None or (st.st_size, st.st_mtime_ns, st.st_ino) != (f.size, f.mtime_ns, f.ino):
            raise DatasetError(f"{p} changed while it was being pushed: push again once nothing writes to it")


T = TypeVar("T")


def _ahead(items: Iterator[T]) -> Iterator[T]:
    """The items of `items`, each produced in a background thread while the caller works on the
    one before (at most one waits), so scanning and hashing overlap uploading."""
    q: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    end = object()

    def put(item: object) -> None:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                pass

    def produce() -> None:
        try:
            for item in items:
                put((True, item))
                if stop.is_set():
                    return
            put((True, end))
        except BaseException as exc:  # raised in the caller's thread
            put((False, exc))

    thread = threading.Thread(target=produce, name="etc-scan", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is end:
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _check_conflict(remote: Remote, name: str, state: State, latest: int | None, force: bool) -> None:
    """ConflictError when the remote's latest version is not the one this copy is based on."""
    if latest is None or state.version == latest or force:
        return
    if state.version is None or state.remote != remote.url:
        raise ConflictError(
            f"{remote.url} already has {name}@{latest} and your copy was not pulled from it: "
            f"pull it first, or push -f to publish yours as {name}@{latest + 1}"
        )
    raise ConflictError(
        f"{remote.url} has {name}@{latest} but your copy is based on @{state.version} (someone pushed "
        f"meanwhile): pull and redo your change, or push -f to publish yours as a newer version"
    )


def _publish(home: Home, remote: Remote, name: str, state: State, out: _Outcome, latest: int | None,
             force: bool) -> tuple[int, Root]:
    """Create the root of the next version number (with force, of the next free one after a lost
    race); the pending publish is saved first, so a push killed after it is recognized."""
    version = (latest or 0) + 1
    while True:
        root = Root(name, version, out.groups, latest, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    author(), f"etcetera {__version__}")
        state.pending = Pending(version, hashlib.sha256(root.to_bytes()).hexdigest(), remote.url)
        home.save_state(name, state, prune=False)  # so a push killed after publishing is recognized next time
        try:
            remote.publish(root)
        except ConflictError:
            if not force:
                raise
            version = (remote.latest(name) or version) + 1
            continue
        return version, root


def _hash_batch(root: Path, files: list[LocalFile], records: _Records,
                pool: ThreadPoolExecutor) -> list[tuple[str, tuple[str, ...] | None]]:
    """Content ids of a batch of files, from the state's records where a file is unchanged, else
    computed in parallel: small files in runs of about 8 MiB, the chunks of a large file each on
    their own."""
    out: list[tuple[str, tuple[str, ...] | None] | None] = [None] * len(files)
    runs: list[list[int]] = []
    chunked: list[int] = []
    run_bytes = 0
    for i, f in enumerate(files):
        hit = records.cached(f)
        if hit is not None and (f.size <= CHUNK or (hit[1] and hit[0] == chunk_list_id(hit[1]))):
            out[i] = hit
        elif f.size == 0:
            out[i] = (EMPTY_SHA256, None)
        elif f.size > CHUNK:
            chunked.append(i)
        else:
            # One pool task per file costs more than hashing a few KiB.
            if not runs or run_bytes >= 8 << 20:
                runs.append([])
                run_bytes = 0
            runs[-1].append(i)
            run_bytes += f.size

    def hash_run(run: list[int]) -> list[str]:
        return [hash_range(f"{root}/{files[i].rel}", 0, files[i].size) for i in run]

    pieces = {i: [pool.submit(hash_range, f"{root}/{files[i].rel}", offset, length)
                  for offset, length in chunk_ranges(files[i].size)] for i in chunked}
    for run, shas in zip(runs, pool.map(hash_run, runs)):
        for i, sha in zip(run, shas):
            out[i] = (sha, None)
    for i, futures in pieces.items():
        chunks = tuple(fut.result() for fut in futures)
        out[i] = (chunk_list_id(chunks), chunks)
    return out  # type: ignore[return-value]


def _remember(home: Home, name: str, state: State, out: _Outcome, version: int, remote_url: str) -> None:
    """Record the version the copy now is, with every file's stat and content id."""
    state.version = version
    state.remote = remote_url
    state.dirs = out.dirs
    state.use_records(out.records)
    state.use_hashes(None)  # the records now hold every file's content id
    home.save_state(name, state)
