"""The local home folder: datasets at `<home>/<name>/`, bookkeeping under `<home>/.etc/`.

`.etc/state/<name>.json` remembers which remote version a local copy came from; the hash of every
file, keyed by (size, mtime, inode), is kept beside it in `.etc/state/<name>.d/<token>/`, one
path-sorted text file per group (partition, or `.` for the files outside data/).  So an unchanged
dataset is never re-hashed, local edits are noticed before a pull would overwrite them, and a push
or pull reads the records of one group at a time, merged with a path-ordered scan, instead of
holding every file's record in memory.  State files written by earlier releases (every record in
the one JSON file) are still read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import IO, Any, Iterator, NamedTuple

from ._values import Value
from .dataset import LocalFile, partition_of
from .errors import DatasetError
from .names import NAME_RE, check_name


class FileRecord(NamedTuple):
    """What the state remembers of one file: its stat when last hashed, and its content id.
    (Earlier releases stored it as a JSON list in this order.)"""

    size: int
    mtime_ns: int
    ino: int
    sha256: str
    chunks: list[str] | None  # the chunk ids of a chunked file
    executable: bool | None = None  # None in records written before modes were remembered


class Pending(NamedTuple):
    """A publish in progress: written before the manifest is created, cleared after, so the next
    push recognizes a version this copy published just before it was killed."""

    version: int
    manifest_sha256: str
    remote: str


def group_file(group: str) -> str:
    """The records file of a group: 'data/train' -> 'data.train.tsv', '.' -> 'outside.tsv'."""
    return "outside.tsv" if group == "." else f"data.{group[5:]}.tsv"


def record_group(rel: str) -> str:
    p = partition_of(rel)
    return f"data/{p}" if p is not None else "."


def record_line(rel: str, rec: FileRecord) -> str:
    """One record as a line: path, size, mtime, inode, sha256, chunk ids (comma-separated),
    executable (1/0/-).  Paths hold no control characters (scan refuses them), so tabs are safe."""
    x = "-" if rec.executable is None else "1" if rec.executable else "0"
    return f"{rel}\t{rec.size}\t{rec.mtime_ns}\t{rec.ino}\t{rec.sha256}\t{','.join(rec.chunks or ())}\t{x}\n"


def parse_record_line(line: str) -> tuple[str, FileRecord]:
    rel, size, mtime, ino, sha, chunks, x = line.rstrip("\n").split("\t")
    return rel, FileRecord(int(size), int(mtime), int(ino), sha, chunks.split(",") if chunks else None,
                           None if x == "-" else x == "1")


class RecordsWriter:
    """Writes a state's records group by group (each group's in path order) into a fresh folder,
    which a saved state then points to; nothing is visible until that save."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._open: dict[str, IO[str]] = {}

    def add(self, rel: str, rec: FileRecord, group: str | None = None) -> None:
        group = group or record_group(rel)
        fh = self._open.get(group)
        if fh is None:
            fh = self._open[group] = open(self.folder / group_file(group), "w", encoding="utf-8")
        fh.write(record_line(rel, rec))

    def close(self) -> None:
        for fh in self._open.values():
            fh.close()
        self._open.clear()


