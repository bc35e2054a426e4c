"""`https://host/path` (and `http://`) remote: a read-only mirror of a remote served as static files
by any web server or CDN (nginx, a bucket's website endpoint, a university server).

Needs no cloud SDK: the standard library's `http.client`, with a pool of kept-alive connections
(as many as `config.workers`, since parallel transfers read from many threads).  Requests are
anonymous.  A static server cannot list, so `list` is refused (`listable = False`) and the remote
layer reads the index that every push writes instead (docs/format.md, "Index"); writes are
refused (`read_only = True`) with a one-line error saying to push to the writable remote.

Reads are ranged GETs (`Range: bytes=a-b`).  A server that ignores `Range` and answers 200 with
the whole object still works (slower: the wanted slice is cut out, and this is logged once).
Every byte is verified by the caller (content hashes, root and shard checks), so a hostile or
broken response can at worst be refused: a body shorter than promised is a `CutOffError`, a range
the server did not ask for, a redirect to another host, an encoded body or an HTTP error status a
one-line `RemoteError`.  Refused connections, resets, timeouts, 5xx and 429 are retried with
jittered backoff for `config.give_up` seconds, then a `TransientError`.
"""

from __future__ import annotations

import http.client
import random
import re
import ssl
import time
from typing import TYPE_CHECKING, Iterator
from urllib.parse import quote, urljoin, urlsplit

from ..errors import ConfigError, CutOffError, NotFoundError, RemoteError, TransientError
from ..version import __version__
from .base import ObjectInfo, Source, Storage
from .cloud import WarnOnce, request_timeouts, show_endpoint
from .httppool import BLOCK, Pool, ProxyError

if TYPE_CHECKING:
    from ..config import Config

