"""The remote format on top of a Storage: versions, manifests and objects (docs/format.md)."""

from __future__ import annotations

from .errors import ConflictError, NotFoundError
from .manifest import Manifest
from .names import NAME_RE
from .storage import Storage

DATASETS = "datasets/"
OBJECTS = "objects/"


def object_key(obj: str) -> str:
    return f"{OBJECTS}{obj}"


def manifest_key(name: str, version: int) -> str:
    return f"{DATASETS}{name}/{version:010d}.json.gz"


class Remote:
    """Reads and publishes versions of datasets on one storage root."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.url = storage.url

    def versions(self, name: str) -> list[int]:
        """Published versions of `name`, newest first."""
        found = []
        for info in self.storage.list(f"{DATASETS}{name}/"):
            stem = info.key.rsplit("/", 1)[-1]
            if stem.endswith(".json.gz") and stem[:-8].isdigit() and info.key.count("/") == 2:
                found.append(int(stem[:-8]))
        return sorted(found, reverse=True)

    def latest(self, name: str) -> int | None:
        versions = self.versions(name)
        return versions[0] if versions else None

    def names(self) -> dict[str, int]:
        """Every dataset with its latest version."""
        latest: dict[str, int] = {}
        for info in self.storage.list(DATASETS):
            parts = info.key.split("/")
            if len(parts) != 3 or not parts[2].endswith(".json.gz") or not parts[2][:-8].isdigit():
                continue
            if NAME_RE.fullmatch(parts[1]):
                latest[parts[1]] = max(latest.get(parts[1], 0), int(parts[2][:-8]))
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
