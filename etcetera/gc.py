"""Garbage collection: delete objects that no published version references.

Objects become orphans when a push is interrupted (or loses a publish race) after uploading.
They are harmless (invisible, and reused by the next push of the same content), but they cost
storage.  Only orphans older than a grace period are deleted, so a push in progress elsewhere,
whose manifest does not exist yet, never loses its objects.
"""

from __future__ import annotations

import time

from ._values import Value
from .remote import DATASETS, OBJECTS, Remote
from .spill import batches, spill_db
from .storage import ObjectInfo
from .transfer import run_parallel

DEFAULT_GRACE_HOURS = 24.0


class GcReport(Value):
    """What `etc gc` found and did: objects listed, referenced, deleted (and their bytes), and
    unreferenced ones kept because they are recent."""

    __slots__ = ("objects", "referenced", "deleted", "deleted_bytes", "kept_recent")
    objects: int
    referenced: int
    deleted: int
    deleted_bytes: int
    kept_recent: int

    def __init__(self, objects: int, referenced: int, deleted: int, deleted_bytes: int, kept_recent: int) -> None:
        self.objects, self.referenced, self.deleted = objects, referenced, deleted
        self.deleted_bytes, self.kept_recent = deleted_bytes, kept_recent


BATCH = 1000  # orphans deleted at a time


def collect(remote: Remote, grace_hours: float = DEFAULT_GRACE_HOURS, dry_run: bool = False,
            workers: int = 16) -> GcReport:
    """Delete unreferenced objects older than `grace_hours`; return what was found and done.

    Also brings the index for HTTPS readers up to date (not with `dry_run`).
    The listing and the ids every version references go to a temporary database on disk, and the
    versions are read shard by shard: memory does not grow with the remote's size (issue 13)."""
    with spill_db("listed(key TEXT, size INT, mtime REAL, reusable INT)", "ref(id TEXT PRIMARY KEY)") as db:
        # List objects before reading manifests: an object uploaded after this listing is never
        # considered, and one listed here that a newer manifest references is kept.
        # Partial writes of killed uploads (never referenced) are collected like orphans.
        db.executemany("INSERT INTO listed VALUES (?, ?, ?, 1)",
                       ((i.key, i.size, i.mtime) for i in remote.storage.list(OBJECTS)))
        db.executemany("INSERT INTO listed VALUES (?, ?, ?, 0)",
                       ((i.key, i.size, i.mtime) for i in remote.storage.leftovers()))
        for name, _ in remote.names().items():
            for version in remote.versions(name):
                db.executemany("INSERT OR IGNORE INTO ref VALUES (?)",
                               ((oid,) for oid in remote.referenced_ids(name, version)))
        total = db.execute("SELECT COUNT(*) FROM listed").fetchone()[0]
        cutoff = time.time() - grace_hours * 3600
        orphans = db.execute("SELECT key, size, mtime, reusable FROM listed WHERE substr(key, ?) NOT IN "
                             "(SELECT id FROM ref)", (len(OBJECTS) + 1,))
        found = recent = found_bytes = 0  # orphans old enough to delete; unreferenced but recent
        deleted: list[ObjectInfo] = []
        renewed: list[ObjectInfo] = []

        def delete(info: ObjectInfo, reusable: bool) -> None:
            if reusable:
                # A push that reuses this object renews its age before publishing a manifest that
                # names it (Storage.touch): look again, since the manifests were read a while ago.
                # (Leftovers, the partial writes of killed uploads, are never reused.)
                now = next((i for i in remote.storage.list(info.key) if i.key == info.key), None)
                if now is None:
                    return
                if now.mtime is not None and now.mtime > cutoff:
                    renewed.append(now)
                    return
            remote.storage.delete(info.key)
            deleted.append(info)

        deleted_count = deleted_bytes = 0
        for rows in batches(orphans, BATCH):
            todo = []
            for key, size, mtime, reusable in rows:
                if mtime is not None and mtime > cutoff:
                    recent += 1
                    continue
                found += 1
                found_bytes += size
                todo.append((ObjectInfo(key, size, mtime), bool(reusable)))
            if not dry_run:
                run_parallel([lambda o=o, r=r: delete(o, r) for o, r in todo], workers)
                deleted_count += len(deleted)
                deleted_bytes += sum(o.size for o in deleted)
                deleted.clear()
        referenced = total - found - recent
        if dry_run:
            return GcReport(total, referenced, found, found_bytes, recent)
    remote.write_index()  # maintenance: adds the index an older remote lacks (docs/format.md, Index)
    return GcReport(total, referenced, deleted_count, deleted_bytes, recent + len(renewed))


__all__ = ["collect", "GcReport", "DEFAULT_GRACE_HOURS", "DATASETS"]
