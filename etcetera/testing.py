"""Real servers on loopback for tests: a moto S3 server (and, when installed, a GCS emulator).

Used by etcetera's own tests and by the orchestrator plugins' tests; needs the `test` extra.
"""

from __future__ import annotations

import contextlib
import os
import socket
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
    return _server_process("moto server", ["moto.server", "-H", "127.0.0.1", "-p"], env, timeout)


@contextlib.contextmanager
def _server_process(what: str, module_args: list[str], env: dict[str, str] | None,
                    timeout: float) -> Iterator[str]:
    """`python -m <module_args> <port>` on a free 127.0.0.1 port, until it accepts connections."""
    import subprocess
    import sys
    import time

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", *module_args, str(port)], env={**os.environ, **(env or {})},
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
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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


def gcs_emulator() -> ContextManager[str]:
    """Run the `gcp-storage-emulator` as a subprocess on a free 127.0.0.1 port; yield its URL.

    Point clients at it with STORAGE_EMULATOR_HOST=<url>.  A subprocess, not a thread: the
    emulator serves one request at a time and must not compete with the tests for the GIL.
    """
    return _server_process("gcp-storage-emulator", ["gcp_storage_emulator", "start", "--host", "127.0.0.1",
                                                    "--in-memory", "--quiet", "--port"], None, 30)


def make_gcs_bucket(emulator_url: str, name: str | None = None, project: str = "test") -> str:
    """Create a fresh bucket on a GCS emulator; return its name."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    name = name or f"etc-test-{uuid.uuid4().hex[:12]}"
    client = storage.Client(project=project, credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": emulator_url})
    client.create_bucket(name)
    return name
