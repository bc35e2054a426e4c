"""Kept-alive HTTP(S) connections for the backends that speak HTTP themselves (S3, HTTPS mirrors).

The standard library's `http.client`, pooled per origin and shared by every transfer thread: no
SDK to import, so a command's start-up is the interpreter's, and a connection is reused for the
next request once its response was read to the end.

Corporate networks: the `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` variables (either case) are honoured as
botocore and requests do, NO_PROXY's CIDR networks included (requests honours them; the standard library
does not).  An https origin is reached through an `http://` proxy by a CONNECT tunnel (TLS stays end to
end); an http one by sending absolute-URI requests to the proxy, since proxies commonly refuse CONNECT
to ports other than 443.  A password in the proxy's URL goes only into `Proxy-Authorization` and is
scrubbed from logs; `cafile` (S3's `AWS_CA_BUNDLE`) replaces the system's trusted certificates, which
otherwise honour `SSL_CERT_FILE`.
"""

from __future__ import annotations

import http.client
import os
import ssl
import threading
from typing import Callable, Iterator, Mapping, NamedTuple
from urllib.parse import unquote, urlsplit

from ..errors import ConfigError
from .base import Source
from .cloud import hide

BLOCK = 1 << 20  # bytes read from (and sent to) a socket at a time

# A reused kept-alive connection that the server closed meanwhile fails with one of these on the
# next request: that is not the server failing, so the request goes again on a new connection.
STALE = (http.client.RemoteDisconnected, http.client.BadStatusLine, ConnectionResetError, BrokenPipeError)


class ProxyError(OSError):
    """The proxy refused to carry requests to the origin (it answered CONNECT with a 4xx, or a 407):
    a one-line reason, worth no retry."""


class Proxy(NamedTuple):
    host: str
    port: int
    shown: str  # its URL without the user:password part
    headers: dict[str, str]  # Proxy-Authorization, if the URL had a user


def find_proxy(scheme: str, host: str, port: int | None) -> Proxy | None:
    """The proxy that the `*_proxy` variables name for this origin, or None for a direct connection."""
    if not any(name[-6:].lower() == "_proxy" and name.lower() != "no_proxy" for name in os.environ):
        return None
    import urllib.request  # only now: its import would cost every command's start-up otherwise

    proxies = urllib.request.getproxies()
    url = proxies.get(scheme)
    if not url or urllib.request.proxy_bypass(host if port is None else f"{host}:{port}") \
            or _in_no_proxy_network(host, proxies.get("no", "")):
        return None
    parts = urlsplit(url if "://" in url else f"http://{url}")
    try:
        proxy_port = parts.port or 80
    except ValueError:
        proxy_port = -1
    shown = f"{parts.scheme}://{parts.hostname or '?'}:{proxy_port}"
    if parts.scheme != "http" or not parts.hostname or proxy_port < 0:
        origin = host if port is None else f"{host}:{port}"
        raise ConfigError(f"cannot reach {scheme}://{origin}: {scheme.upper()}_PROXY names {shown}, which etcetera "
                          f"cannot use: give an http://[user:password@]host:port proxy, or list the host in NO_PROXY")
    headers: dict[str, str] = {}
    if parts.username is not None:
        import base64

        password = parts.password or ""
        token = base64.b64encode(f"{unquote(parts.username)}:{unquote(password)}".encode()).decode()
        headers["Proxy-Authorization"] = f"Basic {token}"
        hide(password, unquote(password), token)
    return Proxy(parts.hostname, proxy_port, shown, headers)


def _in_no_proxy_network(host: str, no_proxy: str) -> bool:
    """Whether `host`, an IP address, lies in a network that NO_PROXY lists in CIDR form
    (`10.0.0.0/8`, `fd00::/8`), as requests honours and the standard library does not."""
    import ipaddress

    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    for entry in no_proxy.split(","):
        entry = entry.strip()
        if "/" in entry:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


class _Timeouts:
    """Connect with the short timeout, then read with the long one."""

    connect_timeout: float
    read_timeout: float

    def connect(self) -> None:
        self.timeout = self.connect_timeout  # type: ignore[attr-defined]
        super().connect()  # type: ignore[misc]
        self.sock.settimeout(self.read_timeout)  # type: ignore[attr-defined]


class _HTTPConnection(_Timeouts, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_Timeouts, http.client.HTTPSConnection):
    pass


