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

Uploads up to `MULTIPART_THRESHOLD` are one `PutObject` streamed from the source; larger
ones are a parallel multipart upload whose parts are read straight from the source files.
Reads are ranged `GetObject`s streamed in blocks.  Transient failures (throttling, 5xx,
dropped connections) are retried by botocore in "standard" mode, a bounded number of times
with exponential backoff; what is left becomes a one-line `RemoteError` naming the remote
and what to check, never containing a secret.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator
from urllib.parse import urlparse

import botocore.exceptions as bex
import botocore.session
from botocore import UNSIGNED
from botocore.config import Config as BotoConfig

from ..errors import ConfigError, EtcError, NotFoundError, RemoteError
from .base import ObjectInfo, Source, Storage
from .cloud import WarnOnce, one_line, protect, show_endpoint

log = logging.getLogger("etcetera")

BLOCK = 1 << 20
MULTIPART_THRESHOLD = 64 << 20
PART_SIZE = 16 << 20
MAX_PARTS = 10_000
PART_WORKERS = 8  # parallel parts of one object (objects themselves are already uploaded in parallel)
ATTEMPTS = 4  # botocore tries per request, including the first
UPLOAD_MARK = "#multipart-upload="  # leftovers() key = <key><mark><UploadId>; no real key contains '#'
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
        protect(cfg)
        try:
            session = _new_session(key_id, secret, token, cfg.region_name)
            if cfg.public and not key_id:
                # An anonymous reader of a public dataset: sign only if the environment has credentials.
                try:
                    self.unsigned = session.get_credentials() is None
                except bex.BotoCoreError:
                    self.unsigned = True
            options: dict[str, Any] = dict(
                max_pool_connections=cfg.worker_count + PART_WORKERS,
                retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
                connect_timeout=10,
                read_timeout=60,
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
            if status is not None and status >= 500 or code in ("SlowDown", "ServiceUnavailable", "InternalError"):
                return RemoteError(f"cannot {where}: the server keeps failing ({code or status}) after {ATTEMPTS} attempts: try again later")
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
        if isinstance(exc, (bex.EndpointConnectionError, bex.ConnectTimeoutError, bex.ProxyConnectionError)):
            return RemoteError(f"cannot {where}: cannot connect to {self.endpoint} ({type(exc).__name__}): check endpoint_url/network")
        if isinstance(exc, bex.SSLError):
            return RemoteError(f"cannot {where}: TLS failed with {self.endpoint}: check endpoint_url (http vs https) and certificates")
        if isinstance(exc, bex.ParamValidationError):
            return RemoteError(f"cannot {where}: invalid request ({one_line(str(exc), 120)})")
        if isinstance(exc, (bex.ReadTimeoutError, bex.ConnectionClosedError, bex.IncompleteReadError,
                            bex.ResponseStreamingError, bex.HTTPClientError)):
            return RemoteError(f"cannot {where}: connection to {self.endpoint} dropped ({type(exc).__name__}): check the network")
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
        if source.size > MULTIPART_THRESHOLD:
            return self._put_multipart(key, source)
        with source.reader() as body:
            self._write("write", key, self.client.put_object, Key=self._key(key), Body=body,
                        ContentLength=source.size)

    def _put_multipart(self, key: str, source: Source) -> None:
        size = source.size
        part = max(PART_SIZE, -(-size // MAX_PARTS))
        ranges = [(n + 1, off, min(part, size - off)) for n, off in enumerate(range(0, size, part))]
        created = self._write("write", key, self.client.create_multipart_upload, Key=self._key(key))
        upload_id = created["UploadId"]

        def send(number: int, offset: int, length: int) -> dict[str, Any]:
            with source.reader(offset, length) as body:
                resp = self._call("write", key, self.client.upload_part, Key=self._key(key), UploadId=upload_id,
                                  PartNumber=number, Body=body, ContentLength=length)
            return {"PartNumber": number, "ETag": resp["ETag"]}

        try:
            with ThreadPoolExecutor(max_workers=min(PART_WORKERS, self.config.worker_count, len(ranges)),
                                    thread_name_prefix="etc-part") as pool:
                parts = list(pool.map(lambda r: send(*r), ranges))
            self._call("write", key, self.client.complete_multipart_upload, Key=self._key(key),
                       UploadId=upload_id, MultipartUpload={"Parts": parts})
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._key(key), UploadId=upload_id)
            except Exception:  # the original error matters more; leftovers expire by lifecycle rules
                log.debug("could not abort multipart upload of %s on %s", key, self.url)
            raise

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
        except (bex.BotoCoreError, bex.ClientError) as exc:
            raise self._error(exc, "read", key) from None
        except Exception as exc:  # urllib3 errors raised while streaming the body
            if type(exc).__module__.split(".")[0] in ("urllib3", "http") or isinstance(exc, OSError):
                raise RemoteError(f"cannot read {key} on {self.url}: connection to {self.endpoint} dropped "
                                  f"({type(exc).__name__}): check the network") from None
            raise
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

    def leftovers(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Multipart uploads that a killed push never completed or aborted: invisible, but billed.

        Each is reported as `<key>#multipart-upload=<UploadId>` with the bytes of its parts;
        `delete` of such a key aborts the upload.
        """
        skip = len(self.prefix)
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix)
        try:
            for page in pages:
                for up in page.get("Uploads", ()):
                    parts = self.client.list_parts(Bucket=self.bucket, Key=up["Key"], UploadId=up["UploadId"])
                    size = sum(int(p.get("Size", 0)) for p in parts.get("Parts", ()))
                    started = up.get("Initiated")
                    yield ObjectInfo(f"{up['Key'][skip:]}{UPLOAD_MARK}{up['UploadId']}", size,
                                     started.timestamp() if started else None)
        except (bex.BotoCoreError, bex.ClientError) as exc:
            raise self._error(exc, "list unfinished uploads under", prefix or "/") from None

    def delete(self, key: str) -> None:
        if UPLOAD_MARK in key:
            real, upload_id = key.split(UPLOAD_MARK, 1)
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._key(real), UploadId=upload_id)
            except bex.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                    raise self._error(exc, "abort upload of", real) from None
            except bex.BotoCoreError as exc:
                raise self._error(exc, "abort upload of", real) from None
            return
        self._call("delete", key, self.client.delete_object, Key=self._key(key))

    def close(self) -> None:
        self.client.close()
