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
Retries: google-cloud-storage's default policy (429, 5xx, refused, dropped and timed-out
connections) with jittered exponential backoff, bounded by `config.give_up` seconds per call
(`self.retry`, with per-request timeouts to match: `self.timeout`).  What is still failing then
becomes a `TransientError`, anything else a one-line `RemoteError`; each names the remote and
what to check, never a secret.
"""

from __future__ import annotations

import http.client
import io
import logging
import os
import time
from typing import Any, Callable, Iterator
from urllib.parse import urlparse

import google.auth.exceptions as gauth_exc
import requests
import urllib3.exceptions
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs
from google.cloud.storage.retry import DEFAULT_RETRY

from ..config import DEFAULT_GIVE_UP_SECONDS
from ..errors import ConfigError, EtcError, NotFoundError, RemoteError, TransientError
from .base import ObjectInfo, Source, Storage
from .cloud import WarnOnce, one_line, protect, request_timeouts, show_endpoint

log = logging.getLogger("etcetera")

BLOCK = 8 << 20
UPLOAD_CHUNK = 2 << 20  # resumable-upload chunk: what one upload holds in memory (a multiple of 256 KiB)


def retry_policy(budget: float) -> Any:
    """google-cloud-storage's default retry, bounded so that a call ends within `budget` seconds:
    no retry starts unless it could still connect (`request_timeouts`) within the budget."""
    window = budget - request_timeouts(budget)[0]
    retry = DEFAULT_RETRY.with_delay(initial=min(0.25, window / 8), maximum=window / 4, multiplier=2.0)
    return retry.with_timeout(window) if hasattr(retry, "with_timeout") else retry.with_deadline(window)


# For the default budget; a storage uses its config's (`self.retry`, `self.timeout`).
RETRY = retry_policy(DEFAULT_GIVE_UP_SECONDS)
TIMEOUT = request_timeouts(DEFAULT_GIVE_UP_SECONDS)  # connect, read
_TRANSPORT_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                     requests.exceptions.ChunkedEncodingError, urllib3.exceptions.HTTPError,
                     http.client.HTTPException, ConnectionError, TimeoutError)


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
        self.retry = retry_policy(config.give_up)
        self.timeout = request_timeouts(config.give_up)
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
        budget = f"{self.config.give_up:g} s"
        if isinstance(exc, gexc.RetryError):
            cause = exc.cause
            if cause is None or cause is exc:
                return TransientError(f"cannot {where}: {self.endpoint} kept failing for {budget}: check the network")
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
            return TransientError(f"cannot {where}: cannot reach the Google token service ({type(exc).__name__}) "
                                  f"for {budget}: check the network")
        if isinstance(exc, _TRANSPORT_ERRORS):
            hint = "STORAGE_EMULATOR_HOST/network" if self.emulator else "network"
            return TransientError(f"cannot {where}: cannot connect to {self.endpoint} ({type(exc).__name__}) "
                                  f"for {budget}: check {hint}")
        if isinstance(exc, gexc.RequestRangeNotSatisfiable):
            return RemoteError(f"cannot {where}: requested bytes are beyond the end of the object (truncated?)")
        if isinstance(exc, (gexc.ServerError, gexc.TooManyRequests)):
            return TransientError(f"cannot {where}: {self.endpoint} kept failing (HTTP {exc.code}) for {budget}: "
                                  f"try again later (or raise give_up_seconds)")
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
                                      checksum=None, retry=self.retry, timeout=self.timeout)

        self._write(key, upload)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        blob = self.bucket.blob(self._key(key))
        try:
            self._write(key, lambda acl: blob.upload_from_string(
                data, content_type="application/octet-stream", predefined_acl=acl,
                if_generation_match=0, checksum=None, retry=self.retry, timeout=self.timeout))
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
                          retry=self.retry, timeout=self.timeout)

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        if length is not None and length <= 0:
            return
        blob = self.bucket.blob(self._key(key))
        if length is None:
            self._call("read", key, blob.reload, retry=self.retry, timeout=self.timeout)
            end = blob.size or 0
        else:
            end = start + length
        pos = start
        while pos < end:
            want = min(BLOCK, end - pos)
            try:
                data = blob.download_as_bytes(start=pos, end=pos + want - 1, raw_download=True, checksum=None,
                                              retry=self.retry, timeout=self.timeout)
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
        return bool(self._call("check", key, blob.exists, retry=self.retry, timeout=self.timeout))

    def touch(self, key: str) -> bool:
        # A metadata update renews `updated` (the time `list` reports) and keeps the bytes and the
        # object's ACL; a copy onto itself would give a public object the bucket's default ACL.
        blob = self.bucket.blob(self._key(key))
        blob.metadata = {"etcetera-touched": str(int(time.time()))}
        try:
            self._call("touch", key, blob.patch, retry=self.retry, timeout=self.timeout)
            return True
        except NotFoundError:
            return False

    def _blobs(self, prefix: str, delimiter: str | None) -> Iterator[ObjectInfo]:
        skip = len(self.prefix)
        try:
            for blob in self.client.list_blobs(self.bucket_name, prefix=self.prefix + prefix, delimiter=delimiter,
                                               retry=self.retry, timeout=self.timeout):
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
            blob.delete(retry=self.retry, timeout=self.timeout)
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


def _client_error_types() -> tuple[type[BaseException], ...]:
    """What the Google/HTTP client stack raises (as opposed to bugs or local I/O errors)."""
    types: list[type[BaseException]] = [gexc.GoogleAPIError, gauth_exc.GoogleAuthError,
                                        requests.exceptions.RequestException, *_TRANSPORT_ERRORS]
    try:  # a bad or cut response to a (resumable) upload or a download
        from google.cloud.storage.exceptions import DataCorruption, InvalidResponse
        types += [DataCorruption, InvalidResponse]
    except ImportError:  # google-cloud-storage < 3: the same errors live in google-resumable-media
        try:
            from google.resumable_media.common import DataCorruption, InvalidResponse  # type: ignore
            types += [DataCorruption, InvalidResponse]
        except ImportError:
            pass
    return tuple(types)


_CLIENT_ERRORS = _client_error_types()


def _is_client_error(exc: BaseException) -> bool:
    """Errors raised by the Google/HTTP client stack (as opposed to bugs or local I/O errors)."""
    return isinstance(exc, _CLIENT_ERRORS)