class Pool:
    """Idle kept-alive connections to one origin, shared by every thread."""

    def __init__(self, scheme: str, host: str, port: int | None, size: int, timeouts: tuple[float, float],
                 cafile: str | None = None) -> None:
        """`cafile`: the only certificates to trust (else the system's); an unreadable one raises OSError."""
        self.scheme, self.host, self.port, self.size = scheme, host, port, size
        self.connect_timeout, self.read_timeout = timeouts
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._context = ssl.create_default_context(cafile=cafile) if scheme == "https" else None
        self._proxy = find_proxy(scheme, host, port)
        self.via = f" through the proxy {self._proxy.shown}" if self._proxy else ""  # for messages
        self._prefix = ""  # an http origin through a proxy: requests name it in absolute form
        if self._proxy and self._context is None:
            self._prefix = f"http://{f'[{host}]' if ':' in host else host}{'' if port in (None, 80) else f':{port}'}"

    def take(self) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection (reused: True) or a new one."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        host, port = (self._proxy.host, self._proxy.port) if self._proxy else (self.host, self.port)
        if self._context is not None:
            conn: http.client.HTTPConnection = _HTTPSConnection(host, port, context=self._context, blocksize=BLOCK)
            if self._proxy:
                conn.set_tunnel(self.host, self.port or 443, headers=self._proxy.headers)
        else:
            conn = _HTTPConnection(host, port, blocksize=BLOCK)
        conn.connect_timeout, conn.read_timeout = self.connect_timeout, self.read_timeout  # type: ignore[attr-defined]
        return conn, False

    def give(self, conn: http.client.HTTPConnection) -> None:
        """Return a connection whose response was read to its end."""
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(conn)
                return
        conn.close()

    def exchange(self, method: str, target: str, headers: Mapping[str, str], body: bytes | Source | None = None
                 ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
        """Send one request on a pooled connection and read the response's head.  A reused connection
        the server closed meanwhile (STALE) is closed and the request sent again on another; a `Source`
        body is read anew each time.  Any other failure closes the connection and is raised as it is,
        with `connected` set on it: whether the connection to the server had been made.  A proxy that
        refuses the request raises `ProxyError`."""
        if self._proxy and self._prefix:
            target, headers = self._prefix + target, {**headers, **self._proxy.headers}
        while True:
            conn, reused = self.take()
            try:
                if isinstance(body, Source):
                    with body.reader() as stream:
                        conn.request(method, target, body=stream, headers=headers)
                else:
                    conn.request(method, target, body=body, headers=headers)
                resp = conn.getresponse()
            except STALE if reused else ():  # type: ignore[misc]
                conn.close()
                continue
            except (OSError, http.client.HTTPException) as exc:
                exc.connected = conn.sock is not None  # type: ignore[union-attr]
                conn.close()
                refused = str(exc).partition("Tunnel connection failed: ")[2]  # http.client's CONNECT failure
                if self._proxy and refused.startswith("4"):
                    raise self._refused(refused) from None
                raise
            if resp.status == 407 and self._proxy:
                self.finish(resp, conn)
                raise self._refused(f"407 {resp.reason}")
            return resp, conn

    def _refused(self, answer: str) -> ProxyError:
        what = (f"check the user:password in {self.scheme.upper()}_PROXY" if answer.startswith("407") else
                f"check that the proxy lets through {self.host}, or list the host in NO_PROXY")
        shown = self._proxy.shown if self._proxy else "?"
        return ProxyError(f"the proxy {shown} refused to carry requests to {self.host} "
                          f"({answer[:60].strip()}): {what}")

    def finish(self, resp: http.client.HTTPResponse, conn: http.client.HTTPConnection, limit: int = 1 << 16) -> bytes:
        """Read a small response (an error, a listing, a redirect) to its end, pool the connection, and
        return what was read (at most `limit` bytes: a longer body closes the connection)."""
        try:
            data = resp.read(limit)
            if resp.isclosed() and not resp.will_close:
                self.give(conn)
                return data
        except (OSError, http.client.HTTPException):
            data = b""
        conn.close()
        return data

    def body(self, resp: http.client.HTTPResponse, conn: http.client.HTTPConnection, skip: int, want: int | None,
             cut_off: Callable[[str], Exception]) -> Iterator[bytes]:
        """The body's bytes after the first `skip`, `want` of them (None: to the end), in blocks of at
        most BLOCK; a body that breaks off or ends before raises `cut_off(why)`.  The connection goes
        back to the pool only after a complete body."""
        done = False
        try:
            got = 0
            while want is None or got < want:
                try:
                    block = resp.read(BLOCK)
                except (OSError, http.client.HTTPException) as exc:
                    raise cut_off(f"the connection dropped mid-transfer ({type(exc).__name__})") from None
                if not block:
                    break
                if skip:
                    cut = min(skip, len(block))
                    block, skip = block[cut:], skip - cut
                if want is not None:
                    block = block[: want - got]
                got += len(block)
                if block:
                    yield block
            if want is not None and got < want:
                raise cut_off(f"the body ended after {got} of {want} bytes (short response)")
            done = resp.isclosed() and not resp.will_close
        finally:
            if done:
                self.give(conn)
            else:
                conn.close()  # unread bytes left, or the server closes it anyway

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


__all__ = ["BLOCK", "STALE", "Pool", "Proxy", "ProxyError", "find_proxy"]
