"""Real servers on loopback for tests: a moto S3 server (and, when installed, a GCS emulator).

Used by etcetera's own tests and by the orchestrator plugins' tests; needs the `test` extra.
"""

from __future__ import annotations

import contextlib
import socket
import uuid
from typing import Iterator

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
