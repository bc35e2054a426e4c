"""AWS credentials and Signature Version 4 for the S3 backend, with no SDK on the common paths.

Credentials are looked up as botocore does, first match wins: the etcetera config's keys, then the
`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`) environment variables, and
only then botocore's own chain (profiles, SSO, web identity, container and instance roles), which is
the one case that imports botocore: its import and model loading cost a command about half a second.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from typing import Any, Callable, Mapping
from urllib.parse import quote

from .._values import FrozenValue, set_field as _set
from ..errors import ConfigError, RemoteError

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


class Credentials(FrozenValue):
    """One set of AWS keys (never shown: the repr hides them)."""

    __slots__ = ("key_id", "secret", "token")
    _hidden = __slots__
    key_id: str
    secret: str
    token: str | None

    def __init__(self, key_id: str, secret: str, token: str | None = None) -> None:
        _set(self, "key_id", key_id)
        _set(self, "secret", secret)
        _set(self, "token", token)


class CredentialSource:
    """Where a signer gets its keys before each request (refreshed ones come from botocore)."""

    def __init__(self, fixed: Credentials | None = None, refresh: Callable[[], Any] | None = None,
                 origin: str = "config") -> None:
        self._fixed, self._refresh, self.origin = fixed, refresh, origin

    def get(self) -> Credentials:
        if self._fixed is not None:
            return self._fixed
        frozen = self._refresh()  # type: ignore[misc]  # botocore refreshes expiring keys itself
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token or None)

    def __repr__(self) -> str:
        return f"CredentialSource({self.origin})"


def find_credentials(key_id: str | None, secret: str | None, token: str | None, url: str
                     ) -> tuple[CredentialSource | None, str | None, str | None]:
    """(the credentials to sign with or None, the region and the CA bundle that the AWS profile names
    or None: the profile is read only when the credentials come from botocore's chain)."""
    if key_id and secret:
        return CredentialSource(Credentials(key_id, secret, token or None)), None, None
    env = os.environ
    # A named profile is the user's explicit choice: botocore resolves (and checks) it.
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY") and not env.get("AWS_PROFILE"):
        creds = Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                            env.get("AWS_SESSION_TOKEN") or env.get("AWS_SECURITY_TOKEN") or None)
        return CredentialSource(creds, origin="environment"), None, None
    return _botocore_chain(url)


def _botocore_chain(url: str) -> tuple[CredentialSource | None, str | None, str | None]:
    try:
        import botocore.exceptions as bex
        import botocore.session
    except ImportError:  # only explicit keys (config or environment) then
        return None, None, None
    try:
        session = botocore.session.Session()
        creds = session.get_credentials()
        region = session.get_config_variable("region")
        ca_bundle = session.get_config_variable("ca_bundle")
    except bex.ProfileNotFound:
        raise ConfigError(f"remote {url}: the AWS profile named by AWS_PROFILE does not exist") from None
    except bex.BotoCoreError as exc:
        raise RemoteError(f"cannot connect to {url}: AWS credentials could not be loaded ({type(exc).__name__}): "
                          f"check credentials") from None
    if creds is None:
        return None, region, ca_bundle
    return (CredentialSource(refresh=creds.get_frozen_credentials, origin=f"botocore:{creds.method}"), region,
            ca_bundle)


def uri_encode(text: str, slash: bool = False) -> str:
    """Percent-encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ (and '/' in paths)."""
    return quote(text, safe="/~" if slash else "~")


class Signer:
    """Signs S3 requests with AWS Signature Version 4 (header form)."""

    def __init__(self, credentials: CredentialSource, region: str, service: str = "s3") -> None:
        self.credentials, self.region, self.service = credentials, region, service
        self._keys: dict[tuple[str, str, str], bytes] = {}
        self._lock = threading.Lock()

    def sign(self, method: str, host: str, path: str, query: Mapping[str, str], headers: dict[str, str],
             payload_sha256: str, now: float | None = None) -> dict[str, str]:
        """`headers` plus x-amz-date, x-amz-content-sha256, the session token and Authorization.
        `path` is already percent-encoded; `host` is the Host header as sent (with a non-default port)."""
        creds = self.credentials.get()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        day = stamp[:8]
        out = dict(headers)
        out["x-amz-date"] = stamp
        out["x-amz-content-sha256"] = payload_sha256
        if creds.token:
            out["x-amz-security-token"] = creds.token
        signed = {"host": host, **{k.lower(): " ".join(str(v).split()) for k, v in out.items()
                                   if k.lower().startswith("x-amz-") or k.lower() in ("content-md5", "content-type")}}
        names = sorted(signed)
        canonical = "\n".join([
            method,
            path,
            "&".join(f"{uri_encode(k)}={uri_encode(v)}" for k, v in sorted(query.items())),
            "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names),
            payload_sha256,
        ])
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._key(creds.secret, day), to_sign.encode(), hashlib.sha256).hexdigest()
        out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={creds.key_id}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
        return out

    def _key(self, secret: str, day: str) -> bytes:
        cache_key = (secret, day, self.region)
        with self._lock:
            key = self._keys.get(cache_key)
        if key is None:
            key = ("AWS4" + secret).encode()
            for part in (day, self.region, self.service, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            with self._lock:
                self._keys = {cache_key: key}  # one day and region at a time
        return key


__all__ = ["Credentials", "CredentialSource", "EMPTY_SHA256", "Signer", "UNSIGNED_PAYLOAD", "find_credentials",
           "uri_encode"]
