"""The remote format on top of a Storage: versions, manifests and objects (docs/format.md)."""

from __future__ import annotations

import logging
from typing import Iterator

from .errors import ConflictError, NotFoundError
from .manifest import Manifest
from .names import NAME_RE, parse_version
from .storage import ObjectInfo, Source, Storage

log = logging.getLogger("etcetera")

DATASETS = "datasets/"
OBJECTS = "objects/"


def object_key(obj: str) -> str:
    return f"{OBJECTS}{obj}"


def manifest_key(name: str, version: int) -> str:
    return f"{DATASETS}{name}/{version:010d}.json.gz"


def parse_manifest_key(key: str) -> tuple[str, int] | None:
    """(name, version) for a key `datasets/<name>/<version>.json.gz`, else None.  Anything else
    under datasets/ (a stray upload, '²³.json.gz') is ignored, never fatal, and shown with -v."""
    parts = key.split("/")
    if len(parts) == 3 and parts[0] == DATASETS[:-1] and parts[2].endswith(".json.gz") \
            and NAME_RE.fullmatch(parts[1]):
        version = parse_version(parts[2][:-8])
        if version is not None:
            return parts[1], version
    log.debug("ignoring %s on the remote: not a dataset version's manifest", key)
    return None


class Under(Storage):
    """The keys of a Storage below `prefix`, as a Storage of their own: `Remote.objects` hands the
    transfer engine the objects by their ids, so it need not know the remote's key layout."""

    def __init__(self, base: Storage, prefix: str) -> None:
        super().__init__(base.url, base.config)  # messages name the remote itself
        self.base, self.prefix = base, prefix

    def put(self, key: str, source: Source) -> None:
        self.base.put(self.prefix + key, source)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        return self.base.put_if_absent(self.prefix + key, data)

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        return self.base.read(self.prefix + key, start, length)

    def get(self, key: str) -> bytes:
        return self.base.get(self.prefix + key)

    def exists(self, key: str) -> bool:
        return self.base.exists(self.prefix + key)

    def touch(self, key: str) -> bool:
        return self.base.touch(self.prefix + key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        skip = len(self.prefix)
        return (ObjectInfo(i.key[skip:], i.size, i.mtime) for i in self.base.list(self.prefix + prefix))

    def delete(self, key: str) -> None:
        self.base.delete(self.prefix + key)


class Remote:
    """Reads and publishes versions of datasets on one storage root."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.url = storage.url
        self.objects: Storage = Under(storage, OBJECTS)  # keyed by object id, for the transfer engine

    def versions(self, name: str) -> list[int]:
        """Published versions of `name`, newest first."""
        found = []
        for info in self.storage.list(f"{DATASETS}{name}/"):
            parsed = parse_manifest_key(info.key)
            if parsed is not None and parsed[0] == name:
                found.append(parsed[1])
        return sorted(found, reverse=True)

    def latest(self, name: str) -> int | None:
        versions = self.versions(name)
        return versions[0] if versions else None

    def names(self) -> dict[str, int]:
        """Every dataset with its latest version."""
        latest: dict[str, int] = {}
        for info in self.storage.list(DATASETS):
            parsed = parse_manifest_key(info.key)
            if parsed is not None:
                latest[parsed[0]] = max(latest.get(parsed[0], 0), parsed[1])
        return dict(sorted(latest.items()))

    def manifest(self, name: str, version: int) -> Manifest:
        key = manifest_key(name, version)
        try:
            raw = self.storage.get(key)
        except NotFoundError:
            raise NotFoundError(f"{name}@{version} does not exist on {self.url}: `etc versions {name}` lists them") from None
        manifest = Manifest.from_bytes(raw, f"{name}@{version} on {self.url}")
        if manifest.name != name or manifest.version != version:
            raise NotFoundError(f"manifest {key} on {self.url} describes {manifest.name}@{manifest.version}, not {name}@{version}")
        return manifest

    def publish(self, manifest: Manifest, raw: bytes | None = None) -> None:
        """Make a version exist, atomically and only if nobody took that number first.
        `raw` is `manifest.to_bytes()` when the caller already has it."""
        raw = manifest.to_bytes() if raw is None else raw
        if not self.storage.put_if_absent(manifest_key(manifest.name, manifest.version), raw):
            raise ConflictError(
                f"{manifest.name}@{manifest.version} was published by someone else meanwhile on {self.url}: "
                f"pull it and push again, or push -f to publish yours as a newer version"
            )
