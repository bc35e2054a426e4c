"""`s3://bucket[/prefix]` remote: Amazon S3 and any S3-compatible store (MinIO, Ceph, R2, moto).

Credentials come from the Config (`aws_access_key_id`, `aws_secret_access_key`, optional
`aws_session_token`, `region_name`), else from botocore's own chain (environment, profiles,
instance roles).  `endpoint_url` points at an S3-compatible store.  With `public = true`,
objects are written with the `public-read` ACL, and when no credentials exist at all the
client sends unsigned (anonymous) requests, so anyone can pull a public dataset.

Conditional publish: `put_if_absent` sends `PutObject` with `If-None-Match: *`, which S3
(since 2024), moto, MinIO and R2 enforce atomically: of two writers, exactly one wins.
Fallback: a store that answers `NotImplemented` to that header gets a HEAD followed by a
plain PUT instead.  That fallback has a race: two writers that both HEAD before either PUTs
both "win" and the later PUT replaces the earlier manifest.  It is logged once per remote as
a warning; such stores should not be shared by concurrent writers of the same dataset name.
(A store that silently ignores the header cannot be detected and behaves like the fallback.)

Every upload is one `PutObject` streamed from the source (etcetera's objects are packs and
chunks of at most 64 MiB, well below S3's 5 GiB limit for one PUT).  Reads are ranged
`GetObject`s streamed in blocks.

Retries: botocore's "standard" conditions and backoff (throttling, 5xx, refused, reset and
timed-out connections, with jittered exponential backoff), bounded by time instead of a count:
a request is not retried once another attempt could not end within `config.give_up` seconds of
its start (`_GiveUp`).  What is still failing then becomes a `TransientError`; a body that breaks
off while it is read (which botocore does not retry) a `CutOffError`; anything else a one-line
`RemoteError`.  Each names the remote and what to check, never a secret.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
from typing import Any, Callable, Iterator
from urllib.parse import urlparse

import botocore.exceptions as bex
import botocore.session
import urllib3.exceptions
from botocore import UNSIGNED
from botocore.config import Config as BotoConfig
from botocore.retries import standard as boto_retries

from ..errors import ConfigError, CutOffError, EtcError, NotFoundError, RemoteError, TransientError
from .base import ObjectInfo, Source, Storage
from .cloud import WarnOnce, one_line, protect, request_timeouts, show_endpoint

log = logging.getLogger("etcetera")

BLOCK = 1 << 20
MAX_ATTEMPTS = 50  # a backstop only: the give-up budget ends retries long before
CONFLICT_RETRIES = 4  # 409 ConditionalRequestConflict: a concurrent conditional write is in flight

_BUCKET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
_CREDENTIAL_CODES = {
    "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "TokenRefreshRequired",
    "InvalidToken", "InvalidClientTokenId", "UnrecognizedClientException", "AuthorizationHeaderMalformed",
    "AllAccessDisabled", "AccountProblem", "RequestTimeTooSkewed", "InvalidSecurity", "Forbidden",
    "MissingSecurityHeader", "NotSignedUp", "AccessDeniedException",
}
_EXPIRED_CODES = {"ExpiredToken", "TokenRefreshRequired", "RequestExpired"}
_PRECONDITION_CODES = {"PreconditionFailed", "412"}
_ACL_REFUSED_CODES = {"AccessControlListNotSupported", "InvalidBucketAclWithObjectOwnership"}
_TRANSIENT_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling",
                    "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
_CONNECT_ERRORS = (bex.EndpointConnectionError, bex.ConnectTimeoutError, bex.ProxyConnectionError)
_DROPPED_ERRORS = (bex.ReadTimeoutError, bex.ConnectionClosedError, bex.IncompleteReadError,
                   bex.ResponseStreamingError, bex.HTTPClientError)
_STARTED = "etcetera-started"  # keys etcetera adds to botocore's per-call context
_NEXT_ATTEMPT = "etcetera-next-attempt"


class _GiveUp:
    """botocore's standard retry conditions and backoff, bounded by a time budget per call.

    It replaces botocore's own standard handler and runs first on `needs-retry`, so its answer (a
    delay, or False) is the one botocore uses; for errors that policy does not retry it answers
    None, leaving them to botocore's other handlers (the S3 region redirect).  A retry happens
    only if botocore's standard policy wants one and the next attempt could still
    end within `budget` seconds of the call's start even if it took as long as the last attempt or
    a whole connect timeout, whichever is longer (the backoff is shortened to fit)."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.connect_timeout = request_timeouts(budget)[0]
        self._opened: float | None = time.monotonic()  # building the client is part of the first call
        self._adapter = boto_retries.RetryEventAdapter()
        self._conditions = boto_retries.StandardRetryConditions(max_attempts=MAX_ATTEMPTS)
        try:
            self._backoff = boto_retries.ExponentialBackoff(
                service_name="s3", throttling_detector=boto_retries.ThrottlingErrorDetector(self._adapter))
        except TypeError:  # botocore < 1.40: one backoff scale for every error
            self._backoff = boto_retries.ExponentialBackoff()

    def register(self, client: Any) -> None:
        client.meta.events.unregister("needs-retry.s3", unique_id="retry-config-s3")  # botocore's, by count
        client.meta.events.register("before-call.s3", self.started)
        client.meta.events.register_first("needs-retry.s3", self.needs_retry)

    def started(self, context: dict, **_: Any) -> None:
        now, opened, self._opened = time.monotonic(), self._opened, None
        context[_STARTED] = opened if opened is not None and now - opened < self.budget / 4 else now

    def needs_retry(self, **kwargs: Any) -> float | bool | None:
        retry = self._adapter.create_retry_context(**kwargs)
        if not self._conditions.is_retryable(retry):
            return None
        now = time.monotonic()
        started = retry.request_context.setdefault(_STARTED, now)
        last_attempt = now - retry.request_context.get(_NEXT_ATTEMPT, started)
        left = started + self.budget - max(last_attempt, self.connect_timeout) - now
        if left <= 0:
            return False
        delay = min(self._backoff.delay_amount(retry), left)
        retry.request_context[_NEXT_ATTEMPT] = now + delay
        return delay