class State(Value):
    """What the home knows about one local dataset.  The per-file records are read lazily: by
    group and in path order with `records()`, or all at once through `files` (small datasets)."""

    __slots__ = ("version", "remote", "partitions", "_files", "dirs", "pending", "records_dir", "hashes_dir",
                 "source", "_hashes")
    _hidden = ("_files", "records_dir", "hashes_dir", "_hashes")
    version: int | None
    remote: str | None
    partitions: list[str] | None  # None: every partition was pulled
    _files: dict[str, FileRecord] | None
    dirs: list[str] | None  # empty directories at that version, when known
    pending: Pending | None
    records_dir: Path | None  # the folder of per-group records
    # Content ids of the files as `register` copied them: a hash cache only, never a version's
    # content (unlike the records, which pull and status read as what the base version had).
    hashes_dir: Path | None
    source: str | None  # the folder a push from a folder (`push --from`) last published
    _hashes: dict[str, FileRecord] | None

    def __init__(self, version: int | None = None, remote: str | None = None, partitions: list[str] | None = None,
                 _files: dict[str, FileRecord] | None = None, dirs: list[str] | None = None,
                 pending: Pending | None = None, records_dir: Path | None = None, hashes_dir: Path | None = None,
                 source: str | None = None, _hashes: dict[str, FileRecord] | None = None) -> None:
        self.version, self.remote, self.partitions, self._files = version, remote, partitions, _files
        self.dirs, self.pending, self.records_dir, self.hashes_dir = dirs, pending, records_dir, hashes_dir
        self.source, self._hashes = source, _hashes

    @property
    def files(self) -> dict[str, FileRecord]:
        """Every record by path (loads them all: for small datasets and inspection)."""
        if self._files is None:
            self._files = {}
            if self.records_dir is not None and self.records_dir.is_dir():
                for entry in sorted(os.listdir(self.records_dir)):
                    if entry.endswith(".tsv"):
                        with open(self.records_dir / entry, encoding="utf-8") as fh:
                            self._files.update(parse_record_line(line) for line in fh)
        return self._files

    @files.setter
    def files(self, value: dict[str, FileRecord]) -> None:
        self._files = value
        self.records_dir = None

    def records(self, group: str) -> Iterator[tuple[str, FileRecord]]:
        """The records of one group (a partition `data/<p>` or `.`), in path order."""
        if self._files is None and self.records_dir is not None:
            yield from map(parse_record_line, self.record_lines(group))
            return
        yield from sorted((rel, r) for rel, r in self.files.items() if record_group(rel) == group)

    def record_lines(self, group: str) -> Iterator[str]:
        """The records of one group as stored lines (see `record_line`), in path order: what the
        up-to-date check compares with the scan without parsing them."""
        if self._files is None and self.records_dir is not None:
            try:
                fh = open(self.records_dir / group_file(group), encoding="utf-8")
            except FileNotFoundError:
                return
            with fh:
                yield from fh
            return
        for rel, rec in self.records(group):
            yield record_line(rel, rec)

    def records_file(self, group: str) -> Path | None:
        """The file holding a group's record lines (which may not exist: no records), when they are
        read from files; None when the state holds its records in memory."""
        if self._files is None and self.records_dir is not None:
            return self.records_dir / group_file(group)
        return None

    def groups(self) -> list[str]:
        """The groups that have records."""
        if self._files is None and self.records_dir is not None:
            try:
                names = os.listdir(self.records_dir)
            except FileNotFoundError:
                return []
            return sorted("." if n == "outside.tsv" else f"data/{n[5:-4]}" for n in names if n.endswith(".tsv"))
        return sorted({record_group(rel) for rel in self.files})

    def use_records(self, writer: RecordsWriter) -> None:
        """Make the records written by `writer` this state's (saved by the next `save_state`)."""
        writer.close()
        self._files, self.records_dir = None, writer.folder

    def unchanged(self, files: list[LocalFile], dirs: list[str]) -> bool:
        """True when the folder is exactly as recorded: same paths, stats, modes and empty dirs,
        so its content is the recorded version's without reading a byte or the manifest."""
        if self.dirs is None or sorted(dirs) != self.dirs or len(files) != len(self.files):
            return False
        for f in files:
            entry = self.files.get(f.rel)
            if not same_stat(entry, f):
                return False
        return True

    def cached_hash(self, f: LocalFile) -> tuple[str, tuple[str, ...] | None] | None:
        """The content id (and chunk ids) recorded for `f`, if it is unchanged since: from the
        records, else from the hash cache `register` wrote."""
        hit = cached(self.files.get(f.rel), f)
        if hit is None and self.hashes_dir is not None:
            if self._hashes is None:
                self._hashes = dict(read_records(self.hashes_dir))
            hit = cached(self._hashes.get(f.rel), f)
        return hit

    def hashes(self, group: str) -> Iterator[tuple[str, FileRecord]]:
        """The hash cache's entries of one group, in path order (none without a cache)."""
        if self.hashes_dir is None:
            return iter(())
        return read_records(self.hashes_dir, group)

    def use_hashes(self, writer: RecordsWriter | None) -> None:
        """Make the records written by `writer` this state's hash cache (None: drop it)."""
        if writer is not None:
            writer.close()
        self.hashes_dir, self._hashes = (writer.folder if writer is not None else None), None

    @classmethod
    def from_json(cls, raw: Any, folder: Path | None = None) -> "State":
        """The state a state file holds: its records in the file itself (lists, as earlier releases
        wrote them), or in the records folder it names (`folder` is where those folders are)."""
        pending = raw.get("pending")
        pending = Pending(*pending) if isinstance(pending, list) and len(pending) == 3 else None
        records = raw.get("records")
        hashes = raw.get("hashes")
        hashes_dir = folder / hashes if isinstance(hashes, str) and folder is not None and NAME_RE.fullmatch(hashes) else None
        source = raw.get("source") if isinstance(raw.get("source"), str) else None
        if isinstance(records, str) and folder is not None and NAME_RE.fullmatch(records):
            return cls(raw.get("version"), raw.get("remote"), raw.get("partitions"), None, raw.get("dirs"), pending,
                       folder / records, hashes_dir, source)
        files = {}
        for rel, entry in (raw.get("files") or {}).items():
            if isinstance(entry, list) and 5 <= len(entry) <= 6:
                files[rel] = FileRecord(*entry)
        return cls(raw.get("version"), raw.get("remote"), raw.get("partitions"), files, raw.get("dirs"), pending,
                   None, hashes_dir, source)


