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
    """Delete unreferenced objects older than `grace_hours`; return what was found and done."""
    # List objects before reading manifests: an object uploaded after this listing is never
    # considered, and one listed here that a newer manifest references is kept.
    # Partial writes of killed uploads (never referenced) are collected like orphans.
    objects = [*remote.storage.list(OBJECTS), *remote.storage.leftovers()]
    referenced: set[str] = set()
    for name, _ in remote.names().items():
        for version in remote.versions(name):
            referenced.update(remote.manifest(name, version).objects)
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
    if not dry_run:
        run_parallel([lambda k=o.key: remote.storage.delete(k) for o in orphans], workers)
    return GcReport(len(objects), len(objects) - len(orphans) - recent, len(orphans),
                    sum(o.size for o in orphans), recent)


__all__ = ["collect", "GcReport", "DEFAULT_GRACE_HOURS", "DATASETS"]
