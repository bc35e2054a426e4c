"""Helpers shared by the cloud backends (S3, GCS, Azure): keeping secrets out of messages and logs, and
the per-request timeouts that keep the client libraries' own retries within the give-up budget.

Error messages are built by the backends themselves, never copied from a server or an SDK
exception; where a server's text is useful it goes through `scrub` first.  Third-party debug
logs (botocore prints request headers, including `X-Amz-Security-Token`) get a filter that
replaces every configured secret with `***` before any handler sees the record.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Iterable
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ..config import SECRET_KEYS

if TYPE_CHECKING:
    from ..config import Config

# Loggers of the libraries the cloud backends drive; every child logger gets the filter too.
THIRD_PARTY_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "requests", "google", "google_auth_httplib2",
                       "azure", "msal")
_MIN_SECRET = 4  # shorter values would redact ordinary words

_secrets: set[str] = set()
_lock = threading.Lock()


def secret_values(config: "Config") -> list[str]:
    """The secret strings a Config holds (including every string inside inline service-account JSON)."""
    out: list[str] = []
    for key in SECRET_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, str):
            out.append(value)
    info = None
    try:
        info = config.service_account_info()
    except Exception:  # invalid JSON: the backend reports it; nothing to redact from it here
        info = None
    if info:
        out.extend(str(v) for k, v in info.items() if k in ("private_key", "private_key_id", "client_secret", "refresh_token"))
    out.extend(_azure_parts(config))
    return [s for s in out if len(s) >= _MIN_SECRET]


def _azure_parts(config: "Config") -> list[str]:
    """The pieces of Azure secrets that can show up on their own: a SAS token's signature (as sent in
    a URL, percent-encoded or not) and a connection string's AccountKey and SharedAccessSignature."""
    tokens = [getattr(config, "azure_sas_token", None) or ""]
    parts: list[str] = []
    for item in str(getattr(config, "azure_connection_string", None) or "").split(";"):
        name, _, value = item.partition("=")
        if name.strip().lower() in ("accountkey", "sharedaccesssignature") and value:
            parts.append(value.strip())
            tokens.append(value.strip())
    for token in tokens:
        for item in token.lstrip("?").split("&"):
            name, _, value = item.partition("=")
            if name == "sig" and value:
                plain = unquote(value)
                parts += [value, plain, quote(plain, safe="")]
    return parts


def scrub(text: str, extra: Iterable[str] = ()) -> str:
    """`text` with every registered secret (and `extra`) replaced by ***, folded onto one line."""
    for secret in sorted({*_secrets, *extra}, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, "***")
    return " ".join(text.split())


class _RedactSecrets(logging.Filter):
    """Rewrites a log record whose text contains a registered secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:
            return True
        if any(s in message for s in _secrets):
            record.msg = scrub(message)
            record.args = None
        return True


_FILTER = _RedactSecrets()


def protect(config: "Config") -> None:
    """Register the config's secrets and attach the redacting filter to every third-party logger.

    Called when a backend builds its client (after the SDK is imported, so its loggers exist).
    """
    with _lock:
        _secrets.update(secret_values(config))
        names = [n for n in list(logging.root.manager.loggerDict)
                 if n.split(".", 1)[0] in THIRD_PARTY_LOGGERS]
        for name in {*THIRD_PARTY_LOGGERS, *names}:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)


def hide(*values: str) -> None:
    """Register secrets that come from elsewhere than a Config (a proxy's password), to be scrubbed too."""
    with _lock:
        _secrets.update(v for v in values if len(v) >= _MIN_SECRET)


def request_timeouts(budget: float) -> tuple[float, float]:
    """(connect, read) timeouts of one HTTP request, in seconds, for a give-up budget of `budget` s.

    A connection that cannot be made in a third of the budget leaves room for retries; a read that
    stalls for the whole budget has used it up.  Capped at botocore's defaults (10 s, 60 s)."""
    return min(10.0, max(0.5, budget / 3)), min(60.0, max(1.0, budget))


def show_endpoint(url: str | None) -> str:
    """An endpoint URL safe to print: any user:password@ part removed."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(invalid endpoint_url)"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def one_line(text: str, limit: int = 200) -> str:
    """A server's text, scrubbed, on one line, cut at `limit` characters."""
    text = scrub(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class WarnOnce:
    """Log a warning the first time each kind of degradation happens on a remote, not on every call."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, what: str, message: str) -> None:
        with self._lock:
            if what in self._seen:
                return
            self._seen.add(what)
        logging.getLogger("etcetera").warning(message)
