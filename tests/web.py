"""Web servers on 127.0.0.1 for the HTTPS-remote tests: a real nginx (with Range support) serving a
folder, and small `http.server` servers that ignore Range or answer with hostile responses.

nginx is taken from PATH or /usr/sbin, else from a cache folder where `apt-get download nginx`
and `dpkg-deb -x` unpack Debian's package (no root needed, and unlike `apt-get install` it starts
no system service on port 80).  When that fails, the test fails saying how to install it: nginx
is required, never skipped.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from etcetera.testing import server_cache_dir, stop_process

CACHE = Path(server_cache_dir())  # beside Azurite: $ETC_TEST_CACHE or ~/.cache/etcetera-test
_INSTALL_LOCK = threading.Lock()


def _runs(binary: str) -> bool:
    try:
        return subprocess.run([binary, "-v"], capture_output=True, timeout=30).returncode == 0
    except OSError:
        return False


def _sh(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)


def _unpack(into: Path) -> str:
    """Download Debian's nginx package and unpack it into `into`; '' or the reason it failed."""
    work = Path(tempfile.mkdtemp(prefix="nginx-deb-", dir=CACHE))
    try:
        got = _sh("apt-get", "download", "nginx", cwd=work)
        if got.returncode != 0 and os.geteuid() == 0:  # fresh CI image: no package lists yet
            _sh("apt-get", "update")
            got = _sh("apt-get", "download", "nginx", cwd=work)
        debs = sorted(work.glob("nginx_*.deb"))
        if got.returncode != 0 or not debs:
            return f"apt-get download nginx failed: {(got.stderr or got.stdout).strip()[-300:]}"
        tree = work / "tree"
        got = _sh("dpkg-deb", "-x", str(debs[0]), str(tree))
        if got.returncode != 0:
            return f"dpkg-deb -x failed: {got.stderr.strip()[-300:]}"
        with contextlib.suppress(OSError):
            os.rename(tree, into)  # atomic: a concurrent run may have won, which is as good
        return ""
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def find_nginx() -> str:
    """The path of a working nginx binary, installed into the cache folder if needed."""
    candidates = [shutil.which("nginx"), "/usr/sbin/nginx", str(CACHE / "nginx" / "usr" / "sbin" / "nginx")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and _runs(candidate):
            return candidate
    with _INSTALL_LOCK:
        CACHE.mkdir(parents=True, exist_ok=True)
        binary = CACHE / "nginx" / "usr" / "sbin" / "nginx"
        reason = "" if binary.exists() else _unpack(CACHE / "nginx")
        if not reason and not _runs(str(binary)) and os.geteuid() == 0:
            # The unpacked binary may miss a shared library on a slim image: install the libraries only.
            _sh("apt-get", "install", "-y", "--no-install-recommends", "libpcre2-8-0", "libssl3", "zlib1g", "libcrypt1")
        if not reason and not _runs(str(binary)):
            reason = f"{binary} does not run (missing shared libraries?)"
    if reason:
        pytest.fail(f"the HTTPS-remote tests need nginx and it could not be installed ({reason}): "
                    f"apt-get install nginx-light, or put nginx on PATH", pytrace=False)
    return str(binary)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen | None, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
        time.sleep(0.05)
    return False


NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    types {{ }}
    default_type application/octet-stream;
    sendfile on;{certs}
    keepalive_requests 100;
    server {{
        listen 127.0.0.1:{port}{tls};
        root {root};
    }}
}}
"""


@contextlib.contextmanager
def nginx(root: Path, work: Path, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """nginx serving the folder `root` on 127.0.0.1: yields its base url (https:// with `tls`, a
    (certificate, key) pair of PEM files)."""
    binary = find_nginx()
    work.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):  # the free port may be taken before nginx binds it
        port = free_port()
        conf = work / "nginx.conf"
        certs = f"\n    ssl_certificate {tls[0]};\n    ssl_certificate_key {tls[1]};" if tls else ""
        conf.write_text(NGINX_CONF.format(work=work, port=port, root=root, tls=" ssl" if tls else "", certs=certs))
        log = open(work / "stderr.log", "wb")
        proc = subprocess.Popen([binary, "-p", str(work), "-c", str(conf), "-e", str(work / "error.log")],
                                stdout=log, stderr=subprocess.STDOUT)
        if _wait_port(port, proc):
            break
        proc.kill()
        proc.wait()
        log.close()
    else:
        errors = (work / "error.log").read_text(errors="replace")[-500:] if (work / "error.log").exists() else ""
        pytest.fail(f"nginx did not start: {errors}", pytrace=False)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        stop_process(proc, 10)
        log.close()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files in `folder` (cryptography comes with moto)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class Rules:
    """How the hostile server answers: `rule(path)` names a misbehaviour for a request path, or
    returns None to serve the file as `http.server` does (whole, ignoring Range)."""

    def __init__(self) -> None:
        self.rule: Callable[[str], str | None] = lambda path: None
        self.other_host = ""
        self.requests = 0
        self.connections = 0


def _handler(root: Path, rules: Rules) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(_Quiet):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real server
        disable_nagle_algorithm = True  # else each small response waits for a delayed ACK (~40 ms)

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def setup(self) -> None:
            rules.connections += 1
            super().setup()

        def _send(self, status: int, body: bytes, headers: dict[str, str], length: int | None = None) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _file(self) -> bytes | None:
            path = Path(self.translate_path(self.path))
            return path.read_bytes() if path.is_file() else None

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            rules.requests += 1
            mode = rules.rule(self.path)
            if mode is None:
                body = self._file()
                if body is None:
                    return self._send(404, b"not found", {"Content-Type": "text/plain"})
                return self._send(200, body, {"Content-Type": "application/octet-stream"})
            if mode == "redirect":
                return self._send(302, b"", {"Location": f"{rules.other_host}{self.path}"})
            if mode == "503":
                return self._send(503, b"busy", {"Content-Type": "text/plain"})
            if mode == "html":
                return self._send(200, b"<!doctype html><html><body>Oops, not here</body></html>",
                                  {"Content-Type": "text/html"})
            body = self._file()
            if body is None:
                return self._send(404, b"not found", {"Content-Type": "text/plain"})
            if mode == "short":  # promise the whole body, send half, hang up
                self.close_connection = True
                return self._send(200, body[: len(body) // 2], {}, length=len(body))
            if mode == "understated":  # a Content-Length 10 bytes short, then the whole body anyway
                return self._send(200, body, {}, length=max(0, len(body) - 10))
            if mode == "wrong-range":
                return self._send(206, body[:10], {"Content-Range": f"bytes 0-9/{len(body)}"})
            raise AssertionError(mode)

    return Handler


@contextlib.contextmanager
def python_server(root: Path, rules: Rules | None = None) -> Iterator[str]:
    """A threaded `http.server` on 127.0.0.1 serving `root`: ignores Range, and follows `rules`."""
    handler = _handler(root, rules or Rules())
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
