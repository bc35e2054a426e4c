"""`az://container[/prefix]` remote: Azure Blob Storage (azure-storage-blob).

Credentials, first that is set: `azure_connection_string`; `azure_account_key` (with
`azure_account_name`, or an `azure_account_url` that names the account); `azure_sas_token`;
else `DefaultAzureCredential` (azure-identity: environment, workload or managed identity, `az
login`), imported only then.  The endpoint is `azure_account_url` (emulators such as Azurite,
sovereign clouds), else `https://<azure_account_name>.blob.core.windows.net`.  `public = true`
with no key, token or connection string (and no identity in the environment) reads anonymously;
Azure has no per-object ACL, so a public dataset needs a container whose public access level is "container"
(anonymous reads of its blobs and listing: etcetera lists versions).

Conditional publish: `put_if_absent` uploads with `If-None-Match: *` (`overwrite=False`), which
Azure and Azurite enforce atomically (409 BlobAlreadyExists, or 412, when the blob exists).

Writes over `BLOCK` bytes are staged as blocks of `BLOCK` bytes read from the source one at a
time and committed with one block list (so never half visible); reads are ranged downloads in
pieces of `BLOCK`.  Memory per worker stays about one block.

Retries: azure-core's pipeline with `_GiveUp`, the storage SDK's exponential retry (429, 5xx,
refused, dropped and timed-out connections) bounded by `config.give_up` seconds per request,
with per-request timeouts to match.  What is still failing then becomes a `TransientError`; a
body that keeps breaking off a `CutOffError`; anything else a one-line `RemoteError`.  Each
names the remote and what to check, never a secret.
"""

from __future__ import annotations

import io
import logging
import os
import random
import time
from typing import Any, Iterator
from urllib.parse import urlparse

import requests
from azure.core.credentials import AzureSasCredential
from azure.core.exceptions import (AzureError, ClientAuthenticationError, DecodeError, HttpResponseError,
                                   IncompleteReadError, ResourceExistsError, ResourceModifiedError,
                                   ResourceNotFoundError, ServiceRequestError, ServiceResponseError)
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import BlobPrefix, BlobServiceClient, ExponentialRetry

from ..errors import ConfigError, CutOffError, EtcError, NotFoundError, RemoteError, TransientError
from .base import ObjectInfo, Source, Storage
from .cloud import WarnOnce, one_line, protect, request_timeouts, show_endpoint

log = logging.getLogger("etcetera")

