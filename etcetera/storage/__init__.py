"""Storage backends, registered by URL scheme; a backend's dependencies load only when used."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .base import BytesSource, FileRangesSource, ObjectInfo, Source, Storage

if TYPE_CHECKING:
    from ..config import Config

# scheme -> (module, class, pip extra)
BACKENDS: dict[str, tuple[str, str, str | None]] = {
    "file": ("etcetera.storage.file", "FileStorage", None),
    "s3": ("etcetera.storage.s3", "S3Storage", "s3"),
    "gs": ("etcetera.storage.gcs", "GCSStorage", "gcs"),
    "az": ("etcetera.storage.azure", "AzureStorage", "azure"),
    "https": ("etcetera.storage.http", "HTTPStorage", None),  # read-only mirrors, no SDK needed
    "http": ("etcetera.storage.http", "HTTPStorage", None),
}


def open_storage(config: "Config") -> Storage:
    """The Storage for `config.url`; a clear error when no url is set or the scheme is unknown."""
    url = config.url
    if not url:
        raise ConfigError(
            "no remote configured: add url = \"file:///path\" (or s3://bucket, gs://bucket) "
            "to ~/.etc.toml, or pass Config(url) in code"
        )
    scheme = url.split("://", 1)[0].lower()
    if scheme not in BACKENDS:
        raise ConfigError(f"unsupported remote {url!r}: use file://, s3://, gs://, az:// or (read-only) https://")
    module_name, class_name, extra = BACKENDS[scheme]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f"pip install 'etcetera[{extra}]'" if extra else "reinstall etcetera"
        raise ConfigError(f"remote {url} needs {exc.name or 'a missing package'}: {hint}") from None
    return getattr(module, class_name)(url, config)


__all__ = ["BytesSource", "FileRangesSource", "ObjectInfo", "Source", "Storage", "open_storage"]
