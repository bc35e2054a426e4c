"""A moto S3 server in its own process on loopback (never sharing the measured client's GIL)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import Iterator
from contextlib import contextmanager

from etcetera.testing import TEST_KEY_ID, TEST_SECRET, free_port, make_bucket

REGION = "us-east-1"


@contextmanager
def moto_process() -> Iterator[str]:
    """Start `python -m moto.server` on a free 127.0.0.1 port; yield its endpoint URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the moto server did not start (is moto[server] installed?)")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def aws_env(base_dir: str) -> dict[str, str]:
    """Environment for awscli/boto3 children: test credentials, no user config files read."""
    empty = os.path.join(base_dir, "aws-empty-config")
    open(empty, "a").close()
    env = dict(os.environ)
    env.update(AWS_ACCESS_KEY_ID=TEST_KEY_ID, AWS_SECRET_ACCESS_KEY=TEST_SECRET, AWS_DEFAULT_REGION=REGION,
               AWS_CONFIG_FILE=empty, AWS_SHARED_CREDENTIALS_FILE=empty, AWS_EC2_METADATA_DISABLED="true",
               AWS_PAGER="")
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    return env


__all__ = ["moto_process", "aws_env", "make_bucket", "REGION"]