MAX_REDIRECTS = 5
_RETRY_STATUS = {429, 500, 502, 503, 504}
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
class HTTPStorage(Storage):
    """A read-only remote served over HTTP(S) as static files."""

    scheme = "https"
    listable = False
    read_only = True

    def __init__(self, url: str, config: "Config") -> None:
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise ConfigError("invalid remote url (bad host or port): use https://host/path") from None
        if parts.username is not None or parts.password is not None:
            raise ConfigError(f"remote {show_endpoint(url)}: credentials in the url are not supported "
                              f"(HTTPS remotes are read anonymously): remove the user:password@ part")
        if not parts.hostname or parts.query or parts.fragment:
            raise ConfigError(f"invalid remote url {show_endpoint(url)!r}: use https://host/path "
                              f"(no ?query or #fragment)")
        super().__init__(url.strip(), config)
        self.scheme = parts.scheme.lower()
        self.origin = (self.scheme, parts.hostname.lower(), port or (443 if self.scheme == "https" else 80))
        self.base = parts.path.rstrip("/")
        self._pool = Pool(self.scheme, parts.hostname, port, config.worker_count, request_timeouts(config.give_up))
        self._warn_once = WarnOnce()

    # ------------------------------------------------------------ requests

    def _path(self, key: str) -> str:
        return f"{self.base}/{quote(key, safe='/')}"

    def _request(self, method: str, key: str, headers: dict[str, str], action: str
                 ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
        """Send one request, following redirects on the same origin and retrying transient failures
        within the give-up budget; the response's status is anything but a redirect or a retryable one."""
        headers = {"User-Agent": f"etcetera/{__version__}", **headers}
        budget = self.config.give_up
        started = time.monotonic()
        path, attempt, redirects = self._path(key), 0, 0
        while True:
            try:
                resp, conn = self._pool.exchange(method, path, headers)
            except ProxyError as exc:
                raise RemoteError(f"cannot {action} {key} on {self.url}: {exc}") from None
            except ssl.SSLCertVerificationError as exc:
                raise RemoteError(f"cannot {action} {key} on {self.url}: the server's TLS certificate is not "
                                  f"trusted ({(exc.verify_message or 'verify failed')[:80]}): check the url, or "
                                  f"the certificate (SSL_CERT_FILE names extra trusted ones)") from None
            except (OSError, http.client.HTTPException) as exc:
                failure = f"cannot reach {self._host()}{self._pool.via} ({type(exc).__name__})"
            else:
                status = resp.status
                if status in (301, 302, 303, 307, 308):
                    location = resp.getheader("Location") or ""
                    self._pool.finish(resp, conn)
                    path = self._follow(path, location, key, action)
                    redirects += 1
                    if redirects > MAX_REDIRECTS:
                        raise RemoteError(f"cannot {action} {key} on {self.url}: more than {MAX_REDIRECTS} "
                                          f"redirects: check the web server's configuration")
                    continue
                if status not in _RETRY_STATUS:
                    return resp, conn
                self._pool.finish(resp, conn)
                failure = f"{self._host()} kept failing ({status})"
            attempt += 1
            delay = random.uniform(0, min(2.0, 0.1 * 2**attempt))
            if time.monotonic() - started + delay + self._pool.connect_timeout > budget:
                raise TransientError(f"cannot {action} {key} on {self.url}: {failure} for {budget:g} s: "
                                     f"check the url and the network, or try again later (or raise give_up_seconds)")
            time.sleep(delay)

    def _follow(self, path: str, location: str, key: str, action: str) -> str:
        """The path a same-origin redirect points at; a redirect elsewhere is refused."""
        scheme, host, port = self.origin
        target = urlsplit(urljoin(f"{scheme}://{host}:{port}{path}", location))
        try:
            target_port = target.port or (443 if target.scheme == "https" else 80)
        except ValueError:
            target_port = -1
        if (target.scheme.lower(), (target.hostname or "").lower(), target_port) != self.origin:
            shown = f"{target.scheme}://{target.hostname or '?'}"
            raise RemoteError(f"cannot {action} {key} on {self.url}: the server redirects to another host "
                              f"({shown}), which etcetera does not follow: set url to where the files are served")
        return target.path + (f"?{target.query}" if target.query else "")

    def _host(self) -> str:
        scheme, host, port = self.origin
        return f"{scheme}://{host}:{port}"

    def _refuse(self, resp: http.client.HTTPResponse, conn: http.client.HTTPConnection, key: str,
                action: str) -> RemoteError:
        """The error for a status that is not a success (after redirects and retries)."""
        status = resp.status
        self._pool.finish(resp, conn)
        if status in (404, 410):
            return NotFoundError(f"{key} not found on {self.url}")
        if status in (401, 403):
            return RemoteError(f"cannot {action} {key} on {self.url}: access denied ({status}): HTTPS remotes "
                               f"are read anonymously, so the web server must serve the folder to everyone")
        return RemoteError(f"cannot {action} {key} on {self.url}: the server answered {status} "
                           f"{(resp.reason or '').strip()[:60]}".rstrip())

    def _check_encoding(self, resp: http.client.HTTPResponse, conn: http.client.HTTPConnection, key: str) -> None:
        encoding = (resp.getheader("Content-Encoding") or "identity").strip().lower()
        if encoding != "identity":
            conn.close()
            raise RemoteError(f"cannot read {key} on {self.url}: the server sent it encoded ({encoding[:20]}): "
                              f"serve the files as they are (no on-the-fly compression)")

    # ------------------------------------------------------------ Storage: reads

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        if length is not None and length <= 0:
            return
        ranged = bool(start) or length is not None
        headers = {"Range": f"bytes={start}-{'' if length is None else start + length - 1}"} if ranged else {}
        resp, conn = self._request("GET", key, headers, "read")
        if resp.status == 416 and ranged:  # the range starts past the end: no bytes (the caller checks sizes)
            self._pool.finish(resp, conn)
            return
        if resp.status not in (200, 206):
            raise self._refuse(resp, conn, key, "read")
        self._check_encoding(resp, conn, key)
        skip, want = 0, length
        if resp.status == 206:
            found = _CONTENT_RANGE.fullmatch((resp.getheader("Content-Range") or "").strip())
            first, last = (int(found.group(1)), int(found.group(2))) if found else (-1, -1)
            if not ranged or first != start or last < first or (length is not None and last - first + 1 > length):
                conn.close()
                raise RemoteError(f"cannot read {key} on {self.url}: the server answered another byte range than "
                                  f"asked for: check the web server or CDN")
            want = last - first + 1
            if resp.length is not None and resp.length != want:
                conn.close()
                raise RemoteError(f"cannot read {key} on {self.url}: the server's Content-Length "
                                  f"({resp.length}) does not match its Content-Range: check the web server or CDN")
        elif ranged:  # 200: the server sent the whole object; cut the range out of it
            self._warn_once("range", f"{self.url} ignores Range requests: whole objects are downloaded "
                                     f"to read parts of them (slower); enable byte ranges on the server")
            skip = start
            if resp.length is not None:
                left = max(0, resp.length - start)
                want = left if length is None else min(length, left)
        else:
            want = resp.length
        yield from self._body(resp, conn, key, skip, want)

    def _body(self, resp: http.client.HTTPResponse, conn: http.client.HTTPConnection, key: str, skip: int,
              want: int | None) -> Iterator[bytes]:
        """The body's bytes after the first `skip`, `want` of them; a short or broken body is a CutOffError."""
        def cut_off(why: str) -> CutOffError:
            what = "check the web server or CDN" if "short response" in why else "check the network"
            return CutOffError(f"cannot read {key} on {self.url}: from {self._host()}, {why}: {what}")

        return self._pool.body(resp, conn, skip, want, cut_off)

    def exists(self, key: str) -> bool:
        resp, conn = self._request("HEAD", key, {}, "check")
        if resp.status in (404, 410):
            self._pool.finish(resp, conn)
            return False
        if resp.status != 200:
            raise self._refuse(resp, conn, key, "check")
        self._pool.finish(resp, conn)
        return True

    def size(self, key: str) -> int | None:
        """The object's size from a HEAD request (None: absent or not told)."""
        resp, conn = self._request("HEAD", key, {}, "check")
        if resp.status in (404, 410):
            self._pool.finish(resp, conn)
            return None
        if resp.status != 200:
            raise self._refuse(resp, conn, key, "check")
        length = resp.getheader("Content-Length")
        self._pool.finish(resp, conn)
        return int(length) if length and length.isdigit() else None

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        raise RemoteError(f"{self.url} is served over {self.scheme.upper()}, which cannot list objects: "
                          f"run this on the writable remote it mirrors")

    def list_top_level(self) -> Iterator[ObjectInfo]:
        """Nothing: a static server cannot list (0.0.x archives are still pulled by name)."""
        return iter(())

    # ------------------------------------------------------------ Storage: writes (refused)

    def put(self, key: str, source: Source) -> None:
        raise self.refuse_write(f"write {key}")

    def put_if_absent(self, key: str, data: bytes) -> bool:
        raise self.refuse_write(f"write {key}")

    def touch(self, key: str) -> bool:
        raise self.refuse_write(f"write {key}")

    def delete(self, key: str) -> None:
        raise self.refuse_write(f"delete {key}")

    def close(self) -> None:
        self._pool.close()


__all__ = ["HTTPStorage"]