def _skip_payload_hash(client: Any) -> None:
    """Sign a PutObject that carries `x-amz-checksum-sha256` with UNSIGNED-PAYLOAD instead of the
    body's sha256.  Without this, botocore reads every body once more to hash it for the signature
    (always on http, and on https when no checksum header is present).  The checksum header is
    signed and S3 refuses a body that does not match it, so the body is held exactly as well."""
    s3 = dict(client.meta.config.s3 or {})
    if "payload_signing_enabled" in s3:
        return  # the user's explicit choice
    unsigned = client.meta.config.merge(BotoConfig(s3={**s3, "payload_signing_enabled": False}))

    def before_sign(request: Any, **_: Any) -> None:
        if "x-amz-checksum-sha256" in request.headers:
            request.context["client_config"] = unsigned  # this request's context only

    client.meta.events.register("before-sign.s3.PutObject", before_sign)


_loader_lock = threading.Lock()
_loader: Any = None


def _new_session(key_id: str | None, secret: str | None, token: str | None, region: str | None) -> Any:
    """A fresh botocore session (its own credentials) sharing one model loader, which is the slow
    part (~0.1 s of JSON per session otherwise); the loader holds only botocore's static data.

    botocore directly, not boto3: boto3's import pulls in s3transfer, which etcetera does not use
    and which costs every command about 80 ms of start-up."""
    global _loader
    core = botocore.session.Session()
    with _loader_lock:
        if _loader is None:
            _loader = core.get_component("data_loader")
        else:
            core.register_component("data_loader", _loader)
    if key_id:
        core.set_credentials(key_id, secret, token)
    if region:
        core.set_config_variable("region", region)
    return core