BLOCK = 4 << 20  # one upload block / one download piece: what one transfer holds in memory
MAX_RETRIES = 50  # a backstop only: the give-up budget ends retries long before
_IDENTITY_ENV = ("AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "MSI_ENDPOINT")


class _RetriedIsDebug(logging.Filter):
    """azure-core warns "Incomplete download." when a body breaks off, which is then retried (by the
    SDK, else by the transfer engine): debug information, not a warning for the user.  The record is
    demoted to DEBUG and shown only where DEBUG is enabled."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and str(record.msg).endswith("download."):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


logging.getLogger("azure.core.pipeline.transport._requests_basic").addFilter(_RetriedIsDebug())


class _GiveUp(ExponentialRetry):
    """The storage SDK's retry conditions, bounded by time instead of a count: a request is not
    retried once another attempt (as long as the last one, or a whole connect timeout) could not
    end within `budget` seconds of its start; the jittered backoff is shortened to fit."""

    def __init__(self, budget: float) -> None:
        super().__init__(initial_backoff=0.25, increment_base=2, random_jitter_range=0, retry_total=MAX_RETRIES,
                         retry_connect=MAX_RETRIES, retry_read=MAX_RETRIES, retry_status=MAX_RETRIES)
        self.budget = budget
        self.connect_timeout = request_timeouts(budget)[0]
        self._opened: float | None = time.monotonic()  # building the client is part of the first request

    def configure_retries(self, request: Any) -> dict[str, Any]:
        settings = super().configure_retries(request)
        now, opened, self._opened = time.monotonic(), self._opened, None
        started = opened if opened is not None and now - opened < self.budget / 4 else now
        settings["etc_started"], settings["etc_attempt"] = started, now
        return settings

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        return settings.get("etc_delay", 0.0)

    def increment(self, settings: dict[str, Any], request: Any, response: Any = None, error: Any = None) -> bool:
        now = time.monotonic()
        last_attempt = now - settings["etc_attempt"]
        left = settings["etc_started"] + self.budget - max(last_attempt, self.connect_timeout) - now
        if left <= 0 or not super().increment(settings, request, response=response, error=error):
            return False
        wanted = min(self.budget / 4, 0.25 * 2 ** (settings["count"] - 1)) * random.uniform(0.5, 1.0)
        settings["etc_delay"] = delay = min(wanted, left)
        settings["etc_attempt"] = now + delay
        return True


class AzureStorage(Storage):
    scheme = "az"

    def __init__(self, url: str, config) -> None:
        super().__init__(url, config)
        parsed = urlparse(self.url)
        if not parsed.netloc or parsed.query or parsed.fragment or parsed.username or parsed.port:
            raise ConfigError(f"invalid Azure url {url!r}: use az://container or az://container/prefix")
        self.container_name = parsed.netloc
        prefix = parsed.path.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.anonymous = False
        self._warn_once = WarnOnce()
        self._public_checked = False
        self.endpoint = "the Azure endpoint"
        self.client = self._make_client()
        self.endpoint = show_endpoint(self.client.url).rstrip("/") or self.endpoint
        self.container = self.client.get_container_client(self.container_name)

    # ------------------------------------------------------------ client

    def _options(self) -> dict[str, Any]:
        cfg = self.config
        connect, read = request_timeouts(cfg.give_up)
        session = requests.Session()
        # One HTTP connection per worker (requests' default pool keeps only 10).
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=cfg.worker_count + 4)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        transport = RequestsTransport(session=session, session_owner=True, connection_timeout=connect,
                                      read_timeout=read)
        return dict(transport=transport, retry_policy=_GiveUp(cfg.give_up), connection_timeout=connect,
                    read_timeout=read, max_single_put_size=BLOCK, max_block_size=BLOCK,
                    min_large_block_upload_threshold=BLOCK, max_single_get_size=BLOCK,
                    max_chunk_get_size=BLOCK)

    def _account_url(self) -> str:
        cfg = self.config
        if cfg.azure_account_url:
            return cfg.azure_account_url.rstrip("/")
        if cfg.azure_account_name:
            return f"https://{cfg.azure_account_name}.blob.core.windows.net"
        raise ConfigError(f"remote {self.url}: set azure_account_name (or azure_account_url, or "
                          f"azure_connection_string) to say which storage account holds the container")

    def _credential(self) -> Any:
        """What the client signs with: a shared key, a SAS, an identity, or None (anonymous)."""
        cfg = self.config
        if cfg.azure_account_key:
            if cfg.azure_account_name:
                return {"account_name": cfg.azure_account_name, "account_key": cfg.azure_account_key}
            return cfg.azure_account_key  # the SDK reads the account name from azure_account_url
        if cfg.azure_sas_token:
            return AzureSasCredential(cfg.azure_sas_token.lstrip("?"))
        if cfg.public and not any(os.environ.get(name) for name in _IDENTITY_ENV):
            self.anonymous = True
            return None
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError:
            raise ConfigError(f"remote {self.url} without azure_account_key, azure_sas_token or "
                              f"azure_connection_string needs azure-identity: pip install 'etcetera[azure]'") from None
        return DefaultAzureCredential()

    def _make_client(self) -> BlobServiceClient:
        cfg = self.config
        protect(cfg)
        options = self._options()
        try:
            if cfg.azure_connection_string:
                client = BlobServiceClient.from_connection_string(cfg.azure_connection_string, **options)
            else:
                client = BlobServiceClient(self._account_url(), credential=self._credential(), **options)
        except ValueError:
            raise ConfigError(f"remote {self.url}: invalid Azure settings: check azure_account_url and "
                              f"azure_connection_string, and give azure_account_name with azure_account_key") from None
        protect(cfg)  # azure modules imported while building the client now have loggers too
        return client

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _blob(self, key: str) -> Any:
        return self.container.get_blob_client(self._key(key))

    # ------------------------------------------------------------ errors

    def _error(self, exc: BaseException, action: str, key: str) -> EtcError:
        """One line naming the remote, what failed and what to check; never a secret."""
        where = f"{action} {key} on {self.url}" if key else f"{action} {self.url}"
        budget = f"{self.config.give_up:g} s"
        code = _code(exc)
        status = getattr(exc, "status_code", None)
        if code == "ContainerNotFound" or (isinstance(exc, ResourceNotFoundError) and (not key or action in ("write", "list"))):
            return RemoteError(f"cannot {where}: container {self.container_name} does not exist at {self.endpoint}: "
                               f"create it or fix url")
        if isinstance(exc, ResourceNotFoundError):
            return NotFoundError(f"{key} not found on {self.url}")
        if isinstance(exc, ClientAuthenticationError) and status is None:  # an identity that found no credential
            return RemoteError(f"cannot {where}: no Azure credentials found ({type(exc).__name__}): set azure_account_key, "
                               f"azure_sas_token or azure_connection_string, or sign in (az login, managed identity); "
                               f"for a public dataset set public = true")
        if self.anonymous and (isinstance(exc, ClientAuthenticationError) or status in (401, 403)):
            return RemoteError(f"cannot {where}: access denied to an anonymous reader ({code or status}): the container "
                               f"is not public: give credentials (azure_account_key, azure_sas_token or "
                               f"azure_connection_string) or ask its owner for public access level 'container'")
        if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
            return RemoteError(f"cannot {where}: access denied ({code or status}): check credentials "
                               f"(azure_account_key, azure_sas_token or azure_connection_string) and the container's "
                               f"permissions")
        if status == 416 or code == "InvalidRange":
            return RemoteError(f"cannot {where}: requested bytes are beyond the end of the object (truncated?)")
        if isinstance(exc, ServiceRequestError):
            return TransientError(f"cannot {where}: cannot connect to {self.endpoint} ({type(exc).__name__}) "
                                  f"for {budget}: check azure_account_url/network")
        if isinstance(exc, (ServiceResponseError, IncompleteReadError, DecodeError)) or (
                isinstance(exc, HttpResponseError) and status is None):
            return TransientError(f"cannot {where}: the connection to {self.endpoint} kept dropping "
                                  f"({type(exc).__name__}) for {budget}: check the network")
        if status is not None and (status >= 500 or status in (408, 429)):
            return TransientError(f"cannot {where}: {self.endpoint} kept failing ({code or status}) for {budget}: "
                                  f"try again later (or raise give_up_seconds)")
        if isinstance(exc, HttpResponseError):
            reason = one_line(str(getattr(exc, "reason", "") or ""), 120)
            return RemoteError(f"cannot {where}: {code or status}{': ' + reason if reason else ''}")
        return RemoteError(f"cannot {where}: {type(exc).__name__}")

    # ------------------------------------------------------------ Storage

    def _check_public(self) -> None:
        """With `public = true`, warn once if the container does not let anyone read and list it (Azure
        has no per-object public access, so a push cannot make its objects public one by one)."""
        if not self.config.public or self.anonymous or self._public_checked:
            return
        self._public_checked = True
        try:
            level = self.container.get_container_properties().public_access
        except AzureError:  # e.g. a SAS without that permission: nothing to tell
            return
        if level != "container":
            self._warn_once("public", f"{self.url}: the container is not public (access level {level or 'private'}), "
                                      f"so anonymous readers cannot pull: set its public access level to 'container'")

    def put(self, key: str, source: Source) -> None:
        self._check_public()
        try:
            # BufferedReader.read(n) reads straight into the bytes it returns (RawIOBase.read copies once more).
            with io.BufferedReader(source.reader(), buffer_size=256 << 10) as body:
                self._blob(key).upload_blob(body, length=source.size, overwrite=True, max_concurrency=1)
        except AzureError as exc:
            raise self._error(exc, "write", key) from None

    def put_if_absent(self, key: str, data: bytes) -> bool:
        self._check_public()
        try:
            self._blob(key).upload_blob(data, length=len(data), overwrite=False, max_concurrency=1)
            return True
        except (ResourceExistsError, ResourceModifiedError):
            # Also what a retried request sees after its first attempt succeeded: same bytes = ours.
            return self._holds(key, data)
        except AzureError as exc:
            if getattr(exc, "status_code", None) in (409, 412):
                return self._holds(key, data)
            raise self._error(exc, "write", key) from None

    def _holds(self, key: str, data: bytes) -> bool:
        try:
            return self.get(key) == data
        except NotFoundError:
            return False

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        if length is not None and length <= 0:
            return
        try:
            download = self._blob(key).download_blob(offset=start or None if length is None else start,
                                                     length=length, max_concurrency=1)
        except HttpResponseError as exc:
            if getattr(exc, "status_code", None) == 416:
                return  # the range starts past the end: no bytes, like a short file (the caller checks sizes)
            raise self._error(exc, "read", key) from None
        except AzureError as exc:
            raise self._error(exc, "read", key) from None
        try:
            yield from download.chunks()
        except HttpResponseError as exc:
            status = getattr(exc, "status_code", None)
            if status is None or isinstance(exc, (IncompleteReadError, DecodeError)):
                raise self._cut_off(exc, key) from None
            raise self._error(exc, "read", key) from None
        except (ServiceResponseError, IncompleteReadError, DecodeError, requests.exceptions.RequestException,
                OSError) as exc:
            raise self._cut_off(exc, key) from None
        except AzureError as exc:
            raise self._error(exc, "read", key) from None

    def _cut_off(self, exc: BaseException, key: str) -> CutOffError:
        # The SDK retries a broken body a few times itself; still broken: the engine reads the range again.
        return CutOffError(f"cannot read {key} on {self.url}: the connection to {self.endpoint} dropped "
                           f"mid-transfer ({type(exc).__name__}): check the network")

    def exists(self, key: str) -> bool:
        try:
            return bool(self._blob(key).exists())
        except AzureError as exc:
            raise self._error(exc, "check", key) from None

    def touch(self, key: str) -> bool:
        # Setting metadata renews Last-Modified (what `list` reports) and keeps the bytes.
        try:
            self._blob(key).set_blob_metadata({"etcetera_touched": str(int(time.time()))})
            return True
        except ResourceNotFoundError as exc:
            if _code(exc) == "ContainerNotFound":
                raise self._error(exc, "touch", "") from None
            return False
        except AzureError as exc:
            raise self._error(exc, "touch", key) from None

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        skip = len(self.prefix)
        try:
            for blob in self.container.list_blobs(name_starts_with=self.prefix + prefix, results_per_page=5000):
                modified = blob.last_modified
                yield ObjectInfo(blob.name[skip:], int(blob.size or 0), modified.timestamp() if modified else None)
        except AzureError as exc:
            raise self._error(exc, "list", "") from None

    def list_top_level(self) -> Iterator[ObjectInfo]:
        """Objects directly under the root (not in any sub-folder): one request per 5000 names."""
        skip = len(self.prefix)
        try:
            for item in self.container.walk_blobs(name_starts_with=self.prefix or None, delimiter="/"):
                if isinstance(item, BlobPrefix):
                    continue
                modified = item.last_modified
                yield ObjectInfo(item.name[skip:], int(item.size or 0), modified.timestamp() if modified else None)
        except AzureError as exc:
            raise self._error(exc, "list", "") from None

    def delete(self, key: str) -> None:
        try:
            self._blob(key).delete_blob()
        except ResourceNotFoundError as exc:
            if _code(exc) == "ContainerNotFound":
                raise self._error(exc, "delete", "") from None
        except AzureError as exc:
            raise self._error(exc, "delete", key) from None

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass


def _code(exc: BaseException) -> str:
    """The storage error code of an SDK exception ("ContainerNotFound"), or ""."""
    code = getattr(exc, "error_code", None) or ""
    return str(getattr(code, "value", code))
