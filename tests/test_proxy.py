"""Corporate networks: HTTP(S)_PROXY / NO_PROXY and AWS_CA_BUNDLE, for S3 and HTTPS remotes alike
(both speak through `storage/httppool.py`).  Everything is real and on 127.0.0.1: a small forward
proxy (CONNECT tunnels and absolute-URI requests) that counts what it carries and wants a password,
the moto S3 server behind it, and a TLS relay with a self-signed certificate in front of moto."""

from __future__ import annotations

import base64
import contextlib
import http.client
import logging
import socket
import socketserver
import ssl
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import quote, urlsplit

import pytest

import etcetera as etc
from etcetera.cli.main import main as etc_main
from etcetera.storage import open_storage

import web

USER = "etc-user"
PASSWORD = f"pr0xy:P@ss-{uuid.uuid4().hex[:10]}"  # ":" and "@" travel percent-encoded in the URL
TOKEN = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "transfer-encoding", "te",
        "trailer", "upgrade", "server", "date"}


class ForwardProxy:
    """A forward proxy on 127.0.0.1: CONNECT tunnels and absolute-URI requests, each answered 407
    without the right `Proxy-Authorization`.  Counts what it carried."""

    def __init__(self) -> None:
        self.forwarded = 0  # absolute-URI requests carried
        self.tunnels = 0  # CONNECTs accepted
        self.refused = 0  # 407 answers
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _allowed(self) -> bool:
                if self.headers.get("Proxy-Authorization") == f"Basic {TOKEN}":
                    return True
                proxy.refused += 1
                self.send_response(407)
                self.send_header("Proxy-Authenticate", 'Basic realm="test"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return False

            def do_CONNECT(self) -> None:
                if not self._allowed():
                    return
                host, _, port = self.path.rpartition(":")
                upstream = socket.create_connection((host, int(port)))
                proxy.tunnels += 1
                self.send_response(200, "Connection established")
                self.end_headers()
                self.close_connection = True
                pipe(upstream, self.connection)

            def _forward(self) -> None:
                if not self._allowed():
                    return
                url = urlsplit(self.path)
                assert url.scheme == "http", self.path  # an origin-form request is not for a proxy
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
                conn.request(self.command, url.path + (f"?{url.query}" if url.query else ""), body, headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                proxy.forwarded += 1
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in _HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def url(self, password: str = PASSWORD) -> str:
        return f"http://{USER}:{quote(password, safe='')}@127.0.0.1:{self.port}"


def pipe(a: socket.socket, b: socket.socket) -> None:
    """Relay bytes both ways between two sockets until both sides are done."""
    def one_way(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    other = threading.Thread(target=one_way, args=(b, a), daemon=True)
    other.start()
    one_way(a, b)
    other.join(30)
    a.close()


@contextlib.contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ForwardProxy]:
    """A fresh proxy, and an environment with no proxy variable of the machine's (lowercase ones win)."""
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    p = ForwardProxy()
    with serving(p.server):
        yield p


@contextlib.contextmanager
def tls_relay(upstream: str, cert: Path, key: Path) -> Iterator[str]:
    """https://127.0.0.1:PORT: TLS with `cert`, relayed as plain bytes to the http `upstream` (moto)."""
    up = urlsplit(upstream)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    class Relay(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            try:
                tls = context.wrap_socket(self.request, server_side=True)
            except (OSError, ssl.SSLError):  # a client that does not trust the certificate hangs up
                return
            pipe(tls, socket.create_connection((up.hostname, up.port)))

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Relay)
    server.daemon_threads = True
    with serving(server):
        yield f"https://127.0.0.1:{server.server_address[1]}"


def no_secret(text: str) -> None:
    assert PASSWORD not in text and quote(PASSWORD, safe="") not in text and TOKEN not in text


def records(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records) + caplog.text


# ------------------------------------------------------------------ S3 over http: absolute-URI requests


def test_s3_goes_through_http_proxy_with_its_password(s3_remote, proxy, make_dataset, monkeypatch, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    cfg = s3_remote.config()
    etc.register(make_dataset("via", {"p/a.txt": b"through the proxy\n" * 50, "p/b.txt": b"b\n"}), config=cfg)
    assert etc.push("via", config=cfg) == "via@1"
    pushed = proxy.forwarded
    assert pushed >= 3 and proxy.tunnels == 0 and proxy.refused == 0  # moto is http: forwarded, not tunnelled
    got = etc.pull("via", config=s3_remote.config("reader"))
    assert (got.path / "data" / "p" / "a.txt").read_bytes() == b"through the proxy\n" * 50
    assert proxy.forwarded > pushed
    toml = s3_remote.toml("cli")
    assert etc_main(["-v", "--config", str(toml), "list", "-r"]) == 0
    out, err = capsys.readouterr()
    assert "via" in out
    assert "s3 GET" in records(caplog)  # the requests' debug lines were captured
    no_secret(records(caplog) + out + err)


def test_a_wrong_proxy_password_is_one_line_without_it(s3_remote, proxy, monkeypatch, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    wrong = f"wrong-{PASSWORD}"
    monkeypatch.setenv("HTTP_PROXY", proxy.url(wrong))
    toml = s3_remote.toml("cli")
    assert etc_main(["-v", "--config", str(toml), "list", "-r"]) == 1
    out, err = capsys.readouterr()
    errors = [line for line in err.splitlines() if line.startswith("etc: error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert s3_remote.url in errors[0] and f"127.0.0.1:{proxy.port}" in errors[0]
    assert "407" in errors[0] and "check the user:password in HTTP_PROXY" in errors[0], errors[0]
    assert proxy.refused == 1  # not retried: a password does not get better
    text = records(caplog) + out + err
    no_secret(text)
    assert wrong not in text and base64.b64encode(f"{USER}:{wrong}".encode()).decode() not in text


@pytest.mark.parametrize("no_proxy", ["localhost,127.0.0.1", "example.com, 10.0.0.0/8 ,127.0.0.0/8"],
                         ids=["hosts", "cidr"])
def test_no_proxy_bypasses_the_proxy(s3_remote, proxy, make_dataset, monkeypatch, no_proxy):
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    monkeypatch.setenv("NO_PROXY", no_proxy)
    cfg = s3_remote.config()
    etc.register(make_dataset("direct"), config=cfg)
    assert etc.push("direct", config=cfg) == "direct@1"
    assert etc.versions("direct", config=s3_remote.config("reader")) == [1]
    assert proxy.forwarded == proxy.tunnels == proxy.refused == 0


def test_a_cidr_network_that_does_not_hold_the_host_keeps_the_proxy(s3_remote, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    monkeypatch.setenv("NO_PROXY", "10.0.0.0/8,::1/128,not-a-network/99")
    assert etc.ls(remote=True, config=s3_remote.config()) == []
    assert proxy.forwarded > 0


@pytest.mark.parametrize("host, no_proxy, bypassed", [
    ("10.1.2.3", "10.0.0.0/8", True),
    ("10.1.2.3", "10.1.2.3/32", True),
    ("10.1.2.3", "10.1.2.0/255.255.255.0", True),
    ("10.1.2.3", "10.1.2.3/24", True),  # host bits set: taken as its network, as requests does
    ("11.0.0.1", "10.0.0.0/8", False),
    ("::1", "::1/128", True),
    ("[fd00::5]", "fd00::/8", True),
    ("fd00::5", "10.0.0.0/8", False),
    ("10.1.2.3", "fd00::/8", False),
    ("minio.internal", "10.0.0.0/8", False),
    ("10.1.2.3", "10.0.0.0/33,garbage/x", False),
])
def test_find_proxy_reads_cidr_networks_in_no_proxy(host, no_proxy, bypassed, monkeypatch):
    from etcetera.storage.httppool import find_proxy

    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    found = find_proxy("http", host, 9000)
    assert (found is None) == bypassed, found


def test_an_unusable_proxy_url_is_a_one_line_config_error(s3_remote, proxy, monkeypatch):
    monkeypatch.setenv("http_proxy", f"socks5://{USER}:{PASSWORD}@127.0.0.1:1080")
    with pytest.raises(etc.ConfigError) as info:
        open_storage(s3_remote.config())
    msg = str(info.value)
    assert "\n" not in msg and "HTTP_PROXY names socks5://127.0.0.1:1080" in msg and "NO_PROXY" in msg
    no_secret(msg)


# ------------------------------------------------------------------ S3 over TLS: CONNECT tunnels, AWS_CA_BUNDLE


def test_s3_over_tls_trusts_aws_ca_bundle_and_tunnels_through_https_proxy(s3_remote, proxy, make_dataset,
                                                                          monkeypatch, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    cert, key = web.self_signed(tmp_path / "tls")
    with tls_relay(s3_remote.options["endpoint_url"], cert, key) as endpoint:
        cfg = s3_remote.config(endpoint_url=endpoint, give_up_seconds=3)
        etc.register(make_dataset("tls", {"p/a.txt": b"over tls\n" * 40}), config=cfg)
        with pytest.raises(etc.RemoteError) as info:  # self-signed: not trusted by the system
            etc.push("tls", config=cfg)
        msg = str(info.value)
        assert "\n" not in msg and "TLS failed with https://127.0.0.1" in msg and "AWS_CA_BUNDLE" in msg, msg

        monkeypatch.setenv("AWS_CA_BUNDLE", str(tmp_path / "missing.pem"))
        with pytest.raises(etc.ConfigError, match="cannot load the CA bundle .*missing.pem .*check AWS_CA_BUNDLE"):
            open_storage(cfg)

        monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))
        monkeypatch.setenv("HTTPS_PROXY", proxy.url())
        assert etc.push("tls", config=cfg) == "tls@1"
        got = etc.pull("tls", config=s3_remote.config("reader", endpoint_url=endpoint))
        assert (got.path / "data" / "p" / "a.txt").read_bytes() == b"over tls\n" * 40
        assert proxy.tunnels >= 1 and proxy.forwarded == 0  # https: CONNECT, TLS end to end

        tunnels = proxy.tunnels
        monkeypatch.setenv("HTTPS_PROXY", proxy.url("not-the-password"))
        with pytest.raises(etc.RemoteError) as info:
            etc.versions("tls", config=s3_remote.config("other", endpoint_url=endpoint))
        msg = str(info.value)
        assert "\n" not in msg and "refused" in msg and "407" in msg and "HTTPS_PROXY" in msg, msg
        assert proxy.tunnels == tunnels and "not-the-password" not in msg
    no_secret(records(caplog))


# ------------------------------------------------------------------ HTTPS mirrors share the pool


def test_an_http_mirror_is_read_through_the_proxy(proxy, make_dataset, monkeypatch, tmp_path):
    writer = etc.Config(f"file://{tmp_path / 'site'}", home=str(tmp_path / "w"))
    etc.register(make_dataset("mirrored", {"p/a.txt": b"mirror\n" * 30}), config=writer)
    etc.push("mirrored", config=writer)
    with web.python_server(tmp_path / "site") as base:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        reader = etc.Config(base, home=str(tmp_path / "r"))
        got = etc.pull("mirrored", config=reader)
        assert (got.path / "data" / "p" / "a.txt").read_bytes() == b"mirror\n" * 30
        assert proxy.forwarded >= 3 and proxy.refused == 0
        monkeypatch.setenv("HTTP_PROXY", proxy.url("nope"))
        with pytest.raises(etc.RemoteError) as info:
            etc.pull("mirrored", config=etc.Config(base, home=str(tmp_path / "r2")))
        msg = str(info.value)
        assert "\n" not in msg and base in msg and "407" in msg and "HTTP_PROXY" in msg, msg
