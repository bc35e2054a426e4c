"""`gs://bucket[/prefix]` remote: Google Cloud Storage (google-cloud-storage).

Credentials: `google_application_credentials` in the Config (a path to a service-account
JSON file, or the JSON itself), else Application Default Credentials.  With
STORAGE_EMULATOR_HOST set (tests, local emulators) the client talks to the emulator with
anonymous credentials and project `config.project or "test"`.  `public = true`: objects are
written with the `publicRead` predefined ACL (dropped, with one warning, on buckets with
uniform bucket-level access, where a bucket IAM policy decides), and a reader without any
credentials gets an anonymous client.

Conditional publish: `put_if_absent` uploads with `if_generation_match=0`, which GCS enforces
atomically (412 PreconditionFailed when the object exists).

Reads are ranged downloads of at most `BLOCK` bytes each, and writes over `UPLOAD_CHUNK` resumable
uploads in pieces of that size, so memory per worker stays bounded.
Retries: google-cloud-storage's default policy (429, 5xx, dropped connections) with
exponential backoff, bounded by `RETRY_SECONDS`; then a one-line `RemoteError` naming the
remote and what to check, never a secret.
"""

from __future__ import annotations

import io
import logging
import os
import time
from typing import Any, Callable, Iterator
from urllib.parse import urlparse

import google.auth.exceptions as gauth_exc
import requests
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs
from google.cloud.storage.retry import DEFAULT_RETRY

from ..errors import ConfigError, EtcError, NotFoundError, RemoteError
from .base import ObjectInfo, Source, Storage
from .cloud import WarnOnce, one_line, protect, show_endpoint

log = logging.getLogger("etcetera")

BLOCK = 8 << 20
UPLOAD_CHUNK = 2 << 20  # resumable-upload chunk: what one upload holds in memory (a multiple of 256 KiB)
RETRY_SECONDS = 20.0
TIMEOUT = (10, 60)  # connect, read
RETRY = DEFAULT_RETRY.with_timeout(RETRY_SECONDS) if hasattr(DEFAULT_RETRY, "with_timeout") \
    else DEFAULT_RETRY.with_deadline(RETRY_SECONDS)
_TRANSPORT_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError)


