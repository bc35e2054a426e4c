"""Garbage collection: delete objects that no published version references.

Objects become orphans when a push is interrupted (or loses a publish race) after uploading.
They are harmless (invisible, and reused by the next push of the same content), but they cost
storage.  Only orphans older than a grace period are deleted, so a push in progress elsewhere,
whose manifest does not exist yet, never loses its objects.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .remote import DATASETS, OBJECTS, Remote
from .storage import ObjectInfo
from .transfer import run_parallel

DEFAULT_GRACE_HOURS = 24.0


@dataclass
class GcReport:
    objects: int
    referenced: int
    deleted: int
    deleted_bytes: int
    kept_recent: int


def collect(remote: Remote, grace_hours: float = DEFAULT_GRACE_HOURS, dry_run: bool = False,
            workers: int = 16) -> GcReport:
    """Delete unreferenced objects older than `grace_hours`; return what was found and done.
    Also brings the index for HTTPS readers up to date (not with `dry_run`)."""
    # List objects before reading manifests: an object uploaded after this listing is never
    # considered, and one listed here that a newer manifest references is kept.
    # Partial writes of killed uploads (never referenced) are collected like orphans.
    listed = list(remote.storage.list(OBJECTS))
    objects = [*listed, *remote.storage.leftovers()]
    referenced: set[str] = set()
    for name, _ in remote.names().items():
        for version in remote.versions(name):
            referenced.update(remote.referenced(name, version))
    cutoff = time.time() - grace_hours * 3600
    orphans, recent = [], 0
    for info in objects:
        oid = info.key[len(OBJECTS):]
        if oid in referenced:
            continue
        if info.mtime is not None and info.mtime > cutoff:
            recent += 1
            continue
        orphans.append(info)
    if dry_run:
        return GcReport(len(objects), len(objects) - len(orphans) - recent, len(orphans),
                        sum(o.size for o in orphans), recent)
    deleted: list[ObjectInfo] = []
    renewed: list[ObjectInfo] = []
    reusable = {o.key for o in listed}

    def delete(info: ObjectInfo) -> None:
        if info.key in reusable:
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

    run_parallel([lambda o=o: delete(o) for o in orphans], workers)
    remote.write_index()  # maintenance: adds the index an older remote lacks (docs/format.md, Index)
    return GcReport(len(objects), len(objects) - len(orphans) - recent, len(deleted),
                    sum(o.size for o in deleted), recent + len(renewed))


__all__ = ["collect", "GcReport", "DEFAULT_GRACE_HOURS", "DATASETS"]
