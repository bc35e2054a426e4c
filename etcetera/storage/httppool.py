"""Kept-alive HTTP(S) connections for the backends that speak HTTP themselves (S3, HTTPS mirrors).

The standard library's `http.client`, pooled per origin and shared by every transfer thread: no
SDK to import, so a command's start-up is the interpreter's, and a connection is reused for the
next request once its response was read to the end.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from typing import Callable, Iterator, Mapping

from .base import Source

BLOCK = 1 << 20  # bytes read from (and sent to) a socket at a time

# A reused kept-alive connection that the server closed meanwhile fails with one of these on the
# next request: that is not the server failing, so the request goes again on a new connection.
STALE = (http.client.RemoteDisconnected, http.client.BadStatusLine, ConnectionResetError, BrokenPipeError)


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

    def __init__(self, scheme: str, host: str, port: int | None, size: int, timeouts: tuple[float, float]) -> None:
        self.scheme, self.host, self.port, self.size = scheme, host, port, size
        self.connect_timeout, self.read_timeout = timeouts
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._context = ssl.create_default_context() if scheme == "https" else None

    def take(self) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection (reused: True) or a new one."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        if self._context is not None:
            conn: http.client.HTTPConnection = _HTTPSConnection(self.host, self.port, context=self._context,
                                                                blocksize=BLOCK)
        else:
            conn = _HTTPConnection(self.host, self.port, blocksize=BLOCK)
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
        with `connected` set on it: whether the connection to the server had been made."""
        while True:
            conn, reused = self.take()
            try:
                if isinstance(body, Source):
                    with body.reader() as stream:
                        conn.request(method, target, body=stream, headers=headers)
                else:
                    conn.request(method, target, body=body, headers=headers)
                return conn.getresponse(), conn
            except STALE if reused else ():  # type: ignore[misc]
                conn.close()
            except (OSError, http.client.HTTPException) as exc:
                exc.connected = conn.sock is not None  # type: ignore[union-attr]
                conn.close()
                raise

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


__all__ = ["BLOCK", "STALE", "Pool"]