def read_records(folder: Path, group: str | None = None) -> Iterator[tuple[str, FileRecord]]:
    """The records stored in a records folder: one group's in path order, or every group's."""
    names = [group_file(group)] if group is not None else sorted(n for n in os.listdir(folder) if n.endswith(".tsv"))
    for entry in names:
        try:
            fh = open(folder / entry, encoding="utf-8")
        except FileNotFoundError:
            continue
        with fh:
            yield from map(parse_record_line, fh)


def same_stat(entry: FileRecord | None, f: LocalFile) -> bool:
    """Whether `f` is exactly as recorded (stat and mode), so its recorded content id holds."""
    return bool(entry and entry.executable is not None and entry.size == f.size and entry.mtime_ns == f.mtime_ns
                and entry.ino == f.ino and entry.executable == f.executable)


def cached(entry: FileRecord | None, f: LocalFile) -> tuple[str, tuple[str, ...] | None] | None:
    """The content id (and chunk ids) `entry` records for `f`, if `f` is unchanged since."""
    if entry and entry.size == f.size and entry.mtime_ns == f.mtime_ns and entry.ino == f.ino:
        return entry.sha256, (tuple(entry.chunks) if entry.chunks else None)
    return None


def make_record(f: LocalFile, sha: str, chunks: tuple[str, ...] | None) -> FileRecord:
    return FileRecord(f.size, f.mtime_ns, f.ino, sha, list(chunks) if chunks else None, f.executable)