class S3Storage(Storage):
    scheme = "s3"

    def __init__(self, url: str, config) -> None:
        super().__init__(url, config)
        parsed = urlparse(self.url)
        bucket = parsed.netloc
        if not bucket or not _BUCKET_RE.fullmatch(bucket) or parsed.query or parsed.fragment:
            raise ConfigError(f"invalid S3 url {url!r}: use s3://bucket or s3://bucket/prefix")
        self.bucket = bucket
        prefix = parsed.path.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.endpoint = show_endpoint(config.endpoint_url) or "the S3 endpoint"
        self._acl: dict[str, str] = {"ACL": "public-read"} if config.public else {}
        self._warn_once = WarnOnce()
        self.unsigned = False
        self.client = self._make_client()

    # ------------------------------------------------------------ client

    def _make_client(self) -> Any:
        cfg = self.config
        key_id, secret, token = cfg.aws_access_key_id, cfg.aws_secret_access_key, cfg.aws_session_token
        if bool(key_id) != bool(secret):
            missing = "aws_secret_access_key" if key_id else "aws_access_key_id"
            raise ConfigError(f"remote {self.url}: {missing} is missing (set both aws_access_key_id and aws_secret_access_key)")
        if token and not key_id:
            raise ConfigError(f"remote {self.url}: aws_session_token needs aws_access_key_id and aws_secret_access_key")
        give_up = _GiveUp(cfg.give_up)
        protect(cfg)
        try:
            session = _new_session(key_id, secret, token, cfg.region_name)
            if cfg.public and not key_id:
                # An anonymous reader of a public dataset: sign only if the environment has credentials.
                try:
                    self.unsigned = session.get_credentials() is None
                except bex.BotoCoreError:
                    self.unsigned = True
            connect, read = request_timeouts(cfg.give_up)
            options: dict[str, Any] = dict(
                max_pool_connections=cfg.worker_count,
                retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
                connect_timeout=connect,
                read_timeout=read,
                tcp_keepalive=True,
            )
            if "request_checksum_calculation" in BotoConfig.OPTION_DEFAULTS:  # botocore >= 1.36
                # We verify every byte with sha256 ourselves; the newer default CRC trailers
                # break several S3-compatible stores and cost a second pass over each body.
                options.update(request_checksum_calculation="when_required",
                               response_checksum_validation="when_required")
            if cfg.endpoint_url:
                options["s3"] = {"addressing_style": "path"}
            if self.unsigned:
                options["signature_version"] = UNSIGNED
            client = session.create_client("s3", endpoint_url=cfg.endpoint_url, config=BotoConfig(**options))
        except bex.ProfileNotFound:
            raise ConfigError(f"remote {self.url}: the AWS profile named by AWS_PROFILE does not exist") from None
        except ValueError:
            raise ConfigError(f"remote {self.url}: invalid endpoint_url {self.endpoint!r}") from None
        except bex.BotoCoreError as exc:
            raise self._error(exc, "connect to", "") from None
        give_up.register(client)
        _skip_payload_hash(client)
        protect(cfg)  # botocore modules imported while building the client now have loggers too
        return client

    def _key(self, key: str) -> str:
        return self.prefix + key

    # ------------------------------------------------------------ errors

    def _error(self, exc: BaseException, action: str, key: str) -> EtcError:
        """One line naming the remote, what failed and what to check; never a secret."""
        where = f"{action} {key} on {self.url}" if key else f"{action} {self.url}"
        if isinstance(exc, bex.ClientError):
            err = exc.response.get("Error", {}) or {}
            code = str(err.get("Code") or "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket":
                return RemoteError(f"cannot {where}: bucket {self.bucket} does not exist at {self.endpoint}: create it or fix url")
            if code in ("NoSuchKey", "NotFound", "404") or (status == 404 and key):
                return NotFoundError(f"{key} not found on {self.url}")
            if code in _EXPIRED_CODES:
                return RemoteError(f"cannot {where}: the AWS credentials have expired ({code}): check credentials "
                                   f"(renew aws_session_token)")
            if code in _CREDENTIAL_CODES or status in (401, 403):
                return RemoteError(
                    f"cannot {where}: access denied ({code or status}): check credentials "
                    f"(aws_access_key_id/aws_secret_access_key) and the bucket's permissions"
                )
            if code in ("PermanentRedirect", "301", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"):
                return RemoteError(f"cannot {where}: the bucket is in another region ({code}): set region_name")
            if code == "InvalidRange" or status == 416:
                return RemoteError(f"cannot {where}: requested bytes are beyond the end of the object (truncated?)")
            if status is not None and (status >= 500 or status == 429) or code in _TRANSIENT_CODES:
                return TransientError(f"cannot {where}: {self.endpoint} kept failing ({code or status}) for "
                                      f"{self.config.give_up:g} s: try again later (or raise give_up_seconds)")
            detail = one_line(str(err.get("Message") or ""), 120)
            return RemoteError(f"cannot {where}: {code or status}{': ' + detail if detail else ''}")
        if isinstance(exc, (bex.NoCredentialsError, bex.PartialCredentialsError)):
            return RemoteError(
                f"cannot {where}: no AWS credentials found: set aws_access_key_id and aws_secret_access_key "
                f"(in the etcetera config or connection, or the AWS environment/profile); for a public dataset set public = true"
            )
        if isinstance(exc, (bex.CredentialRetrievalError, bex.TokenRetrievalError, bex.SSOError)):
            return RemoteError(f"cannot {where}: AWS credentials could not be loaded ({type(exc).__name__}): check credentials")
        if isinstance(exc, bex.NoRegionError):
            return RemoteError(f"cannot {where}: no AWS region: set region_name")
        if isinstance(exc, _CONNECT_ERRORS):
            return TransientError(f"cannot {where}: cannot connect to {self.endpoint} ({type(exc).__name__}) "
                                  f"for {self.config.give_up:g} s: check endpoint_url/network")
        if isinstance(exc, bex.SSLError):
            return RemoteError(f"cannot {where}: TLS failed with {self.endpoint}: check endpoint_url (http vs https) and certificates")
        if isinstance(exc, bex.ParamValidationError):
            return RemoteError(f"cannot {where}: invalid request ({one_line(str(exc), 120)})")
        if isinstance(exc, _DROPPED_ERRORS):
            return TransientError(f"cannot {where}: the connection to {self.endpoint} kept dropping "
                                  f"({type(exc).__name__}) for {self.config.give_up:g} s: check the network")
        return RemoteError(f"cannot {where}: {type(exc).__name__}")

    def _call(self, action: str, key: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return fn(Bucket=self.bucket, **kwargs)
        except (bex.BotoCoreError, bex.ClientError) as exc:
            raise self._error(exc, action, key) from None

    def _write(self, action: str, key: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """A write with the public ACL, dropping it once if the bucket refuses ACLs."""
        try:
            return fn(Bucket=self.bucket, **self._acl, **kwargs)
        except bex.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if self._acl and code in _ACL_REFUSED_CODES:
                self._acl = {}
                body = kwargs.get("Body")
                if hasattr(body, "seek"):
                    body.seek(0)
                self._warn_once("acl", f"{self.url}: the bucket has ACLs disabled, so objects are not made public "
                                       f"one by one; make the bucket public with a bucket policy instead")
                return self._write(action, key, fn, **kwargs)
            raise self._error(exc, action, key) from None
        except bex.BotoCoreError as exc:
            raise self._error(exc, action, key) from None

    # ------------------------------------------------------------ Storage

    def put(self, key: str, source: Source) -> None:
        checksum: dict[str, str] = {}
        if source.sha256:
            # S3 refuses (BadDigest) a body whose sha256 is not this: verified end to end, and the
            # signature then need not hash the body again (see `_skip_payload_hash`).
            checksum = {"ChecksumAlgorithm": "SHA256",
                        "ChecksumSHA256": base64.b64encode(bytes.fromhex(source.sha256)).decode()}
        with source.reader() as body:
            self._write("write", key, self.client.put_object, Key=self._key(key), Body=body,
                        ContentLength=source.size, **checksum)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*", **self._acl)
                return True
            except bex.ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code") or "")
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if code in _PRECONDITION_CODES or status == 412:
                    # Also what a retried request sees after its first attempt succeeded: same bytes = ours.
                    return self._holds(key, data)
                if code == "ConditionalRequestConflict" and attempt < CONFLICT_RETRIES:
                    time.sleep(0.2 * 2**attempt)  # another conditional write is in flight: ask again
                    continue
                if code == "ConditionalRequestConflict":
                    return False
                if code == "NotImplemented" or status == 501:
                    return self._put_if_absent_fallback(key, data)
                if self._acl and code in _ACL_REFUSED_CODES:
                    self._acl = {}
                    continue
                raise self._error(exc, "write", key) from None
            except bex.ParamValidationError as exc:
                if "IfNoneMatch" in str(exc):
                    raise ConfigError("conditional writes need boto3 >= 1.35: pip install -U 'etcetera[s3]'") from None
                raise self._error(exc, "write", key) from None
            except bex.BotoCoreError as exc:
                raise self._error(exc, "write", key) from None
        return False  # unreachable: the loop returns or raises

    def _holds(self, key: str, data: bytes) -> bool:
        try:
            return self.get(key) == data
        except NotFoundError:
            return False

    def _put_if_absent_fallback(self, key: str, data: bytes) -> bool:
        """HEAD then PUT, for stores without conditional writes (racy: see the module docstring)."""
        self._warn_once("conditional", f"{self.url}: the store does not support conditional writes "
                                       f"(If-None-Match); concurrent pushes of one dataset may overwrite each other")
        if self.exists(key):
            return False
        self._write("write", key, self.client.put_object, Key=self._key(key), Body=data)
        return True

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        if length is not None and length <= 0:
            return
        kwargs: dict[str, Any] = {}
        if start or length is not None:
            end = "" if length is None else str(start + length - 1)
            kwargs["Range"] = f"bytes={start}-{end}"
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key), **kwargs)
        except bex.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return  # the range starts past the end: no bytes, like a short file (the caller checks sizes)
            raise self._error(exc, "read", key) from None
        except bex.BotoCoreError as exc:
            raise self._error(exc, "read", key) from None
        body = resp["Body"]
        try:
            yield from body.iter_chunks(BLOCK)
        except (*_DROPPED_ERRORS, urllib3.exceptions.HTTPError, OSError) as exc:
            # The request succeeded; its body broke off, which botocore does not retry.
            raise CutOffError(f"cannot read {key} on {self.url}: the connection to {self.endpoint} dropped "
                              f"mid-transfer ({type(exc).__name__}): check the network") from None
        except (bex.BotoCoreError, bex.ClientError) as exc:
            raise self._error(exc, "read", key) from None
        finally:
            body.close()

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except bex.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code") or "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404 or code in ("NoSuchKey", "NotFound"):  # HEAD has no body: a missing bucket looks alike
                return False
            raise self._error(exc, "check", key) from None
        except bex.BotoCoreError as exc:
            raise self._error(exc, "check", key) from None

    def touch(self, key: str) -> bool:
        # A copy onto itself is S3's only way to renew LastModified; it happens inside S3.
        k = self._key(key)
        try:
            self._write("touch", key, self.client.copy_object, Key=k, CopySource={"Bucket": self.bucket, "Key": k},
                        MetadataDirective="REPLACE")
            return True
        except NotFoundError:
            return False

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self._list(prefix)

    def list_top_level(self) -> Iterator[ObjectInfo]:
        """Objects directly under the root (not in any sub-folder): one request per 1000 keys."""
        return self._list("", Delimiter="/")

    def _list(self, prefix: str, **options: str) -> Iterator[ObjectInfo]:
        skip = len(self.prefix)
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix, PaginationConfig={"PageSize": 1000}, **options)
        try:
            for page in pages:
                for obj in page.get("Contents", ()):
                    modified = obj.get("LastModified")
                    yield ObjectInfo(obj["Key"][skip:], int(obj["Size"]), modified.timestamp() if modified else None)
        except (bex.BotoCoreError, bex.ClientError) as exc:
            raise self._error(exc, "list", prefix) from None

    def delete(self, key: str) -> None:
        self._call("delete", key, self.client.delete_object, Key=self._key(key))

    def close(self) -> None:
        self.client.close()
