"""`s3://bucket[/prefix]` remote: Amazon S3 and any S3-compatible store (MinIO, Ceph, R2, moto).

Spoken directly over HTTP(S): the standard library's `http.client` with kept-alive pooled connections
and SigV4 signing (`sigv4.py`), so a command pays no SDK start-up (importing botocore and loading its
S3 model cost every command about 0.6 s, more than a small pull itself).  botocore is imported
only to find credentials that are neither in the config nor in the `AWS_*` environment variables
(profiles, SSO, container and instance roles).

Credentials: the Config's `aws_access_key_id`, `aws_secret_access_key` and optional
`aws_session_token`, else the environment, else botocore's chain.  `region_name` (else `AWS_REGION`,
`AWS_DEFAULT_REGION`, the profile's region, else us-east-1; a bucket elsewhere is followed once by
its `x-amz-bucket-region`).  `endpoint_url` (else `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`) points at
an S3-compatible store, addressed path-style; AWS itself is addressed virtual-host style.  With
`public = true`, objects are written with the `public-read` ACL, and when no credentials exist at all
requests go unsigned (anonymous), so anyone can pull a public dataset.  TLS trusts the certificates in
`AWS_CA_BUNDLE` (else the profile's `ca_bundle`) instead of the system's; proxies: see `httppool.py`.

Integrity: every upload is one `PutObject` whose payload sha256 is signed and sent as
`x-amz-checksum-sha256`, so S3 refuses a body that changed on the way and keeps the checksum.  An
object's id already is that hash for chunks, large files and shards; a pack's is computed first.

Conditional publish: `put_if_absent` sends `If-None-Match: *`, which S3 (since 2024), moto, MinIO and
R2 enforce atomically: of two writers, exactly one wins.  A store that answers `NotImplemented` gets
a HEAD followed by a plain PUT instead, which races (two writers that both HEAD first both "win");
that is logged once per remote as a warning.

Retries: refused, reset and timed-out connections, 429, 5xx and S3's throttling codes are retried
with jittered exponential backoff, bounded by time instead of a count: not once another attempt could
not end within `config.give_up` seconds of the request's start.  What still fails then becomes a
`TransientError`; a body that breaks off while it is read a `CutOffError`; anything else a one-line
`RemoteError`.  Each names the remote and what to check, never a secret.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import logging
import os
import random
import re
import socket
import ssl
import threading
import time
from datetime import datetime
from typing import Any, Iterator, Mapping
from urllib.parse import urlparse, urlsplit
from xml.etree import ElementTree

from ..errors import ConfigError, CutOffError, EtcError, NotFoundError, RemoteError, TransientError
from ..version import __version__
from .base import ObjectInfo, Source, Storage
from .cloud import WarnOnce, one_line, protect, request_timeouts, show_endpoint
from .httppool import BLOCK, Pool, ProxyError
from .sigv4 import EMPTY_SHA256, Signer, find_credentials, uri_encode

log = logging.getLogger("etcetera.s3")

CONFLICT_RETRIES = 4  # 409 ConditionalRequestConflict: a concurrent conditional write is in flight
MAX_BACKOFF = 2.0
SMALL_BODY = 4 << 20  # a pack up to this size is read once, into memory (a worker holds one at a time)

_BUCKET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
_DNS_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_CREDENTIAL_CODES = {
    "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "TokenRefreshRequired",
    "InvalidToken", "InvalidClientTokenId", "UnrecognizedClientException", "AuthorizationHeaderMalformed",
    "AllAccessDisabled", "AccountProblem", "RequestTimeTooSkewed", "InvalidSecurity", "Forbidden",
    "MissingSecurityHeader", "NotSignedUp", "AccessDeniedException",
}
_EXPIRED_CODES = {"ExpiredToken", "TokenRefreshRequired", "RequestExpired"}
_ACL_REFUSED_CODES = {"AccessControlListNotSupported", "InvalidBucketAclWithObjectOwnership"}
_TRANSIENT_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling",
                    "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
_RETRY_STATUS = {429, 500, 502, 503, 504}
_REGION_CODES = {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException",
                 "301", "307"}
_HIDDEN_HEADERS = {"authorization", "x-amz-security-token"}


class _Failed(Exception):
    """An S3 error answer: HTTP status, S3 error code (the status when the answer had no body), message."""

    def __init__(self, status: int, code: str, message: str = "", region: str | None = None) -> None:
        super().__init__(code)
        self.status, self.code, self.message, self.region = status, code, message, region


class _Unreachable(Exception):
    """Requests kept failing without an answer, or with a retryable one, for the whole budget."""

    def __init__(self, connect: bool, detail: str) -> None:
        super().__init__(detail)
        self.connect, self.detail = connect, detail

    @classmethod
    def dropped(cls, why: str) -> _Unreachable:
        """A small answer (a listing, an error) that broke off: asked again like a dropped connection."""
        return cls(False, why[why.rfind("(") + 1:-1] if why.endswith(")") else why)


class _NoCredentials(Exception):
    pass


def _tag(element: ElementTree.Element) -> str:
    return element.tag.rpartition("}")[2]


def _text(element: ElementTree.Element, name: str) -> str | None:
    for child in element:
        if _tag(child) == name:
            return child.text or ""
    return None


def _parse_error(status: int, body: bytes) -> tuple[str, str]:
    """(code, message) of an S3 error body; the status as the code when there is none."""
    if body:
        try:
            root = ElementTree.fromstring(body)
            if _tag(root) == "Error":
                return _text(root, "Code") or str(status), _text(root, "Message") or ""
        except ElementTree.ParseError:
            pass
    return str(status), ""


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
        cfg = config
        key_id, secret, token = cfg.aws_access_key_id, cfg.aws_secret_access_key, cfg.aws_session_token
        if bool(key_id) != bool(secret):
            missing = "aws_secret_access_key" if key_id else "aws_access_key_id"
            raise ConfigError(f"remote {self.url}: {missing} is missing (set both aws_access_key_id and aws_secret_access_key)")
        if token and not key_id:
            raise ConfigError(f"remote {self.url}: aws_session_token needs aws_access_key_id and aws_secret_access_key")
        protect(cfg)
        self.endpoint_url = cfg.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        self.endpoint = show_endpoint(self.endpoint_url) or "the S3 endpoint"
        self._credentials, profile_region, profile_ca = find_credentials(key_id, secret, token, self.url)
        self.ca_bundle = os.environ.get("AWS_CA_BUNDLE") or profile_ca or None
        protect(cfg)  # botocore's loggers, if its chain was imported just now
        self.unsigned = self._credentials is None and bool(cfg.public)
        self.region = (cfg.region_name or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                       or profile_region or "us-east-1")
        self.timeouts = request_timeouts(cfg.give_up)
        self._acl: dict[str, str] = {"x-amz-acl": "public-read"} if cfg.public else {}
        self._warn_once = WarnOnce()
        self._conditional = True  # If-None-Match on PUT is honoured (False once the store said NotImplemented)
        self._lock = threading.Lock()
        self._place(self.region)

    # ------------------------------------------------------------ where requests go

    def _place(self, region: str) -> None:
        """Point the connection pool and signer at `region` (AWS hosts name the region)."""
        if self.endpoint_url:
            try:
                parts = urlsplit(self.endpoint_url)
                port = parts.port
            except ValueError:
                raise ConfigError(f"remote {self.url}: invalid endpoint_url {self.endpoint!r}") from None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"remote {self.url}: invalid endpoint_url {self.endpoint!r}: use http(s)://host[:port]")
            scheme, host = parts.scheme, parts.hostname
            base = f"{parts.path.rstrip('/')}/{uri_encode(self.bucket)}"  # path-style, as S3-compatible stores want
        else:
            scheme, port = "https", None
            if _DNS_BUCKET_RE.fullmatch(self.bucket):
                host, base = f"{self.bucket}.s3.{region}.amazonaws.com", ""
            else:  # dots or capitals: a virtual host would not match the TLS certificate
                host, base = f"s3.{region}.amazonaws.com", f"/{uri_encode(self.bucket)}"
        default_port = 443 if scheme == "https" else 80
        old = getattr(self, "pool", None)
        self.region = region
        self.host_header = host if port in (None, default_port) else f"{host}:{port}"
        self.base = base
        try:
            self.pool = Pool(scheme, host, port, self.config.worker_count, self.timeouts, self.ca_bundle)
        except OSError as exc:  # the CA bundle: missing, unreadable or not PEM certificates
            raise ConfigError(f"remote {self.url}: cannot load the CA bundle {self.ca_bundle} "
                              f"({type(exc).__name__}): check AWS_CA_BUNDLE (or the AWS profile's ca_bundle)") from None
        self.signer = Signer(self._credentials, region) if self._credentials is not None else None
        if old is not None:
            old.close()

    def _path(self, key: str | None) -> str:
        if key is None:
            return self.base or "/"
        return f"{self.base}/{uri_encode(self.prefix + key, slash=True)}"

    # ------------------------------------------------------------ requests

    def _send(self, method: str, key: str | None, action: str, *, query: Mapping[str, str] | None = None,
              headers: Mapping[str, str] | None = None, body: bytes | Source | None = None,
              payload: str = EMPTY_SHA256) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
        """Send one request, retrying failures that may pass within the give-up budget; returns a response
        with a 2xx status (or 304/206), and raises `_Failed` for any other answer."""
        query = dict(query or {})
        budget = self.config.give_up
        started = time.monotonic()
        attempt = 0
        moved = False
        while True:
            pool = self.pool
            path = self._path(key)
            target = path + ("?" + "&".join(f"{uri_encode(k)}={uri_encode(v)}" for k, v in query.items())
                             if query else "")
            sent = {"Host": self.host_header, "User-Agent": f"etcetera/{__version__}", **(headers or {})}
            if isinstance(body, (bytes, bytearray)):
                sent["Content-Length"] = str(len(body))
            elif body is not None:
                sent["Content-Length"] = str(body.size)
            if self.signer is not None:
                sent = self.signer.sign(method, self.host_header, path, query, sent, payload)
            elif not self.unsigned:
                raise _NoCredentials()
            tried = time.monotonic()
            try:
                resp, conn = pool.exchange(method, target, sent, body)
            except ProxyError as exc:
                raise RemoteError(f"cannot {action} on {self.url}: {exc}") from None
            except ssl.SSLError as exc:
                if isinstance(exc, ssl.SSLCertVerificationError) or "WRONG_VERSION" in str(exc):
                    raise RemoteError(f"cannot {action} on {self.url}: TLS failed with {self.endpoint}{pool.via}: "
                                      f"check endpoint_url (http vs https) and certificates (AWS_CA_BUNDLE names "
                                      f"the CA file to trust)") from None
                failure = _Unreachable(False, type(exc).__name__)
            except (OSError, http.client.HTTPException) as exc:
                refused = isinstance(exc, (ConnectionRefusedError, socket.gaierror))
                failure = _Unreachable(refused or not exc.connected, type(exc).__name__)  # type: ignore[union-attr]
            else:
                status = resp.status
                log.debug("s3 %s %s%s -> %s", method, self.host_header, target, status)
                if status < 300 or status == 304:
                    return resp, conn
                code, message = _parse_error(status, pool.finish(resp, conn))
                region = resp.getheader("x-amz-bucket-region")
                if (region and region != self.region and not moved
                        and (status in (301, 307) or code in _REGION_CODES)):
                    log.debug("s3 bucket %s is in %s, not %s: following", self.bucket, region, self.region)
                    with self._lock:
                        if self.region != region:
                            self._place(region)
                    moved = True
                    continue
                if status not in _RETRY_STATUS and code not in _TRANSIENT_CODES:
                    raise _Failed(status, code, message, region)
                failure = _Unreachable(False, code)
            attempt += 1
            now = time.monotonic()
            left = started + budget - max(now - tried, self.timeouts[0]) - now
            if left <= 0:
                raise failure
            time.sleep(min(random.uniform(0, min(MAX_BACKOFF, 0.1 * 2 ** attempt)), left))

    def _do(self, method: str, key: str | None, action: str, **kwargs: Any) -> bytes:
        """A request whose (small) answer is read whole; errors become one line."""
        started = time.monotonic()
        while True:
            try:
                resp, conn = self._send(method, key, action, **kwargs)
                return b"".join(self.pool.body(resp, conn, 0, resp.length, _Unreachable.dropped))
            except _Unreachable as exc:
                if exc.connect or time.monotonic() - started + self.timeouts[0] > self.config.give_up:
                    raise self._error(exc, action, key or "") from None
                log.debug("s3 %s %s: %s, asking again", method, key or "", exc.detail)
            except (_Failed, _NoCredentials) as exc:
                raise self._error(exc, action, key or "") from None

    # ------------------------------------------------------------ errors

    def _error(self, exc: BaseException, action: str, key: str) -> EtcError:
        """One line naming the remote, what failed and what to check; never a secret."""
        where = f"{action} {key} on {self.url}" if key else f"{action} {self.url}"
        budget = f"{self.config.give_up:g} s"
        if isinstance(exc, _NoCredentials):
            return RemoteError(
                f"cannot {where}: no AWS credentials found: set aws_access_key_id and aws_secret_access_key "
                f"(in the etcetera config or connection, or the AWS environment/profile); for a public dataset set public = true"
            )
        if isinstance(exc, _Unreachable):
            if exc.connect:
                return TransientError(f"cannot {where}: cannot connect to {self.endpoint}{self.pool.via} "
                                      f"({exc.detail}) for {budget}: check endpoint_url/network"
                                      f"{'/proxy' if self.pool.via else ''}")
            if exc.detail.isdigit() or exc.detail in _TRANSIENT_CODES:
                return TransientError(f"cannot {where}: {self.endpoint} kept failing ({exc.detail}) for "
                                      f"{budget}: try again later (or raise give_up_seconds)")
            return TransientError(f"cannot {where}: the connection to {self.endpoint} kept dropping "
                                  f"({exc.detail}) for {budget}: check the network")
        if not isinstance(exc, _Failed):
            return RemoteError(f"cannot {where}: {type(exc).__name__}")
        code, status = exc.code, exc.status
        if code == "NoSuchBucket":
            return RemoteError(f"cannot {where}: bucket {self.bucket} does not exist at {self.endpoint}: create it or fix url")
        if code in ("NoSuchKey", "NotFound", "404") or (status == 404 and key):
            return NotFoundError(f"{key} not found on {self.url}")
        if code in _EXPIRED_CODES:
            return RemoteError(f"cannot {where}: the AWS credentials have expired ({code}): check credentials "
                               f"(renew aws_session_token)")
        if code in _REGION_CODES or status in (301, 307):
            return RemoteError(f"cannot {where}: the bucket is in another region ({code}): set region_name")
        if code in _CREDENTIAL_CODES or status in (401, 403):
            return RemoteError(
                f"cannot {where}: access denied ({code}): check credentials "
                f"(aws_access_key_id/aws_secret_access_key) and the bucket's permissions"
            )
        if code == "InvalidRange" or status == 416:
            return RemoteError(f"cannot {where}: requested bytes are beyond the end of the object (truncated?)")
        detail = one_line(exc.message, 120)
        return RemoteError(f"cannot {where}: {code}{': ' + detail if detail else ''}")

    def _write(self, action: str, key: str, **kwargs: Any) -> bytes:
        """A PUT with the public ACL, dropping it once if the bucket refuses ACLs."""
        headers = dict(kwargs.pop("headers", {}))
        try:
            resp, conn = self._send("PUT", key, action, headers={**headers, **self._acl}, **kwargs)
        except _Failed as exc:
            if self._acl and exc.code in _ACL_REFUSED_CODES:
                self._drop_acl()
                return self._write(action, key, headers=headers, **kwargs)
            raise self._error(exc, action, key) from None
        except (_Unreachable, _NoCredentials) as exc:
            raise self._error(exc, action, key) from None
        return self.pool.finish(resp, conn)

    def _drop_acl(self) -> None:
        self._acl = {}
        self._warn_once("acl", f"{self.url}: the bucket has ACLs disabled, so objects are not made public "
                               f"one by one; make the bucket public with a bucket policy instead")

    # ------------------------------------------------------------ Storage

    def put(self, key: str, source: Source) -> None:
        body, sha = _payload(source)
        self._write("write", key, headers=_checksum(sha), body=body, payload=sha)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        created = self._put_new(key, data, hashlib.sha256(data).hexdigest())
        if created is None:
            return self._put_if_absent_fallback(key, data)
        # A 412 is also what a retried request sees after its first attempt succeeded: same bytes = ours.
        return created or self._holds(key, data)

    def create(self, key: str, source: Source) -> bool:
        if not self._conditional:
            return super().create(key, source)
        created = self._put_new(key, *_payload(source))
        if created is None:
            self._conditional = False  # a store without conditional writes: check, then put
            return super().create(key, source)
        return created

    def _put_new(self, key: str, body: bytes | Source, sha: str) -> bool | None:
        """PUT `key` only if it does not exist (If-None-Match): True when created, False when it
        existed, None when the store does not support conditional writes."""
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                resp, conn = self._send("PUT", key, "write", body=body, payload=sha,
                                        headers={"If-None-Match": "*", **_checksum(sha), **self._acl})
                self.pool.finish(resp, conn)
                return True
            except _Failed as exc:
                if exc.code == "PreconditionFailed" or exc.status == 412:
                    return False
                if exc.code == "ConditionalRequestConflict" and attempt < CONFLICT_RETRIES:
                    time.sleep(0.2 * 2**attempt)  # another conditional write is in flight: ask again
                    continue
                if exc.code == "ConditionalRequestConflict":
                    return False
                if exc.code == "NotImplemented" or exc.status == 501:
                    return None
                if self._acl and exc.code in _ACL_REFUSED_CODES:
                    self._drop_acl()
                    continue
                raise self._error(exc, "write", key) from None
            except (_Unreachable, _NoCredentials) as exc:
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
        sha = hashlib.sha256(data).hexdigest()
        self._write("write", key, headers=_checksum(sha), body=data, payload=sha)
        return True

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        if length is not None and length <= 0:
            return
        headers = {}
        if start or length is not None:
            headers["Range"] = f"bytes={start}-{'' if length is None else start + length - 1}"
        try:
            resp, conn = self._send("GET", key, "read", headers=headers)
        except _Failed as exc:
            if exc.code == "InvalidRange" or exc.status == 416:
                return  # the range starts past the end: no bytes, like a short file (the caller checks sizes)
            raise self._error(exc, "read", key) from None
        except (_Unreachable, _NoCredentials) as exc:
            raise self._error(exc, "read", key) from None

        def cut_off(why: str) -> CutOffError:
            return CutOffError(f"cannot read {key} on {self.url}: from {self.endpoint}, {why}: check the network")

        yield from self.pool.body(resp, conn, 0, resp.length, cut_off)

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def size(self, key: str) -> int | None:
        """The object's size from a HEAD request (None: absent)."""
        try:
            resp, conn = self._send("HEAD", key, "check")
        except _Failed as exc:
            if exc.status == 404 or exc.code in ("NoSuchKey", "NotFound"):  # a missing bucket looks alike
                return None
            raise self._error(exc, "check", key) from None
        except (_Unreachable, _NoCredentials) as exc:
            raise self._error(exc, "check", key) from None
        length = resp.getheader("Content-Length")
        self.pool.finish(resp, conn)
        return int(length) if length and length.isdigit() else 0

    def touch(self, key: str) -> bool:
        # A copy onto itself is S3's only way to renew LastModified; it happens inside S3.
        source = uri_encode(f"{self.bucket}/{self.prefix}{key}", slash=True)
        try:
            answer = self._write("touch", key, headers={"x-amz-copy-source": source,
                                                        "x-amz-metadata-directive": "REPLACE"})
        except NotFoundError:
            return False
        code, message = _parse_error(200, answer)
        if code != "200":  # S3 may answer a copy with 200 and an error in the body
            if code in ("NoSuchKey", "NotFound"):
                return False
            failure = _Unreachable(False, code) if code in _TRANSIENT_CODES else _Failed(200, code, message)
            raise self._error(failure, "touch", key)
        return True

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self._list(prefix)

    def list_top_level(self) -> Iterator[ObjectInfo]:
        """Objects directly under the root (not in any sub-folder): one request per 1000 keys."""
        return self._list("", delimiter="/")

    def _list(self, prefix: str, delimiter: str | None = None) -> Iterator[ObjectInfo]:
        skip = len(self.prefix)
        query = {"list-type": "2", "max-keys": "1000", "prefix": self.prefix + prefix}
        if delimiter:
            query["delimiter"] = delimiter
        while True:
            data = self._do("GET", None, f"list {prefix}" if prefix else "list", query=query)
            try:
                root = ElementTree.fromstring(data)
            except ElementTree.ParseError:
                raise RemoteError(f"cannot list {prefix} on {self.url}: {self.endpoint} answered something "
                                  f"that is not an S3 listing: check endpoint_url") from None
            for item in root:
                if _tag(item) != "Contents":
                    continue
                modified = _text(item, "LastModified")
                yield ObjectInfo((_text(item, "Key") or "")[skip:], int(_text(item, "Size") or 0),
                                 _timestamp(modified))
            token = _text(root, "NextContinuationToken")
            if _text(root, "IsTruncated") != "true" or not token:
                return
            query["continuation-token"] = token

    def delete(self, key: str) -> None:
        self._do("DELETE", key, "delete")

    def close(self) -> None:
        self.pool.close()


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _checksum(sha256: str) -> dict[str, str]:
    """The header with which S3 checks a body's sha256 and keeps it (`ChecksumSHA256`)."""
    return {"x-amz-sdk-checksum-algorithm": "SHA256",
            "x-amz-checksum-sha256": base64.b64encode(bytes.fromhex(sha256)).decode()}


def _payload(source: Source) -> tuple[bytes | Source, str]:
    """What to send for `source` and its sha256.  A small pack (whose id is not its hash) is read
    once into memory, hashed and sent from there; a larger one is read twice (hashed, then sent):
    the signature and S3's end-to-end check need the hash before the first byte."""
    if source.sha256 is not None:
        return source, source.sha256
    if source.size <= SMALL_BODY:
        with source.reader() as stream:
            data = stream.read(source.size)
        if len(data) != source.size:
            raise OSError("a file changed while it was being uploaded")
        return data, hashlib.sha256(data).hexdigest()
    return source, _sha256_of(source)


def _sha256_of(source: Source) -> str:
    """The sha256 of a source's bytes (a pack's, whose id is not its hash): read once before sending,
    as the signature and S3's end-to-end check need it up front."""
    digest = hashlib.sha256()
    with source.reader() as stream:
        while block := stream.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


__all__ = ["S3Storage", "BLOCK"]
