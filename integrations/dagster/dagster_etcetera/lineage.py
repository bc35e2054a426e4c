"""What Dagster records about a published dataset: its `etc://` URI, a data version derived from
its content, and the small handle a downstream asset gets to read it without pulling."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import IO, Any

import etcetera

__all__ = ["RemoteDataset", "content_version", "dataset_uri"]


dataset_uri = etcetera.dataset_uri  # etc://<scheme>/<bucket-or-path>/<name>, one rule for every plugin


def content_version(repo: etcetera.Repository, name: str, version: int) -> str:
    """A digest of what `name@version` holds (each file's path, content hash and mode), so the same
    content gives the same Dagster data version whatever version number or run published it."""
    digest = hashlib.sha256()
    for entry in sorted(repo.remote.manifest(name, version).files, key=lambda f: f.path):
        digest.update(f"{entry.path}\0{entry.sha256}\0{int(entry.executable)}\n".encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class RemoteDataset:
    """A published version handed to a downstream asset without pulling it: read its files with
    `open`, or give `url(path)` and `storage_options` to anything fsspec-aware (pandas, Dask)."""

    name: str
    version: int
    config: etcetera.Config = field(repr=False)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def storage_options(self) -> dict[str, Any]:
        """fsspec options that reach the remote: `pandas.read_csv(ds.url(p), storage_options=...)`."""
        return {"config": self.config}

    def url(self, path: str = "") -> str:
        """etc://name@version/path, readable with `storage_options`."""
        return f"etc://{self.ref}/{path.lstrip('/')}"

    def open(self, path: str, mode: str = "rb") -> IO:
        """One file of this version, streamed and verified as it is read."""
        return etcetera.open(self.ref, path, mode, config=self.config)

    def filesystem(self) -> Any:
        """An `etcetera.fs.EtcFileSystem` on the remote (ls, glob, open on `url(...)` paths)."""
        from etcetera.fs import EtcFileSystem

        return EtcFileSystem(config=self.config)