class Home:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.meta = root / ".etc"

    def path(self, name: str) -> Path:
        return self.root / check_name(name)

    def exists(self, name: str) -> bool:
        return (self.path(name) / "data").is_dir()

    def names(self) -> list[str]:
        try:
            entries = os.scandir(self.root)
        except FileNotFoundError:
            return []
        return sorted(e.name for e in entries if NAME_RE.fullmatch(e.name) and os.path.isdir(os.path.join(e.path, "data")))

    def _ensure(self, *sub: str) -> Path:
        folder = self.meta.joinpath(*sub)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatasetError(f"cannot write to home {self.root}: {exc.strerror}; set `home` to a writable folder") from None
        return folder

    def _state_dir(self, name: str) -> Path:
        return self.meta / "state" / f"{name}.d"

    def load_state(self, name: str) -> State | None:
        try:
            raw = json.loads((self.meta / "state" / f"{name}.json").read_text())
            return State.from_json(raw, self._state_dir(name))
        except (FileNotFoundError, ValueError, AttributeError):
            return None

    def new_records(self, name: str) -> RecordsWriter:
        """A writer of a fresh records folder for `name`'s state (see `State.use_records`)."""
        folder = self._ensure("state", f"{name}.d") / f"r{os.urandom(8).hex()}"
        folder.mkdir()
        return RecordsWriter(folder)

    def save_state(self, name: str, state: State, *, prune: bool = True) -> None:
        """Write the state atomically.  Records held in memory go to a fresh records folder first;
        with `prune`, records folders the state no longer names (earlier ones, a killed run's) go."""
        folder = self._ensure("state")
        if state.records_dir is None:
            writer = self.new_records(name)
            for rel, rec in sorted(state.files.items()):
                writer.add(rel, rec)
            state.use_records(writer)
        head = {"version": state.version, "remote": state.remote, "partitions": state.partitions,
                "dirs": state.dirs, "pending": state.pending, "records": state.records_dir.name}
        if state.hashes_dir is not None:
            head["hashes"] = state.hashes_dir.name
        if state.source is not None:
            head["source"] = state.source
        tmp = folder / f".{name}.{os.urandom(16).hex()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(head, fh, separators=(",", ":"))
        os.replace(tmp, folder / f"{name}.json")
        if prune:
            keep = {state.records_dir.name, state.hashes_dir.name if state.hashes_dir is not None else None}
            for entry in os.scandir(self._state_dir(name)):
                if entry.name not in keep:
                    shutil.rmtree(entry.path, ignore_errors=True)

    def drop_state(self, name: str) -> None:
        (self.meta / "state" / f"{name}.json").unlink(missing_ok=True)
        shutil.rmtree(self._state_dir(name), ignore_errors=True)

    def sources(self) -> "Home":
        """Where pushes straight from a folder (`push --from DIR`) keep their state: per name, the
        content ids of the folder's files by stat and the version it was published as, so an
        unchanged folder is not read again.  Nothing of the data itself is kept."""
        sources = Home(self.meta / "sources")
        sources.meta = sources.root  # its state, locks and records directly under .etc/sources/
        return sources

    def staging(self, name: str) -> Path:
        """A fresh folder on the home's filesystem, so that finishing is a rename."""
        folder = self._ensure("tmp") / f"{name}-{os.urandom(6).hex()}"
        folder.mkdir()
        return folder

    def install(self, name: str, staged: Path) -> Path:
        """Swap a complete staged folder into place; the old copy, if any, is removed after."""
        dest = self.path(name)
        old = None
        if dest.exists():
            old = self._ensure("trash") / f"{name}-{os.urandom(6).hex()}"
            os.rename(dest, old)
        os.rename(staged, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return dest

    def remove(self, name: str) -> None:
        dest = self.path(name)
        trash = self._ensure("trash") / f"{name}-{os.urandom(6).hex()}"
        os.rename(dest, trash)
        self.drop_state(name)
        shutil.rmtree(trash, ignore_errors=True)

    def clean_leftovers(self) -> None:
        """Remove staging and trash folders left by an interrupted run (not locked by anyone).

        A run killed between moving the old copy aside and renaming the new one in left the
        old, complete copy in trash and nothing in place: that copy is put back instead.
        """
        for sub in ("tmp", "trash"):
            folder = self.meta / sub
            if not folder.is_dir():
                continue
            for entry in os.scandir(folder):
                name = entry.name.rsplit("-", 1)[0]
                with self.try_lock(name) as got:
                    if not got:
                        continue
                    dest = self.root / name
                    if (sub == "trash" and NAME_RE.fullmatch(name) and not os.path.lexists(dest)
                            and self.load_state(name) is not None):
                        os.rename(entry.path, dest)
                    else:
                        shutil.rmtree(entry.path, ignore_errors=True)

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """One writer per dataset per home, across processes."""
        folder = self._ensure("locks")
        with open(folder / f"{name}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def try_lock(self, name: str) -> Iterator[bool]:
        folder = self._ensure("locks")
        with open(folder / f"{name}.lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
