"""The local home folder: datasets at `<home>/<name>/`, bookkeeping under `<home>/.etc/`.

`.etc/state/<name>.json` remembers which remote version a local copy came from and the
hash of every file keyed by (size, mtime, inode), so an unchanged dataset is never re-hashed
and local edits are noticed before a pull would overwrite them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, NamedTuple

from .compactjson import pieces
from .dataset import LocalFile
from .errors import DatasetError
from .names import NAME_RE, check_name


class FileRecord(NamedTuple):
    """What the state remembers of one file: its stat when last hashed, and its content id.
    Stored as a JSON list in this order; a named tuple, because a state holds one per file."""

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


@dataclass
class State:
    """What the home knows about one local dataset."""

    version: int | None = None
    remote: str | None = None
    partitions: list[str] | None = None  # None: every partition was pulled
    files: dict[str, FileRecord] = field(default_factory=dict)
    dirs: list[str] | None = None  # empty directories at that version, when known
    pending: Pending | None = None

    def unchanged(self, files: list[LocalFile], dirs: list[str]) -> bool:
        """True when the folder is exactly as recorded: same paths, stats, modes and empty dirs,
        so its content is the recorded version's without reading a byte or the manifest."""
        if self.dirs is None or sorted(dirs) != self.dirs or len(files) != len(self.files):
            return False
        for f in files:
            entry = self.files.get(f.rel)
            if (not entry or entry.executable is None or entry.size != f.size or entry.mtime_ns != f.mtime_ns
                    or entry.ino != f.ino or entry.executable != f.executable):
                return False
        return True

    def cached_hash(self, f: LocalFile) -> tuple[str, tuple[str, ...] | None] | None:
        """The content id (and chunk ids) recorded for `f`, if it is unchanged since."""
        entry = self.files.get(f.rel)
        if entry and entry.size == f.size and entry.mtime_ns == f.mtime_ns and entry.ino == f.ino:
            return entry.sha256, (tuple(entry.chunks) if entry.chunks else None)
        return None

    def remember(self, f: LocalFile, sha: str, chunks: tuple[str, ...] | None) -> None:
        self.files[f.rel] = FileRecord(f.size, f.mtime_ns, f.ino, sha, list(chunks) if chunks else None, f.executable)

    @classmethod
    def from_json(cls, raw: Any) -> "State":
        """The state a state file holds (lists for records, as every version wrote them)."""
        files = {}
        for rel, entry in (raw.get("files") or {}).items():
            if isinstance(entry, list) and 5 <= len(entry) <= 6:
                files[rel] = FileRecord(*entry)
        pending = raw.get("pending")
        pending = Pending(*pending) if isinstance(pending, list) and len(pending) == 3 else None
        return cls(raw.get("version"), raw.get("remote"), raw.get("partitions"), files, raw.get("dirs"), pending)


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

    def load_state(self, name: str) -> State | None:
        try:
            return State.from_json(json.loads((self.meta / "state" / f"{name}.json").read_text()))
        except (FileNotFoundError, ValueError, AttributeError):
            return None

    def save_state(self, name: str, state: State) -> None:
        folder = self._ensure("state")
        tmp = folder / f".{name}.{os.urandom(16).hex()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(pieces({**state.__dict__, "files": {}}, "files", list(state.files.items())))
        os.replace(tmp, folder / f"{name}.json")

    def drop_state(self, name: str) -> None:
        (self.meta / "state" / f"{name}.json").unlink(missing_ok=True)

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