class GCSStorage(Storage):
    scheme = "gs"

    def __init__(self, url: str, config) -> None:
        super().__init__(url, config)
        parsed = urlparse(self.url)
        if not parsed.netloc or parsed.query or parsed.fragment:
            raise ConfigError(f"invalid GCS url {url!r}: use gs://bucket or gs://bucket/prefix")
        self.bucket_name = parsed.netloc
        prefix = parsed.path.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.emulator = os.environ.get("STORAGE_EMULATOR_HOST") or None
        self.endpoint = show_endpoint(self.emulator) or "storage.googleapis.com"
        self._acl: str | None = "publicRead" if config.public else None
        self._warn_once = WarnOnce()
        self.anonymous = False
        self.client = self._make_client()
        self.bucket = self.client.bucket(self.bucket_name)

    # ------------------------------------------------------------ client

    def _make_client(self) -> gcs.Client:
        cfg = self.config
        protect(cfg)
        creds = cfg.google_application_credentials
        info = cfg.service_account_info()
        try:
            if info is not None:
                client = gcs.Client.from_service_account_info(info, project=cfg.project or info.get("project_id"))
            elif creds:
                path = os.path.expanduser(str(creds))
                if not os.path.isfile(path):
                    raise ConfigError(
                        f"remote {self.url}: google_application_credentials file {path} does not exist: fix the path"
                    )
                client = gcs.Client.from_service_account_json(path, project=cfg.project)
            elif self.emulator:
                if cfg.public:
                    client = gcs.Client.create_anonymous_client()
                    self.anonymous = True
                else:
                    client = gcs.Client(project=cfg.project or "test", credentials=AnonymousCredentials())
            else:
                try:
                    client = gcs.Client(project=cfg.project)
                except gauth_exc.DefaultCredentialsError:
                    if not cfg.public:
                        raise
                    client = gcs.Client.create_anonymous_client()
                    self.anonymous = True
        except (ValueError, KeyError, gauth_exc.MalformedError) as exc:
            raise ConfigError(
                f"remote {self.url}: google_application_credentials is not a valid service-account key "
                f"({type(exc).__name__})"
            ) from None
        except gauth_exc.DefaultCredentialsError:
            raise RemoteError(
                f"cannot open {self.url}: no Google credentials found: set google_application_credentials "
                f"(service-account JSON) or run `gcloud auth application-default login`; "
                f"for a public dataset set public = true"
            ) from None
        except gauth_exc.GoogleAuthError as exc:
            raise self._error(exc, "open", "") from None
        self._size_pool(client)
        protect(cfg)
        return client

    def _size_pool(self, client: gcs.Client) -> None:
        """One HTTP connection per worker (requests' default pool keeps only 10)."""
        try:
            session = client._http  # the AuthorizedSession google-cloud-storage sends requests through
            size = self.config.worker_count + 4
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=size)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        except Exception:  # a private attribute: without it, requests still works, just with fewer connections
            log.debug("could not size the GCS connection pool")

    def _key(self, key: str) -> str:
        return self.prefix + key

    # ------------------------------------------------------------ errors

    def _error(self, exc: BaseException, action: str, key: str) -> EtcError:
        """One line naming the remote, what failed and what to check; never a secret."""
        where = f"{action} {key} on {self.url}" if key else f"{action} {self.url}"
        if isinstance(exc, gexc.RetryError):
            cause = exc.cause
            if cause is None or cause is exc:
                return RemoteError(f"cannot {where}: gave up after retrying for {RETRY_SECONDS:.0f} s: check the network")
            return self._error(cause, action, key)
        if isinstance(exc, gexc.NotFound):
            message = str(getattr(exc, "message", "") or "").lower()
            if not key or action in ("write", "list") or "bucket" in message:
                return RemoteError(f"cannot {where}: bucket {self.bucket_name} does not exist: create it or fix url")
            return NotFoundError(f"{key} not found on {self.url}")
        if isinstance(exc, (gexc.Forbidden, gexc.Unauthorized)):
            return RemoteError(
                f"cannot {where}: access denied (HTTP {exc.code}): check credentials "
                f"(google_application_credentials or Application Default Credentials) and the bucket's permissions"
            )
        if isinstance(exc, gauth_exc.RefreshError):
            return RemoteError(f"cannot {where}: Google credentials were refused or have expired: check credentials")
        if isinstance(exc, gauth_exc.DefaultCredentialsError):
            return RemoteError(f"cannot {where}: no Google credentials found: set google_application_credentials")
        if isinstance(exc, gauth_exc.TransportError):
            return RemoteError(f"cannot {where}: cannot reach the Google token service ({type(exc).__name__}): check the network")
        if isinstance(exc, _TRANSPORT_ERRORS):
            hint = "STORAGE_EMULATOR_HOST/network" if self.emulator else "network"
            return RemoteError(f"cannot {where}: cannot connect to {self.endpoint} ({type(exc).__name__}): check {hint}")
        if isinstance(exc, gexc.RequestRangeNotSatisfiable):
            return RemoteError(f"cannot {where}: requested bytes are beyond the end of the object (truncated?)")
        if isinstance(exc, (gexc.ServerError, gexc.TooManyRequests)):
            return RemoteError(f"cannot {where}: the server keeps failing (HTTP {exc.code}): try again later")
        if isinstance(exc, gexc.GoogleAPICallError):
            detail = one_line(str(getattr(exc, "message", "") or ""), 120)
            return RemoteError(f"cannot {where}: HTTP {exc.code}{': ' + detail if detail else ''}")
        return RemoteError(f"cannot {where}: {type(exc).__name__}")

    def _call(self, action: str, key: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if isinstance(exc, EtcError) or not _is_client_error(exc):
                raise
            raise self._error(exc, action, key) from None

    def _acl_refused(self, exc: BaseException) -> bool:
        """Whether the bucket refused a predefined ACL (uniform bucket-level access); then stop sending it."""
        if self._acl and isinstance(exc, gexc.BadRequest) and "uniform bucket-level access" in str(exc).lower():
            self._acl = None
            self._warn_once("acl", f"{self.url}: the bucket uses uniform bucket-level access, so objects are not "
                                   f"made public one by one; grant allUsers roles/storage.objectViewer on the bucket")
            return True
        return False

    # ------------------------------------------------------------ Storage

    def _write(self, key: str, upload: Callable[[str | None], Any]) -> None:
        """Run `upload(predefined_acl)`; if the bucket refuses per-object ACLs, once more without.
        PreconditionFailed passes through untouched for put_if_absent to interpret."""
        while True:
            try:
                upload(self._acl)
                return
            except Exception as exc:
                if self._acl_refused(exc):
                    continue
                if isinstance(exc, gexc.PreconditionFailed) or not _is_client_error(exc):
                    raise
                raise self._error(exc, "write", key) from None

    def put(self, key: str, source: Source) -> None:
        # Objects over UPLOAD_CHUNK go up as a resumable upload, read from the source one chunk at a
        # time (each chunk retried on its own).  Their size is not passed: with a size of up to
        # 8 MiB the client would send the object in one request, held whole (twice) in memory.
        blob = self.bucket.blob(self._key(key), chunk_size=UPLOAD_CHUNK)
        size = source.size if source.size <= UPLOAD_CHUNK else None

        def upload(acl: str | None) -> None:
            # BufferedReader.read(n) reads straight into the bytes it returns (RawIOBase.read copies once more).
            with io.BufferedReader(source.reader(), buffer_size=256 << 10) as fh:
                blob.upload_from_file(fh, size=size, predefined_acl=acl,
                                      content_type="application/octet-stream",
                                      checksum=None, retry=RETRY, timeout=TIMEOUT)

        self._write(key, upload)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        blob = self.bucket.blob(self._key(key))
        try:
            self._write(key, lambda acl: blob.upload_from_string(
                data, content_type="application/octet-stream", predefined_acl=acl,
                if_generation_match=0, checksum=None, retry=RETRY, timeout=TIMEOUT))
            return True
        except gexc.PreconditionFailed:
            # Also what a retried request sees after its first attempt succeeded: same bytes = ours.
            return self._holds(key, data)

    def _holds(self, key: str, data: bytes) -> bool:
        try:
            return self.get(key) == data
        except NotFoundError:
            return False

    def get(self, key: str) -> bytes:
        blob = self.bucket.blob(self._key(key))
        return self._call("read", key, blob.download_as_bytes, raw_download=True, checksum=None,
                          retry=RETRY, timeout=TIMEOUT)

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        if length is not None and length <= 0:
            return
        blob = self.bucket.blob(self._key(key))
        if length is None:
            self._call("read", key, blob.reload, retry=RETRY, timeout=TIMEOUT)
            end = blob.size or 0
        else:
            end = start + length
        pos = start
        while pos < end:
            want = min(BLOCK, end - pos)
            try:
                data = blob.download_as_bytes(start=pos, end=pos + want - 1, raw_download=True, checksum=None,
                                              retry=RETRY, timeout=TIMEOUT)
            except gexc.RequestRangeNotSatisfiable:
                return  # the object is shorter than asked: the caller sees the stream end early
            except Exception as exc:
                if not _is_client_error(exc):
                    raise
                raise self._error(exc, "read", key) from None
            if not data:
                return
            yield data
            pos += len(data)
            if len(data) < want:
                return

    def exists(self, key: str) -> bool:
        blob = self.bucket.blob(self._key(key))
        return bool(self._call("check", key, blob.exists, retry=RETRY, timeout=TIMEOUT))

    def touch(self, key: str) -> bool:
        # A metadata update renews `updated` (the time `list` reports) and keeps the bytes and the
        # object's ACL; a copy onto itself would give a public object the bucket's default ACL.
        blob = self.bucket.blob(self._key(key))
        blob.metadata = {"etcetera-touched": str(int(time.time()))}
        try:
            self._call("touch", key, blob.patch, retry=RETRY, timeout=TIMEOUT)
            return True
        except NotFoundError:
            return False

    def _blobs(self, prefix: str, delimiter: str | None) -> Iterator[ObjectInfo]:
        skip = len(self.prefix)
        try:
            for blob in self.client.list_blobs(self.bucket_name, prefix=self.prefix + prefix, delimiter=delimiter,
                                               retry=RETRY, timeout=TIMEOUT):
                updated = blob.updated
                yield ObjectInfo(blob.name[skip:], int(blob.size or 0), updated.timestamp() if updated else None)
        except Exception as exc:
            if isinstance(exc, EtcError) or not _is_client_error(exc):
                raise
            raise self._error(exc, "list", "") from None

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self._blobs(prefix, None)

    def list_top_level(self) -> Iterator[ObjectInfo]:
        """Objects directly under the root (not in any sub-folder)."""
        return self._blobs("", "/")

    def delete(self, key: str) -> None:
        blob = self.bucket.blob(self._key(key))
        try:
            blob.delete(retry=RETRY, timeout=TIMEOUT)
        except gexc.NotFound as exc:
            if "bucket" in str(getattr(exc, "message", "")).lower():
                raise self._error(exc, "delete", "") from None
        except Exception as exc:
            if not _is_client_error(exc):
                raise
            raise self._error(exc, "delete", key) from None

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass


def _is_client_error(exc: BaseException) -> bool:
    """Errors raised by the Google/HTTP client stack (as opposed to bugs or local I/O errors)."""
    if isinstance(exc, (gexc.GoogleAPIError, gauth_exc.GoogleAuthError) + _TRANSPORT_ERRORS):
        return True
    return type(exc).__module__.split(".")[0] in ("google", "requests", "urllib3")
