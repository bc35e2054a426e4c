"""A small fault-injecting HTTP proxy on 127.0.0.1, for tests only.

It sits in front of a real server (the moto S3 server) and forwards every request.  For a
seeded fraction of requests it injects a fault instead:

    drop        close the connection before forwarding (nothing reached the server)
    drop-after  forward, then close without answering (the server DID act: a lost reply)
    500, 503    answer with that status and an S3-style error body, without forwarding
    truncate    forward, then send the full headers but only half of the body, and close

Which request gets a fault is decided by hashing (seed, method, key, Range, body, attempt number),
so the same run faults the same requests whatever the thread scheduling, and a request is
faulted at most `max_per_request` times in a row: every request succeeds eventually, and the
total number of faults is bounded by `max_faults`.  `persistent=True` fails everything.

`hold(predicate)` parks the first matching request (not forwarded) until released: tests use
it to kill a client at an exact moment.  The proxy stops by itself after `lifetime` seconds.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

KINDS = ("drop", "drop-after", "500", "503", "truncate")
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}

Predicate = Callable[[str, str], bool]


class FaultProxy:
    """Use as a context manager; `.url` is the endpoint to give the client."""

    def __init__(self, upstream: str, *, rate: float = 0.0, kinds: tuple[str, ...] = KINDS, seed: int = 0,
                 max_per_request: int = 2, max_faults: int = 1000, persistent: bool = False,
                 match: Predicate | None = None, lifetime: float = 300.0) -> None:
        for kind in kinds:
            assert kind in KINDS, kind
        up = urlsplit(upstream)
        self.upstream = (up.hostname, up.port)
        self.rate, self.kinds, self.seed = rate, kinds, seed
        self.max_per_request, self.max_faults, self.persistent = max_per_request, max_faults, persistent
        self.match = match
        self.lifetime = lifetime
        self.faults: Counter[str] = Counter()  # kind -> how many injected
        self.requests = 0
        self.log: list[tuple[str, str, str]] = []  # (method, path, "ok" | fault kind)
        self._attempts: Counter[tuple] = Counter()
        self._streak: Counter[tuple] = Counter()
        self._lock = threading.Lock()
        self._hold: Predicate | None = None
        self.held = threading.Event()  # set when a request is parked
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._timer: threading.Timer | None = None

    # ------------------------------------------------------------ control

    def hold(self, predicate: Predicate) -> None:
        """Park the next request matching predicate(method, path) until release()."""
        self.held.clear()
        self._release.clear()
        self._hold = predicate

    def release(self) -> None:
        self._hold = None
        self._release.set()

    @property
    def total_faults(self) -> int:
        return sum(self.faults.values())

    def __enter__(self) -> "FaultProxy":
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.release()
        if self._timer:
            self._timer.cancel()
        if self._server:
            server, self._server = self._server, None
            server.shutdown()
            server.server_close()

    # ------------------------------------------------------------ decisions

    def decide(self, method: str, path: str, rng: str, body: bytes = b"") -> str | None:
        """The fault to inject for this request, or None to forward it faithfully."""
        with self._lock:
            self.requests += 1
            if self.match is not None and not self.match(method, path):
                return None
            if self.persistent:
                kind = self.kinds[self.requests % len(self.kinds)]
                self.faults[kind] += 1
                return kind
            # Not the bucket (same decisions on any bucket); the body tells apart uploads that share a
            # path (GCS names the object inside a multipart body).
            sig = (method, path.split("/", 2)[-1], rng, hashlib.sha256(body).hexdigest()[:16] if body else "")
            self._attempts[sig] += 1
            if self.total_faults >= self.max_faults or self._streak[sig] >= self.max_per_request:
                self._streak[sig] = 0
                return None
            digest = hashlib.sha256(f"{self.seed}|{sig}|{self._attempts[sig]}".encode()).digest()
            if int.from_bytes(digest[:4], "big") / 2**32 >= self.rate:
                self._streak[sig] = 0
                return None
            kind = self.kinds[digest[4] % len(self.kinds)]
            if kind == "truncate" and method == "HEAD":
                kind = "drop"
            self._streak[sig] += 1
            self.faults[kind] += 1
            return kind


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if len(body) < n:  # the client died mid-request: a real server stores nothing
            raise ConnectionError("request body ended early")
        return body

    def _handle(self) -> None:
        proxy = self.owner
        try:
            body = self._body()
        except (OSError, ValueError):
            return self._kill()
        with proxy._lock:
            hold = proxy._hold
            parked = hold is not None and hold(self.command, self.path)
            if parked:
                proxy._hold = None
        if parked:
            proxy.held.set()
            proxy._release.wait(timeout=proxy.lifetime)
            self._kill()
            return
        ctype = self.headers.get("Content-Type", "")
        same = body
        if "boundary=" in ctype:  # a multipart body's boundary is random per attempt: ignore it
            same = body.replace(ctype.split("boundary=", 1)[1].strip('"').encode(), b"")
        fault = proxy.decide(self.command, self.path, self.headers.get("Range", ""), same)
        with proxy._lock:
            proxy.log.append((self.command, self.path, fault or "ok"))
        if fault == "drop":
            return self._kill()
        if fault in ("500", "503"):
            code = "InternalError" if fault == "500" else "SlowDown"
            payload = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>"
                       f"<Message>injected fault</Message></Error>").encode()
            return self._send(int(fault), "Injected", [("Content-Type", "application/xml")], payload)
        try:
            status, reason, headers, payload = self._forward(body)
        except OSError:
            return self._kill()
        if fault == "drop-after":
            return self._kill()
        if fault == "truncate" and len(payload) > 1:
            return self._send(status, reason, headers, payload, cut=len(payload) // 2)
        self._send(status, reason, headers, payload)

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = _handle

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.owner.upstream, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            if body or self.command in ("PUT", "POST"):
                headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            out = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP and k.lower() != "content-length"]
            return resp.status, resp.reason, out, payload
        finally:
            conn.close()

    def _send(self, status: int, reason: str, headers: list[tuple[str, str]], payload: bytes,
              cut: int | None = None) -> None:
        head = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
        length = len(payload)
        head.append(f"Content-Length: {length}")
        if cut is not None:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if self.command != "HEAD":
            data += payload if cut is None else payload[:cut]
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            pass
        if cut is not None:
            self._kill()

    def _kill(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
